//! The gateway's side of the audit log: the entry each Federation call
//! writes (who, why, which subject pseudonyms, which sections and sources,
//! the decision), written before the answer leaves; and the answer to
//! `AccessLog`, read back from the log by subject pseudonym.

use tonic::{Code, Status};
use tonic_types::StatusExt;
use trama_audit::{AuditLog, Entry, Pseudonymiser, SourceEntry};
use trama_proto::sections;
use trama_proto::v1::{self, OutcomeStatus};
use trama_tls::NodeIdentity;

/// The audit log and the pseudonymiser, as the service uses them.
#[derive(Debug, Clone)]
pub struct Auditor {
    /// The log.
    pub log: AuditLog,
    /// The subject pseudonymiser.
    pub pseudonyms: Pseudonymiser,
}

/// The outcome name written in the log.
pub fn outcome_name(status: i32) -> &'static str {
    match OutcomeStatus::try_from(status) {
        Ok(OutcomeStatus::Ok) => "ok",
        Ok(OutcomeStatus::NotFound) => "not_found",
        Ok(OutcomeStatus::Denied) => "denied",
        Ok(OutcomeStatus::Timeout) => "timeout",
        Ok(OutcomeStatus::Unavailable) => "unavailable",
        Ok(OutcomeStatus::Error) => "error",
        _ => "unspecified",
    }
}

/// The beginning of an entry: who asks, and why.
pub fn draft(call: &str, client: &NodeIdentity, ctx: Option<&v1::RequestContext>) -> Entry {
    let ctx = ctx.map(crate::validate::trimmed).unwrap_or_default();
    let operator = ctx.operator.unwrap_or_default();
    Entry {
        call: call.into(),
        organisation: client.organisation.clone(),
        operator_id: operator.id,
        operator_role: operator.role,
        purpose: ctx.purpose,
        case_id: ctx.case_id,
        legal_basis: ctx.legal_basis,
        ..Entry::default()
    }
}

impl Auditor {
    /// Adds the pseudonyms of a subject key's identifiers to `entry`.
    pub fn add_key(&self, entry: &mut Entry, tax_code: &str, local_ids: &[v1::LocalId]) {
        entry.subjects.extend(
            self.pseudonyms.subject(
                tax_code,
                local_ids
                    .iter()
                    .map(|l| (l.organisation.as_str(), l.id.as_str())),
            ),
        );
    }

    /// Adds the pseudonyms of a person shown as a candidate of a search
    /// (not the subject the call was about).
    pub fn add_candidate(&self, entry: &mut Entry, identity: &v1::SubjectIdentity) {
        let locals = identity
            .local_id
            .iter()
            .map(|l| (l.organisation.as_str(), l.id.as_str()));
        for p in self.pseudonyms.subject(&identity.tax_code, locals) {
            if !entry.subjects.contains(&p) {
                entry.candidates.push(p);
            }
        }
    }

    /// Adds the pseudonyms of an identity returned by a source.
    pub fn add_identity(&self, entry: &mut Entry, identity: &v1::SubjectIdentity) {
        let locals: Vec<v1::LocalId> = identity.local_id.iter().cloned().collect();
        self.add_key(entry, &identity.tax_code, &locals);
    }

    /// Completes `entry` with the result of the call and writes it. The
    /// answer is returned only once the entry is on disk; if it cannot be
    /// written, the call fails instead.
    pub async fn finish<T>(
        &self,
        mut entry: Entry,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        entry.subjects.sort();
        entry.subjects.dedup();
        entry.candidates.sort();
        entry.candidates.dedup();
        entry.candidates.retain(|c| !entry.subjects.contains(c));
        match &result {
            Ok(_) => {
                entry.status = "OK".into();
                if entry.decision.is_empty() {
                    entry.decision = "permit".into();
                }
            }
            Err(status) => {
                entry.status = trama_proto::code_name(status.code()).into();
                match status.code() {
                    Code::PermissionDenied => entry.decision = "deny".into(),
                    Code::InvalidArgument => {
                        entry.decision = "invalid".into();
                        // The fields only: a message may quote the value.
                        let fields: Vec<String> = status
                            .get_details_bad_request()
                            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
                            .unwrap_or_default();
                        entry.reason = format!("invalid field: {}", fields.join(", "));
                    }
                    _ => {
                        if entry.decision.is_empty() {
                            entry.decision = "error".into();
                        }
                    }
                }
            }
        }
        let call = entry.call.clone();
        let (result, status) = match self.log.append(entry).await {
            Ok(_) => {
                metrics::counter!("trama_audit_entries_total").increment(1);
                let status = match &result {
                    Ok(_) => "OK",
                    Err(s) => trama_proto::code_name(s.code()),
                };
                (result, status)
            }
            Err(e) => {
                metrics::counter!("trama_audit_failures_total").increment(1);
                tracing::error!(error = %e, "audit entry not written; the answer is withheld");
                (
                    Err(Status::unavailable(
                        "the gateway cannot write its audit log; nothing was answered, try again later",
                    )),
                    "UNAVAILABLE",
                )
            }
        };
        metrics::counter!("trama_calls_total", "call" => call, "status" => status).increment(1);
        result
    }
}

