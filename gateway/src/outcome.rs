//! What became of each source in a call: the outcome (`ok`, `not found`,
//! `denied`, `timeout`, `unavailable`, `error`) with notes for the operator,
//! and the classification of a connector's failure into an outcome from the
//! machine-readable reason it gives (`google.rpc.ErrorInfo`), never from the
//! text of its message.

use tonic::Status;
use trama_proto::v1::{self, OutcomeStatus};

use crate::error::SourceError;

/// The outcome of one source in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The source organisation.
    pub organisation: String,
    /// What became of it.
    pub status: OutcomeStatus,
    /// Notes for the operator, joined with `; ` on the wire.
    pub notes: Vec<String>,
    /// How long the source took, in milliseconds.
    pub latency_ms: u32,
    /// How many entries (or candidates) it contributed.
    pub entries: u32,
    /// The policy rule that kept the call away from it, if one did.
    pub rule: String,
}

impl Outcome {
    /// An outcome with no latency and no entries: a source not asked.
    pub fn not_asked(organisation: &str, status: OutcomeStatus, note: String) -> Outcome {
        Outcome {
            organisation: organisation.to_string(),
            status,
            notes: vec![note],
            latency_ms: 0,
            entries: 0,
            rule: String::new(),
        }
    }

    /// Adds a note, if it says something.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !note.is_empty() {
            self.notes.push(note);
        }
    }

    /// Whether the source answered (`ok` or `not found`).
    pub fn answered(&self) -> bool {
        matches!(self.status, OutcomeStatus::Ok | OutcomeStatus::NotFound)
    }

    /// Whether the outcome makes the answer partial.
    pub fn is_partial(&self) -> bool {
        matches!(
            self.status,
            OutcomeStatus::Timeout | OutcomeStatus::Unavailable | OutcomeStatus::Error
        )
    }

    /// The wire form.
    pub fn to_proto(&self) -> v1::SourceOutcome {
        v1::SourceOutcome {
            organisation: self.organisation.clone(),
            status: self.status as i32,
            message: self.notes.join("; "),
            latency_ms: self.latency_ms,
            entries: self.entries,
            rule: self.rule.clone(),
        }
    }
}

/// Whether any outcome makes the answer partial.
pub fn is_partial(outcomes: &[Outcome]) -> bool {
    outcomes.iter().any(Outcome::is_partial)
}

/// The name of an outcome as written in the audit log and the metrics.
pub fn name(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Ok => "ok",
        OutcomeStatus::NotFound => "not_found",
        OutcomeStatus::Denied => "denied",
        OutcomeStatus::Timeout => "timeout",
        OutcomeStatus::Unavailable => "unavailable",
        OutcomeStatus::Error => "error",
        OutcomeStatus::Unspecified => "unspecified",
    }
}

/// The outcome a connector's failure stands for, and a message safe to show
/// an operator. A connector says why in an `ErrorInfo` of its domain; a
/// failure without one is the connection's (tonic attaches the transport
/// error as the status's source) or the peer's own TLS and role check.
pub fn classify(status: &Status) -> (OutcomeStatus, String) {
    let kind = SourceError::of(status).outcome();
    let text = if status.message().is_empty() {
        trama_proto::code_name(status.code()).to_string()
    } else {
        status.message().to_string()
    };
    let message = if kind == OutcomeStatus::Denied {
        format!("denied by source: {text}")
    } else {
        text
    };
    (kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic::Code;
    use tonic_types::{ErrorDetails, StatusExt};
    use trama_proto::reason;

    fn from_connector(code: Code, r: &str) -> Status {
        Status::with_error_details(
            code,
            "some text that means nothing to the gateway",
            ErrorDetails::with_error_info(r, reason::DOMAIN, HashMap::new()),
        )
    }

    #[test]
    fn classified_by_reason_not_by_text() {
        for (code, r, want) in [
            (
                Code::Unavailable,
                "DATABASE_UNAVAILABLE",
                OutcomeStatus::Unavailable,
            ),
            (Code::Unavailable, "NOT_READY", OutcomeStatus::Unavailable),
            (
                Code::Unavailable,
                "AUDIT_UNAVAILABLE",
                OutcomeStatus::Unavailable,
            ),
            (
                Code::DeadlineExceeded,
                "DATABASE_TIMEOUT",
                OutcomeStatus::Timeout,
            ),
            (
                Code::PermissionDenied,
                "EXPORT_DENIED",
                OutcomeStatus::Denied,
            ),
            (
                Code::InvalidArgument,
                "INVALID_REQUEST",
                OutcomeStatus::Error,
            ),
            (Code::Internal, "QUERY_FAILED", OutcomeStatus::Error),
            // An unknown reason falls back on the code.
            (
                Code::Unavailable,
                "SOMETHING_NEW",
                OutcomeStatus::Unavailable,
            ),
        ] {
            assert_eq!(classify(&from_connector(code, r)).0, want, "{r}");
        }
    }

    #[test]
    fn without_a_reason_the_code_decides_and_text_does_not() {
        // A message that mentions a connection is not a transport error.
        let s = Status::unknown("connection to the partner's database failed");
        assert_eq!(classify(&s).0, OutcomeStatus::Error);
        assert_eq!(
            classify(&Status::permission_denied("role")).0,
            OutcomeStatus::Denied
        );
        assert_eq!(
            classify(&Status::deadline_exceeded("")).0,
            OutcomeStatus::Timeout
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let transport = Status::from_error(Box::new(io));
        assert_eq!(classify(&transport).0, OutcomeStatus::Unavailable);
    }

    #[test]
    fn denials_say_who_denied() {
        let (kind, message) = classify(&from_connector(Code::PermissionDenied, "EXPORT_DENIED"));
        assert_eq!(kind, OutcomeStatus::Denied);
        assert!(message.starts_with("denied by source: "), "{message}");
    }
}
