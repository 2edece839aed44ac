//! Sign-in through the organisation's identity provider with OpenID
//! Connect: the authorization code flow with PKCE (S256), a nonce bound to
//! the ID token, and a state bound to the browser by a short-lived cookie.
//! The provider is discovered when the console starts (a console that
//! cannot reach it refuses to start), and again when an ID token is signed
//! by a key the console does not know yet (the provider rolled its keys:
//! no restart needed; at most once a minute). Sign-ins in progress are
//! kept, sealed, in the store consoles share when there is one, so the
//! browser may come back to another replica. The operator's Trama role comes from
//! a claim of the provider's user info, mapped by the configuration; a
//! person whose claims map to no role is refused.
//!
//! The state cookie is `SameSite=Lax`, the one cookie that must come back
//! on the provider's redirect; the session cookie stays `Strict`, so the
//! callback answers with a page that moves on to the console by itself
//! (a navigation the console starts, which carries it).

use std::time::Duration;

use openidconnect::core::{CoreClient, CoreGenderClaim, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
    reqwest,
};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Oidc, RoleMapping};
use crate::shared::{Kind, Shared};

/// How long a sign-in at the provider may take.
const PENDING_FOR: Duration = Duration::from_secs(600);

/// The provider is discovered again at most this often.
const REDISCOVER_EVERY: Duration = Duration::from_secs(60);

/// Why a sign-in through the provider fails.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be discovered or its answer is refused.
    #[error("oidc.issuer `{issuer}`: {problem}")]
    Discovery {
        /// The issuer configured.
        issuer: String,
        /// What went wrong.
        problem: String,
    },
    /// A configuration value is not usable.
    #[error("oidc.{key}: {problem}")]
    Config {
        /// The key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The browser came back without a sign-in this console started, or
    /// too late.
    #[error("the sign-in is not one this console started, or it took too long: start again")]
    UnknownState,
    /// The provider refused or failed the sign-in.
    #[error("the identity provider did not sign you in: {0}")]
    Provider(String),
    /// The provider's identity maps to no Trama role.
    #[error("your identity gives no role in Trama: ask your administrator")]
    NoRole,
    /// The store of sign-ins in progress does not answer.
    #[error("the console cannot keep sign-ins now: {0}")]
    Unavailable(String),
}

/// The claims Trama reads beyond the standard ones (the role claim).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A sign-in in progress: what the callback needs to finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    verifier: String,
    nonce: String,
    /// A search to give back once signed in.
    resume: String,
}

/// Who the provider says signed in, as the console's session needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The operator id stated in calls.
    pub operator: String,
    /// Their name, for the header.
    pub name: String,
    /// The Trama role their claims map to.
    pub role: String,
}

/// The console's relying party: the discovered provider, the HTTP client
/// that talks to it, the sign-ins in progress and the role mapping.
#[derive(Clone)]
pub struct Provider {
    client: Arc<ArcSwap<Client>>,
    http: reqwest::Client,
    pending: moka::sync::Cache<String, Pending>,
    shared: Option<Shared>,
    /// When the provider was last discovered again (not at start).
    rediscovered: Arc<std::sync::Mutex<Option<Instant>>>,
    config: Oidc,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish()
    }
}

impl Provider {
    /// Discovers the provider named in `config`.
    pub async fn discover(config: &Oidc) -> Result<Provider, OidcError> {
        let http = http_client(config)?;
        let client = discovered(config, &http).await?;
        Ok(Provider {
            client: Arc::new(ArcSwap::from_pointee(client)),
            http,
            pending: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(PENDING_FOR)
                .build(),
            shared: None,
            rediscovered: Arc::new(std::sync::Mutex::new(None)),
            config: config.clone(),
        })
    }

    /// The same provider, keeping sign-ins in progress in `store`, which
    /// the console's replicas share.
    pub fn keeping_in(mut self, store: Option<Shared>) -> Provider {
        self.shared = store;
        self
    }

