//! The gateway's errors: [`CallError`], why a Federation call was not
//! answered, with its one mapping to `tonic::Status` and the details a
//! client acts on (the field and its fix, the policy rule, when to retry);
//! the audit entry's decision comes from it, never from re-reading a
//! `Status`. And [`SourceError`], why a source did not answer, classified
//! from the connector's machine-readable reason.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use trama_proto::reason::{self, ConnectorReason};
use trama_proto::v1::OutcomeStatus;

use crate::policy::Decision;

/// `ErrorInfo.domain` of the gateway's refusals.
pub const DOMAIN: &str = "gateway.trama";

/// Why a Federation call was not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The connection carries no verified client identity.
    #[error("no verified client identity")]
    Unauthenticated,
    /// A field of the request is refused.
    #[error("{field}: {description}")]
    Invalid {
        /// The field, for example `subject.tax_code`.
        field: String,
        /// What is wrong and how to fix it.
        description: String,
    },
    /// The policy refuses.
    #[error("{what}: {reason} (rule {rule})")]
    Denied {
        /// What was refused, for example `section health`.
        what: String,
        /// The rule that decided.
        rule: String,
        /// Why.
        reason: String,
    },
    /// A rate, quota or the gateway's own bound on calls in flight is
    /// exhausted.
    #[error("{description}; retry in {} ms", retry_after.as_millis())]
    Exhausted {
        /// What is exhausted, for the client.
        description: String,
        /// The quota's subject (`organisation:<org>`), if a quota.
        quota: Option<String>,
        /// When to try again.
        retry_after: Duration,
    },
    /// A statistics question whose answer could single someone out.
    #[error("{field}: {reason}")]
    Disclosure {
        /// The part of the question at fault, for example `filters[0]`.
        field: String,
        /// Why, and how to ask instead.
        reason: String,
    },
    /// The request cannot be carried out in the present state of things:
    /// a referral to a partner that takes none, a status change the
    /// referral's life does not allow.
    #[error("{subject}: {description}")]
    Precondition {
        /// What is in the way: `target`, `status`.
        subject: String,
        /// What is wrong and what to do.
        description: String,
    },
    /// An idempotency key already used for something else.
    #[error("{field}: {description}")]
    Conflict {
        /// The field holding the key.
        field: String,
        /// What the key was used for.
        description: String,
    },
    /// Nothing the caller may see by that name.
    #[error("{0}")]
    NotFound(String),
    /// The case the caller states could not be checked with its own
    /// organisation's connector now: nothing was asked of anyone else.
    #[error(
        "context.case_id: the case could not be checked with {organisation} now (its connector: {outcome}); nothing was asked, try again in {} ms", retry_after.as_millis()
    )]
    CaseUnchecked {
        /// The caller's organisation.
        organisation: String,
        /// What became of the call to its connector.
        outcome: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The audit log cannot be written or read: nothing is answered.
    #[error("the gateway cannot use its audit log now; nothing was answered, try again later")]
    AuditUnavailable,
    /// A fault of the gateway itself.
    #[error("the gateway failed to answer ({0}); see its log")]
    Internal(String),
}

