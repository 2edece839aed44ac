//! The gateway's one error type for a Federation call, and its one mapping
//! to `tonic::Status` with the details a client acts on (the field and its
//! fix, the policy rule, when to retry). The audit entry's decision comes
//! from this type, never from re-reading a `Status`.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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
            CallError::Denied { .. } => "deny",
            _ => "error",
        }
    }

    /// The reason written in the audit log, if the error has one. An
    /// invalid call records the field only: a description may quote the
    /// value.
    pub fn audit_reason(&self) -> Option<String> {
        match self {
            CallError::Invalid { field, .. } => Some(format!("invalid field: {field}")),
            CallError::Denied { what, rule, reason } => {
                Some(format!("{what}: rule {rule}: {reason}"))
            }
            _ => None,
        }
    }

    /// The gRPC code of the answer.
    pub fn code(&self) -> Code {
        match self {
            CallError::Unauthenticated => Code::Unauthenticated,
            CallError::Invalid { .. } => Code::InvalidArgument,
            CallError::Denied { .. } => Code::PermissionDenied,
            CallError::Exhausted { .. } => Code::ResourceExhausted,
            CallError::AuditUnavailable => Code::Unavailable,
            CallError::Internal(_) => Code::Internal,
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
            CallError::Unauthenticated | CallError::Internal(_) => ErrorDetails::new(),
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