    /// Discovers the provider again (its keys may have changed), unless it
    /// was done less than [`REDISCOVER_EVERY`] ago; whether it was.
    async fn rediscover(&self) -> bool {
        {
            let mut at = self
                .rediscovered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if at.is_some_and(|at| at.elapsed() < REDISCOVER_EVERY) {
                return false;
            }
            *at = Some(Instant::now());
        }
        match discovered(&self.config, &self.http).await {
            Ok(client) => {
                self.client.store(Arc::new(client));
                tracing::info!(issuer = %self.config.issuer, "identity provider discovered again: its keys are current");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "the identity provider could not be discovered again");
                false
            }
        }
    }

    /// What the sign-in button says.
    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// Starts a sign-in (keeping `resume`, a search to give back): the
    /// provider's URL to send the browser to, and the state to bind to the
    /// browser.
    pub async fn start(&self, resume: String) -> Result<(String, String), OidcError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client.load_full();
        let mut request = client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = Pending {
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            resume,
        };
        match &self.shared {
            Some(store) => store
                .put(Kind::SignIn, state.secret(), &pending, PENDING_FOR)
                .await
                .map_err(|e| OidcError::Unavailable(e.to_string()))?,
            None => self.pending.insert(state.secret().clone(), pending),
        }
        Ok((url.to_string(), state.secret().clone()))
    }

    /// The sign-in in progress under `state`, taken (it finishes once).
    async fn take(&self, state: &str) -> Result<Pending, OidcError> {
        let found = match &self.shared {
            Some(store) => store
                .take(Kind::SignIn, state)
                .await
                .map_err(|e| OidcError::Unavailable(e.to_string()))?,
            None => self.pending.remove(state),
        };
        found.ok_or(OidcError::UnknownState)
    }

    /// Finishes a sign-in the browser came back from with `code`, for the
    /// `state` its cookie holds; gives the search to give back too.
    pub async fn finish(&self, state: &str, code: &str) -> Result<(SignedIn, String), OidcError> {
        let pending = self.take(state).await?;
        let provider = |e: &dyn std::error::Error| OidcError::Provider(chain(e));
        let client = self.client.load_full();
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| provider(&e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| provider(&e))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OidcError::Provider("no ID token in the answer".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let verifier = client.id_token_verifier();
        let checked = id_token
            .claims(&verifier, &nonce)
            .map(|c| c.subject().clone());
        let subject = match checked {
            Ok(subject) => subject,
            // Signed by a key the console has not seen: the provider may
            // have rolled its keys since the console discovered it.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_))
                if self.rediscover().await =>
            {
                let client = self.client.load_full();
                let verifier = client.id_token_verifier();
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(|e| provider(&e))?
                    .subject()
                    .clone()
            }
            Err(e) => return Err(provider(&e)),
        };
        let info: UserInfoClaims<OtherClaims, CoreGenderClaim> = client
            .user_info(token.access_token().clone(), Some(subject.clone()))
            .map_err(|e| provider(&e))?
            .request_async(&self.http)
            .await
            .map_err(|e| provider(&e))?;
        let role = role(
            &self.config.roles,
            info.additional_claims(),
            &self.config.role_claim,
        )
        .ok_or(OidcError::NoRole)?;
        let operator = info
            .preferred_username()
            .map_or_else(|| subject.as_str().to_string(), |u| u.as_str().to_string());
        let name = info
            .name()
            .and_then(|n| n.get(None))
            .map_or_else(|| operator.clone(), |n| n.as_str().to_string());
        Ok((
            SignedIn {
                operator,
                name,
                role,
            },
            pending.resume,
        ))
    }
}

/// The provider's metadata (endpoints and keys) as discovered now, made
/// into a client of the console's registration.
async fn discovered(config: &Oidc, http: &reqwest::Client) -> Result<Client, OidcError> {
    let discovery = |problem: String| OidcError::Discovery {
        issuer: config.issuer.clone(),
        problem,
    };
    let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| discovery(e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| discovery(chain(&e)))?;
    let redirect =
        RedirectUrl::new(config.redirect_url.clone()).map_err(|e| OidcError::Config {
            key: "redirect_url",
            problem: e.to_string(),
        })?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        config.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

/// The first mapping whose value the claim `claim` holds (a string or a
/// list of strings).
fn role(mappings: &[RoleMapping], claims: &OtherClaims, claim: &str) -> Option<String> {
    let held: Vec<&str> = match claims.claims.get(claim)? {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    mappings
        .iter()
        .find(|m| held.contains(&m.claim.as_str()))
        .map(|m| m.role.clone())
}

/// The HTTP client for the provider: no redirects followed (a provider
/// redirecting its own endpoints would be a request forgery), the
/// configured CA trusted beside the usual roots.
fn http_client(config: &Oidc) -> Result<reqwest::Client, OidcError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    if let Some(ca) = &config.ca {
        let pem = std::fs::read(ca).map_err(|e| OidcError::Config {
            key: "ca",
            problem: format!("{}: {e}", ca.display()),
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| OidcError::Config {
            key: "ca",
            problem: format!("{}: {e}", ca.display()),
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| OidcError::Config {
        key: "ca",
        problem: e.to_string(),
    })
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_mapping_the_claim_holds_gives_the_role() {
        let mappings = vec![
            RoleMapping {
                claim: "dpo".into(),
                role: "audit".into(),
            },
            RoleMapping {
                claim: "servizi-sociali".into(),
                role: "assistente_sociale".into(),
            },
        ];
        let claims = |v: Value| OtherClaims {
            claims: serde_json::Map::from_iter([("groups".to_string(), v)]),
        };
        let list = claims(serde_json::json!(["altro", "servizi-sociali", "dpo"]));
        assert_eq!(role(&mappings, &list, "groups").as_deref(), Some("audit"));
        let one = claims(serde_json::json!("servizi-sociali"));
        assert_eq!(
            role(&mappings, &one, "groups").as_deref(),
            Some("assistente_sociale")
        );
        assert_eq!(role(&mappings, &one, "roles"), None, "another claim");
        let none = claims(serde_json::json!(["ospiti"]));
        assert_eq!(role(&mappings, &none, "groups"), None);
        let number = claims(serde_json::json!(3));
        assert_eq!(role(&mappings, &number, "groups"), None);
    }
}