impl CallError {
    /// A refused field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> CallError {
        CallError::Invalid {
            field: field.into(),
            description: description.into(),
        }
    }

    /// A policy denial of `what`, counted in the metrics by rule.
    pub fn denied(what: impl Into<String>, decision: &Decision) -> CallError {
        metrics::counter!("trama_policy_denials_total", "rule" => decision.rule.clone())
            .increment(1);
        CallError::Denied {
            what: what.into(),
            rule: decision.rule.clone(),
            reason: decision.reason.clone(),
        }
    }

    /// The decision written in the audit log: `invalid`, `deny` or `error`.
    pub fn decision(&self) -> &'static str {
        match self {
            CallError::Invalid { .. } => "invalid",
            CallError::Denied { .. } | CallError::Disclosure { .. } => "deny",
            _ => "error",
        }
    }

    /// The reason written in the audit log, if the error has one. An
    /// invalid call records the field only: a description may quote the
    /// value.
    pub fn audit_reason(&self) -> Option<String> {
        match self {
            CallError::Invalid { field, .. } => Some(format!("invalid field: {field}")),
            CallError::Precondition { subject, .. } => Some(format!("precondition: {subject}")),
            CallError::Conflict { field, .. } => Some(format!("conflict: {field}")),
            CallError::Disclosure { field, .. } => Some(format!("disclosure risk: {field}")),
            CallError::Denied { what, rule, reason } => {
                Some(format!("{what}: rule {rule}: {reason}"))
            }
            CallError::CaseUnchecked {
                organisation,
                outcome,
                ..
            } => Some(format!(
                "case not checked: {organisation}'s connector: {outcome}"
            )),
            _ => None,
        }
    }

    /// The gRPC code of the answer.
    pub fn code(&self) -> Code {
        match self {
            CallError::Unauthenticated => Code::Unauthenticated,
            CallError::Invalid { .. } => Code::InvalidArgument,
            CallError::Denied { .. } => Code::PermissionDenied,
            CallError::Disclosure { .. } => Code::FailedPrecondition,
            CallError::Exhausted { .. } => Code::ResourceExhausted,
            CallError::AuditUnavailable => Code::Unavailable,
            CallError::Internal(_) => Code::Internal,
            CallError::Precondition { .. } => Code::FailedPrecondition,
            CallError::Conflict { .. } => Code::AlreadyExists,
            CallError::NotFound(_) => Code::NotFound,
            CallError::CaseUnchecked { .. } => Code::Unavailable,
        }
    }

    fn details(&self) -> ErrorDetails {
        match self {
            CallError::Invalid { field, description } => {
                ErrorDetails::with_bad_request_violation(field, description)
            }
            CallError::Denied { rule, .. } => ErrorDetails::with_error_info(
                "POLICY_DENIED",
                DOMAIN,
                HashMap::from([("rule".to_string(), rule.clone())]),
            ),
            CallError::Exhausted {
                description,
                quota,
                retry_after,
            } => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(*retry_after));
                if let Some(subject) = quota {
                    details.add_quota_failure_violation(subject, description);
                }
                details
            }
            CallError::AuditUnavailable => {
                ErrorDetails::with_error_info("AUDIT_UNAVAILABLE", DOMAIN, HashMap::new())
            }
            CallError::CaseUnchecked {
                organisation,
                retry_after,
                ..
            } => {
                let mut details = ErrorDetails::with_error_info(
                    "CASE_UNCHECKED",
                    DOMAIN,
                    HashMap::from([("organisation".to_string(), organisation.clone())]),
                );
                details.set_retry_info(Some(*retry_after));
                details
            }
            CallError::Disclosure { field, reason } => {
                let mut details = ErrorDetails::with_error_info(
                    "DISCLOSURE_RISK",
                    DOMAIN,
                    HashMap::from([("field".to_string(), field.clone())]),
                );
                details.add_precondition_failure_violation("DISCLOSURE", field, reason);
                details
            }
            CallError::Precondition {
                subject,
                description,
            } => {
                let mut details = ErrorDetails::new();
                details.add_precondition_failure_violation("STATE", subject, description);
                details
            }
            CallError::Conflict { field, description } => {
                ErrorDetails::with_bad_request_violation(field, description)
            }
            CallError::Unauthenticated | CallError::Internal(_) | CallError::NotFound(_) => {
                ErrorDetails::new()
            }
        }
    }
}

/// Why a source did not answer a call: read from the connector's
/// `google.rpc.ErrorInfo` reason ([`trama_proto::reason`]); a failure
/// without one is the connection's (tonic attaches the transport error as
/// the status's source) or the peer's own TLS and role check. Never read
/// from the message's text, which is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceError {
    /// The source does not hold what was asked.
    NotFound,
    /// The source refused: its export rules, or its TLS and role check.
    Denied,
    /// The source, or its database, took too long.
    Timeout,
    /// The source, or its database, cannot be reached now.
    Unavailable,
    /// The source failed otherwise.
    Failed,
}

impl SourceError {
    /// The classification of a connector's status.
    pub fn of(status: &Status) -> SourceError {
        let given = status
            .get_details_error_info()
            .filter(|i| i.domain == reason::DOMAIN)
            .and_then(|i| ConnectorReason::parse(&i.reason));
        match given {
            Some(r) => SourceError::of_reason(r),
            None => SourceError::of_code(status),
        }
    }

