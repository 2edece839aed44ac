//! What every page of the console shares: the console's state ([`App`]:
//! sessions, accounts, the Federation client, the short-lived caches), the
//! address a request came from, and how a page is rendered and a refusal
//! given its status. The screens build on it; it knows none of them.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tonic::transport::Channel;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;

use crate::accounts::Accounts;
use crate::session::{self, Session, Sessions};

/// The address a request came from (set by the server for each
/// connection).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::IpAddr);

/// What every page handler shares.
#[derive(Clone)]
pub struct App {
    /// The organisation running the console.
    pub organisation: String,
    /// Operators' sessions.
    pub sessions: Sessions,
    /// Local accounts.
    pub accounts: Arc<Accounts>,
    /// The Federation client, with the organisation's certificate.
    pub client: FederationClient<Channel>,
    /// Recent sign-in attempts by username, and by address (`@` + it).
    attempts: moka::sync::Cache<String, u32>,
    /// The organisation's identity provider, if operators sign in there.
    pub oidc: Option<crate::oidc::Provider>,
    /// What each role may read for a purpose and case id, by source, for
    /// a short while (see `record::access`).
    pub(crate) offers: moka::sync::Cache<(String, String, String), Arc<Vec<v1::SourceInfo>>>,
    /// What each role may do, by role, for a few minutes (see
    /// `operator::ask_permissions`).
    pub(crate) roles: moka::sync::Cache<String, Arc<crate::permissions::Permissions>>,
}

impl App {
    /// The console's state.
    pub fn new(
        organisation: String,
        sessions: Sessions,
        accounts: Accounts,
        client: FederationClient<Channel>,
    ) -> App {
        App {
            organisation,
            sessions,
            accounts: Arc::new(accounts),
            client,
            attempts: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            oidc: None,
            offers: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            roles: moka::sync::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(crate::permissions::PERMISSIONS_FOR)
                .build(),
        }
    }

    /// The console with operators signing in at `provider` too.
    pub fn with_provider(self, provider: Option<crate::oidc::Provider>) -> App {
        App {
            oidc: provider,
            ..self
        }
    }

    /// Counts one sign-in attempt for `key`; whether it is within `limit`.
    pub(crate) fn attempt(&self, key: String, limit: u32) -> bool {
        let tries = self.attempts.get(&key).unwrap_or(0) + 1;
        self.attempts.insert(key, tries);
        tries <= limit
    }

    /// The name of this console's cookie `what` (`session`, `login`,
    /// `oidc`).
    pub(crate) fn cookie(&self, what: &str) -> String {
        session::cookie_name(&self.organisation, what)
    }

    /// Forgets the attempts of a username that signed in.
    pub(crate) fn forget_attempts(&self, username: &str) {
        self.attempts.invalidate(username);
    }

    /// The session the request's cookie names, if still alive.
    pub(crate) async fn session(&self, headers: &HeaderMap) -> Option<(String, Arc<Session>)> {
        let id = session::cookie(headers, &self.cookie("session"))?;
        let s = self.sessions.get(&id).await?;
        Some((id, s))
    }
}

/// The page status of a call the gateway refused: the caller's input
/// (`422`), the policy (`403`), or the federation failing (`502`).
pub(crate) fn refusal(code: tonic::Code) -> StatusCode {
    match code {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// A rendered page with `status`; a template that fails to render is a
/// plain error, never a stack trace.
pub(crate) fn page<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
                .into_response()
        }
    }
}
