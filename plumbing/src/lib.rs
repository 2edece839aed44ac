//! The plumbing Trama's nodes share, in one place: opening a durable
//! store through sqlx (the audit log and the referral store, on SQLite or
//! PostgreSQL: [`durable`]), database URLs shown without their password
//! ([`redact`]), the time entries and records are stamped with
//! ([`clock`]), whether the files a node writes can be written
//! ([`files`]), each store's schema version and migrations
//! ([`schema`]), and secrets sealed at rest under a key file ([`sealed`]).
//! It knows nothing of Trama's schema or calls.

pub mod clock;
pub mod durable;
pub mod files;
pub mod schema;
pub mod sealed;

/// A database URL with any password replaced by `***`, for messages and
/// logs: the one redaction every node uses.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite:///a/b.db"), "sqlite:///a/b.db");
    }
}
