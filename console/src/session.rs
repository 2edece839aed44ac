//! Operators' sessions, keyed by a random id carried in a `Secure;
//! HttpOnly; SameSite=Strict` cookie, forgotten after an idle timeout: in
//! this console's memory, or, with `[sessions] database`, in the store
//! consoles share ([`crate::shared`]), so that any replica serves any
//! browser and a restart signs nobody out. Each session has its own CSRF
//! token, which every form that changes something must return. A session
//! holds who the operator is, never what they saw.

use std::sync::Arc;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

use crate::shared::{Kind, Shared};

pub use ::cookie::SameSite;

/// A `Set-Cookie` value: `name=value` for the whole site, sent only over
/// HTTPS and out of scripts' reach, with `same_site`; lasting `max_age`
/// seconds when given (0 deletes it), else for the browser's session.
pub fn set_cookie(
    name: String,
    value: String,
    same_site: SameSite,
    max_age: Option<i64>,
) -> String {
    let mut built = ::cookie::Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(same_site);
    if let Some(seconds) = max_age {
        built = built.max_age(::cookie::time::Duration::seconds(seconds));
    }
    built.build().to_string()
}

/// The name of one of a console's cookies (`session`, `login`, `oidc`):
/// the `__Host-` prefix makes browsers refuse it unless it is `Secure`, for
/// the whole site, and set over HTTPS; the organisation in the name keeps
/// two organisations' consoles on one host (cookies ignore the port) from
/// signing each other's operators out.
pub fn cookie_name(organisation: &str, what: &str) -> String {
    let org: String = organisation
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("__Host-trama-{org}-{what}")
}

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// The operator's id (their username), stated in every call.
    pub operator: String,
    /// Their name, shown in the header.
    pub name: String,
    /// The Trama role the console vouches for.
    pub role: String,
    /// The token every state-changing form carries.
    pub csrf: String,
}

impl Session {
    /// The context of a call made on this operator's behalf: their id and
    /// role, as the organisation vouches for them.
    pub fn context(&self, purpose: &str, case_id: &str) -> trama_proto::v1::RequestContext {
        trama_proto::v1::RequestContext {
            purpose: purpose.into(),
            case_id: case_id.into(),
            operator: Some(trama_proto::v1::Operator {
                id: self.operator.clone(),
                role: self.role.clone(),
            }),
            legal_basis: String::new(),
        }
    }
}

/// The sessions of one console.
#[derive(Clone)]
pub struct Sessions {
    live: moka::sync::Cache<String, Arc<Session>>,
    shared: Option<Shared>,
    idle: Duration,
    random: Arc<SystemRandom>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("live", &self.live.entry_count())
            .field("shared", &self.shared)
            .finish()
    }
}

impl Sessions {
    /// Sessions in memory, forgotten after `idle` without a request.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            live: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(idle)
                .build(),
            shared: None,
            idle,
            random: Arc::new(SystemRandom::new()),
        }
    }

    /// The same sessions, kept in the store replicas share instead.
    pub fn shared(mut self, store: Shared) -> Sessions {
        self.shared = Some(store);
        self
    }

    /// The shared store, if sessions are kept there.
    pub fn store(&self) -> Option<&Shared> {
        self.shared.as_ref()
    }

    /// Starts a session for an operator; returns its id (for the cookie),
    /// `None` if it could not be kept.
    pub async fn start(&self, operator: &str, name: &str, role: &str) -> Option<String> {
        let id = self.token()?;
        let session = Session {
            operator: operator.into(),
            name: name.into(),
            role: role.into(),
            csrf: self.token()?,
        };
        let Some(store) = &self.shared else {
            self.live.insert(id.clone(), Arc::new(session));
            return Some(id);
        };
        if let Err(e) = store.purge().await {
            tracing::warn!(error = %e, "expired sessions could not be removed");
        }
        match store.put(Kind::Session, &id, &session, self.idle).await {
            Ok(()) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "a session could not be kept");
                None
            }
        }
    }

    /// The session with this id, if it is still alive (which renews it).
    pub async fn get(&self, id: &str) -> Option<Arc<Session>> {
        let Some(store) = &self.shared else {
            return self.live.get(id);
        };
        match store
            .get::<Session>(Kind::Session, id, Some(self.idle))
            .await
        {
            Ok(found) => found.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, "sessions cannot be read; the operator must sign in again");
                None
            }
        }
    }

    /// Ends a session.
    pub async fn end(&self, id: &str) {
        self.live.invalidate(id);
        if let Some(store) = &self.shared
            && let Err(e) = store.remove(Kind::Session, id).await
        {
            tracing::error!(error = %e, "a session could not be ended in the shared store");
        }
    }

    /// 32 random bytes, hexadecimal.
    pub fn token(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        Some(hex::encode(bytes))
    }
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_are_random_separate_and_forgotten_when_idle() {
        let sessions = Sessions::new(Duration::from_millis(200));
        let (Some(a), Some(b)) = (
            sessions.start("laura", "Laura", "r").await,
            sessions.start("marco", "Marco", "r").await,
        ) else {
            panic!("started")
        };
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let (Some(sa), Some(sb)) = (sessions.get(&a).await, sessions.get(&b).await) else {
            panic!("live")
        };
        assert_eq!(sa.operator, "laura");
        assert_ne!(sa.csrf, sb.csrf);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            sessions.get(&a).await.is_none(),
            "idle sessions are forgotten"
        );
        assert!(!same_token(&sa.csrf, &sb.csrf));
        assert!(same_token(&sa.csrf, &sa.csrf.clone()));
    }
}
