//! Every way a call to the connector fails, and its one mapping to a gRPC
//! status. Each status carries a `google.rpc.ErrorInfo` with the
//! machine-readable [`ConnectorReason`] under [`reason::DOMAIN`], which the
//! gateway turns into the source's outcome; the message is for people and
//! never says more than the caller may know (database errors stay in the
//! connector's log).

use std::collections::HashMap;

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};
use trama_proto::reason::{self, ConnectorReason};

use crate::source::SourceError;

/// Why a call was not answered.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// A field of the request is missing or malformed.
    #[error("{field}: {description}")]
    Invalid {
        /// The field, as named in the request (`context.case_id`).
        field: String,
        /// What is wrong and how to fix it.
        description: String,
    },
    /// The partner's export rules release nothing for this call.
    #[error("{0}")]
    ExportDenied(String),
    /// The database has not been reached since start, so the mapping has
    /// not been checked yet.
    #[error("the partner database has not been reachable since the connector started")]
    NotReady,
    /// The health watch found the database down: calls are not sent to it
    /// until it answers again.
    #[error("the partner database is down")]
    DatabaseDown,
    /// A query of the mapping failed.
    #[error("query `{key}`: {source}")]
    Source {
        /// The mapping key of the query.
        key: String,
        /// The error.
        source: SourceError,
    },
    /// The connector's own audit log cannot be written.
    #[error("the local audit log cannot be written: {0}")]
    AuditUnavailable(String),
}

impl CallError {
    /// A refused field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> CallError {
        CallError::Invalid {
            field: field.into(),
            description: description.into(),
        }
    }

    /// The reason the gateway reads.
    pub fn reason(&self) -> ConnectorReason {
        match self {
            CallError::Invalid { .. } => ConnectorReason::InvalidRequest,
            CallError::ExportDenied(_) => ConnectorReason::ExportDenied,
            CallError::NotReady => ConnectorReason::NotReady,
            CallError::DatabaseDown => ConnectorReason::DatabaseUnavailable,
            CallError::Source {
                source: SourceError::Timeout(_),
                ..
            } => ConnectorReason::DatabaseTimeout,
            CallError::Source {
                source: SourceError::Busy { .. },
                ..
            } => ConnectorReason::Busy,
            CallError::Source { source, .. } if source.is_unavailable() => {
                ConnectorReason::DatabaseUnavailable
            }
            CallError::Source { .. } => ConnectorReason::QueryFailed,
            CallError::AuditUnavailable(_) => ConnectorReason::AuditUnavailable,
        }
    }

    /// What the caller is told.
    fn message(&self) -> String {
        match self {
            CallError::Invalid { .. } | CallError::ExportDenied(_) | CallError::NotReady => {
                self.to_string()
            }
            CallError::DatabaseDown => {
                "the partner database is unavailable (the connector's health check fails)".into()
            }
            CallError::Source { key, source } => match source {
                SourceError::Timeout(limit) => {
                    format!("the database query `{key}` ran past {limit:?}")
                }
                SourceError::Busy {
                    waited,
                    retry_after,
                } => format!(
                    "every connection to the partner database stayed busy for the {} ms this call could wait; retry in {} ms",
                    waited.as_millis(),
                    retry_after.as_millis().max(1)
                ),
                s if s.is_unavailable() => "the partner database is unavailable".into(),
                _ => format!("the database query `{key}` failed; see the connector's log"),
            },
            CallError::AuditUnavailable(_) => {
                "the connector cannot write its audit log; nothing was released".into()
            }
        }
    }

    /// The `ErrorInfo` metadata: the field refused or the query that
    /// failed, never a value.
    fn metadata(&self) -> HashMap<String, String> {
        match self {
            CallError::Invalid { field, .. } => HashMap::from([("field".into(), field.clone())]),
            CallError::Source { key, .. } => HashMap::from([("query".into(), key.clone())]),
            _ => HashMap::new(),
        }
    }

    /// Whether the partner's policy refused the call (the audit's
    /// decision `deny`, as opposed to an `error`).
    pub fn is_denial(&self) -> bool {
        matches!(self, CallError::ExportDenied(_))
    }
}