/// Records the sources' outcomes in `entry`.
pub fn add_outcomes(entry: &mut Entry, outcomes: &[v1::SourceOutcome]) {
    entry.sources = outcomes
        .iter()
        .map(|o| SourceEntry {
            organisation: o.organisation.clone(),
            outcome: outcome_name(o.status).into(),
            entries: o.entries,
        })
        .collect();
}

/// One log entry as the `AccessLog` call shows it to someone asking about
/// the person with pseudonyms `asked`. Where the person only appeared among
/// the candidates of someone else's search, the case and reason of that
/// search are not shown.
pub fn access_entry(seq: i64, mut e: Entry, asked: &[String]) -> v1::AccessEntry {
    if !e.subjects.iter().any(|s| asked.contains(s)) {
        e.call = format!("{} (as a candidate)", e.call);
        e.case_id.clear();
        e.reason.clear();
    }
    let to_sections = |names: &[String]| -> Vec<i32> {
        names
            .iter()
            .filter_map(|n| sections::parse(n))
            .map(|s| s as i32)
            .collect()
    };
    v1::AccessEntry {
        seq: u64::try_from(seq).unwrap_or_default(),
        time: e.time,
        call: e.call,
        organisation: e.organisation,
        operator: Some(v1::Operator {
            id: e.operator_id,
            role: e.operator_role,
        }),
        purpose: e.purpose,
        case_id: e.case_id,
        sections_asked: to_sections(&e.sections_asked),
        sections_returned: to_sections(&e.sections_returned),
        sources: e
            .sources
            .iter()
            .map(|s| format!("{}: {}", s.organisation, s.outcome))
            .collect(),
        decision: e.decision,
        reason: e.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trama_audit::{LogOptions, Store};

    async fn auditor(dir: &std::path::Path) -> Auditor {
        let key = dir.join("key.pem");
        let Ok(pair) = rcgen::KeyPair::generate() else {
            panic!("keygen")
        };
        assert!(std::fs::write(&key, pair.serialize_pem()).is_ok());
        let Ok(signer) = trama_audit::chain::Signer::load(&key) else {
            panic!("signer")
        };
        let url = Store::sqlite_url(&dir.join("audit.db"));
        let Ok(store) = Store::open(&url, true).await else {
            panic!("store")
        };
        let Ok(log) = AuditLog::open(store, signer, LogOptions::default()).await else {
            panic!("log")
        };
        Auditor {
            log,
            pseudonyms: Pseudonymiser::new(b"test key"),
        }
    }

    #[tokio::test]
    async fn no_answer_leaves_without_its_audit_entry() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let a = auditor(dir.path()).await;
        let entry = Entry {
            call: "GetRecord".into(),
            ..Entry::default()
        };
        let ok: Result<u32, Status> = a.finish(entry.clone(), Ok(7)).await;
        assert_eq!(ok.ok(), Some(7));
        // The database goes away: the answer is withheld.
        a.log.store().close().await;
        let withheld = a.finish(entry, Ok(7)).await;
        let Err(status) = withheld else {
            panic!("answered without an audit entry")
        };
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("audit"), "{}", status.message());
    }

    #[tokio::test]
    async fn invalid_calls_record_the_field_not_the_value() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let a = auditor(dir.path()).await;
        let status = crate::validate::violation("query.tax_code", "RSSMRA85T10A562T is not valid");
        let refused: Result<(), Status> = a.finish(Entry::default(), Err(status)).await;
        assert_eq!(refused.err().map(|s| s.code()), Some(Code::InvalidArgument));
        let Ok(rows) = a.log.store().entries_after(0, 10).await else {
            panic!("read back")
        };
        let Some(Ok(entry)) = rows.last().map(|r| Entry::from_payload(&r.payload)) else {
            panic!("one entry")
        };
        assert_eq!(entry.decision, "invalid");
        assert_eq!(entry.status, "INVALID_ARGUMENT");
        assert_eq!(entry.reason, "invalid field: query.tax_code");
        assert!(!rows[0].payload.contains("RSSMRA"));
    }
}