    fn of_reason(r: ConnectorReason) -> SourceError {
        match r {
            ConnectorReason::DatabaseUnavailable
            | ConnectorReason::NotReady
            | ConnectorReason::AuditUnavailable
            | ConnectorReason::Busy => SourceError::Unavailable,
            ConnectorReason::DatabaseTimeout => SourceError::Timeout,
            ConnectorReason::ExportDenied => SourceError::Denied,
            ConnectorReason::InvalidRequest | ConnectorReason::QueryFailed => SourceError::Failed,
        }
    }

    fn of_code(status: &Status) -> SourceError {
        match status.code() {
            Code::NotFound => SourceError::NotFound,
            Code::PermissionDenied | Code::Unauthenticated => SourceError::Denied,
            Code::DeadlineExceeded | Code::Cancelled => SourceError::Timeout,
            Code::Unavailable => SourceError::Unavailable,
            // The connection failed (reset, closed mid-call): the source
            // is unreachable, not faulty.
            Code::Unknown if std::error::Error::source(status).is_some() => {
                SourceError::Unavailable
            }
            _ => SourceError::Failed,
        }
    }

    /// The source's outcome in the answer.
    pub fn outcome(self) -> OutcomeStatus {
        match self {
            SourceError::NotFound => OutcomeStatus::NotFound,
            SourceError::Denied => OutcomeStatus::Denied,
            SourceError::Timeout => OutcomeStatus::Timeout,
            SourceError::Unavailable => OutcomeStatus::Unavailable,
            SourceError::Failed => OutcomeStatus::Error,
        }
    }
}

impl From<CallError> for Status {
    fn from(e: CallError) -> Status {
        Status::with_error_details(e.code(), e.to_string(), e.details())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: CallError, code: Code, decision: &str, reason: Option<&str>) {
        assert_eq!(e.decision(), decision, "{e:?}");
        assert_eq!(e.audit_reason().as_deref(), reason, "{e:?}");
        let status = Status::from(e.clone());
        assert_eq!(status.code(), code, "{e:?}");
        assert_eq!(status.message(), e.to_string());
    }

    #[test]
    fn one_table_for_the_wire_and_the_audit() {
        check(
            CallError::invalid("subject.tax_code", "not valid: RSSMRA"),
            Code::InvalidArgument,
            "invalid",
            Some("invalid field: subject.tax_code"),
        );
        let d = Decision {
            allowed: false,
            rule: "health-needs-purpose".into(),
            reason: "health data need a health purpose".into(),
        };
        check(
            CallError::denied("section health", &d),
            Code::PermissionDenied,
            "deny",
            Some("section health: rule health-needs-purpose: health data need a health purpose"),
        );
        check(
            CallError::Exhausted {
                description: "rate exceeded".into(),
                quota: Some("organisation:comune".into()),
                retry_after: Duration::from_millis(250),
            },
            Code::ResourceExhausted,
            "error",
            None,
        );
        check(
            CallError::AuditUnavailable,
            Code::Unavailable,
            "error",
            None,
        );
        check(
            CallError::CaseUnchecked {
                organisation: "comune".into(),
                outcome: "timeout".into(),
                retry_after: Duration::from_secs(1),
            },
            Code::Unavailable,
            "error",
            Some("case not checked: comune's connector: timeout"),
        );
        check(
            CallError::Internal("task".into()),
            Code::Internal,
            "error",
            None,
        );
    }

    #[test]
    fn details_carry_the_field_the_rule_and_the_retry() {
        let s = Status::from(CallError::invalid("sections[0]", "unknown"));
        let v = s.get_details_bad_request().map(|b| b.field_violations);
        assert_eq!(
            v.map(|v| v[0].field.clone()).as_deref(),
            Some("sections[0]")
        );
        let s = Status::from(CallError::Denied {
            what: "find".into(),
            rule: "r1".into(),
            reason: "no".into(),
        });
        let rule = s
            .get_details_error_info()
            .and_then(|i| i.metadata.get("rule").cloned());
        assert_eq!(rule.as_deref(), Some("r1"));
        let s = Status::from(CallError::Exhausted {
            description: "daily quota".into(),
            quota: None,
            retry_after: Duration::from_secs(3),
        });
        let retry = s.get_details_retry_info().and_then(|r| r.retry_delay);
        assert_eq!(retry, Some(Duration::from_secs(3)));
    }
}