impl From<CallError> for Status {
    fn from(e: CallError) -> Status {
        match &e {
            CallError::Source { key, source } => {
                tracing::warn!(key, error = %source, "database query failed");
            }
            CallError::AuditUnavailable(error) => {
                tracing::error!(error, "local audit entry not written; nothing released");
            }
            _ => {}
        }
        let reason = e.reason();
        let mut details =
            ErrorDetails::with_error_info(reason.as_str(), reason::DOMAIN, e.metadata());
        match &e {
            CallError::Invalid { field, description } => {
                details.add_bad_request_violation(field.clone(), description.clone());
            }
            CallError::Source {
                source: SourceError::Busy { retry_after, .. },
                ..
            } => {
                details.set_retry_info(Some(*retry_after));
            }
            _ => {}
        }
        Status::with_error_details(reason.code(), e.message(), details)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic::Code;

    use super::*;

    /// The status a failure becomes, read back as the gateway reads it.
    fn check(e: CallError, code: Code, reason: &str, message: &str) {
        let status = Status::from(e);
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status.message().contains(message),
            "{:?} lacks {message:?}",
            status.message()
        );
        let details = status.get_error_details();
        let info = details
            .error_info()
            .expect("every failure carries ErrorInfo");
        assert_eq!(info.reason, reason);
        assert_eq!(info.domain, reason::DOMAIN);
        assert_eq!(
            ConnectorReason::parse(&info.reason).map(|r| r.code()),
            Some(code)
        );
    }

    #[test]
    fn every_failure_maps_to_its_code_and_reason() {
        let sql = |e: sqlx::Error| CallError::Source {
            key: "sections.health[0]".into(),
            source: SourceError::Sql(e),
        };
        check(
            CallError::invalid("context.case_id", "empty once blanks are removed"),
            Code::InvalidArgument,
            "INVALID_REQUEST",
            "context.case_id: empty",
        );
        check(
            CallError::ExportDenied("the partner's export policy releases nothing".into()),
            Code::PermissionDenied,
            "EXPORT_DENIED",
            "releases nothing",
        );
        check(
            CallError::NotReady,
            Code::Unavailable,
            "NOT_READY",
            "not been reachable",
        );
        check(
            CallError::DatabaseDown,
            Code::Unavailable,
            "DATABASE_UNAVAILABLE",
            "unavailable",
        );
        check(
            CallError::Source {
                key: "matching.tax_code".into(),
                source: SourceError::Timeout(Duration::from_secs(2)),
            },
            Code::DeadlineExceeded,
            "DATABASE_TIMEOUT",
            "`matching.tax_code` ran past 2s",
        );
        check(
            sql(sqlx::Error::PoolTimedOut),
            Code::Unavailable,
            "DATABASE_UNAVAILABLE",
            "unavailable",
        );
        let busy = Status::from(CallError::Source {
            key: "fetch".into(),
            source: SourceError::Busy {
                waited: Duration::from_millis(1_900),
                retry_after: Duration::from_millis(40),
            },
        });
        assert_eq!(busy.code(), Code::Unavailable);
        assert!(busy.message().contains("busy for the 1900 ms"), "{busy:?}");
        let details = busy.get_error_details();
        assert_eq!(
            details.error_info().map(|i| i.reason.as_str()),
            Some("BUSY")
        );
        assert_eq!(
            details.retry_info().and_then(|r| r.retry_delay),
            Some(Duration::from_millis(40))
        );
        check(
            sql(sqlx::Error::RowNotFound),
            Code::Internal,
            "QUERY_FAILED",
            "`sections.health[0]` failed; see the connector's log",
        );
        check(
            CallError::AuditUnavailable("disk full".into()),
            Code::Unavailable,
            "AUDIT_UNAVAILABLE",
            "nothing was released",
        );
    }

    #[test]
    fn a_refused_field_is_named_twice() {
        let status = Status::from(CallError::invalid("tax_code", "blank"));
        let details = status.get_error_details();
        let violation = &details
            .bad_request()
            .expect("a field violation")
            .field_violations[0];
        assert_eq!(violation.field, "tax_code");
        assert_eq!(
            details
                .error_info()
                .map(|i| i.metadata.get("field").cloned()),
            Some(Some("tax_code".into()))
        );
    }

    #[test]
    fn database_messages_stay_in_the_log() {
        let status = Status::from(CallError::Source {
            key: "matching.local_id".into(),
            source: SourceError::Sql(sqlx::Error::Protocol("secret row text".into())),
        });
        assert!(!status.message().contains("secret"), "{}", status.message());
    }
}
