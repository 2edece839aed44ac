//! The gateway's side of the audit log: the entry each Federation call
//! writes (who, why, which subject pseudonyms, which sections and sources,
//! the decision), written before the answer leaves; and the answer to
//! `AccessLog`, read back from the log by subject pseudonym.

use trama_audit::{AuditLog, Entry, Pseudonymiser};
use trama_proto::sections;
use trama_proto::v1::{self, OutcomeStatus};

use crate::call::{Facts, Finished};
use crate::error::CallError;
use crate::validate::SubjectKey;

/// The audit log and the pseudonymiser, as the service uses them.
#[derive(Debug, Clone)]
pub struct Auditor {
    /// The log.
    pub log: AuditLog,
    /// The subject pseudonymiser.
    pub pseudonyms: Pseudonymiser,
}

/// The outcome name written in the log, from its wire value.
pub fn outcome_name(status: i32) -> &'static str {
    OutcomeStatus::try_from(status).map_or("unspecified", crate::outcome::name)
}

impl Auditor {
    /// The pseudonyms of a person's identifiers: the tax code and each
    /// partner's local id.
    pub fn identity(&self, identity: &v1::SubjectIdentity) -> Vec<String> {
        let locals = identity
            .local_id
            .iter()
            .map(|l| (l.organisation.as_str(), l.id.as_str()));
        self.pseudonyms.subject(&identity.tax_code, locals)
    }

    /// The pseudonyms of a validated subject key.
    pub fn key(&self, key: &SubjectKey) -> Vec<String> {
        let tax = key.tax_text();
        let locals = key
            .local_ids
            .iter()
            .map(|l| (l.organisation.as_str(), l.id.as_str()));
        self.pseudonyms.subject(&tax, locals)
    }

    /// Completes the call's entry from how it finished, writes it, and
    /// only then lets the answer go; if the entry cannot be written, the
    /// call fails instead.
    pub async fn commit<T>(&self, draft: Entry, finished: Finished<T>) -> Result<T, CallError> {
        let Finished { answer, facts } = finished;
        let entry = complete(draft, facts, &answer);
        let call = entry.call.clone();
        let written = self.log.append(entry).await;
        let answer = match written {
            Ok(_) => {
                metrics::counter!("trama_audit_entries_total").increment(1);
                answer
            }
            Err(e) => {
                metrics::counter!("trama_audit_failures_total").increment(1);
                tracing::error!(error = %e, "audit entry not written; the answer is withheld");
                Err(CallError::AuditUnavailable)
            }
        };
        let status = match &answer {
            Ok(_) => "OK",
            Err(e) => trama_proto::code_name(e.code()),
        };
        metrics::counter!("trama_calls_total", "call" => call, "status" => status).increment(1);
        answer
    }
}

/// The entry of a finished call: the draft (who, why, the subject as sent)
/// with the call's facts and its decision.
fn complete<T>(mut entry: Entry, facts: Facts, answer: &Result<T, CallError>) -> Entry {
    entry.subjects.extend(facts.subjects);
    entry.subjects.sort();
    entry.subjects.dedup();
    let mut candidates = facts.candidates;
    candidates.sort();
    candidates.dedup();
    candidates.retain(|c| !entry.subjects.contains(c));
    entry.candidates = candidates;
    entry.sections_asked = facts.sections_asked;
    entry.sections_returned = facts.sections_returned;
    entry.sources = facts.sources;
    match answer {
        Ok(_) => {
            entry.status = "OK".into();
            entry.decision = "permit".into();
            entry.reason = permitted_by(facts.permitted_by);
        }
        Err(e) => {
            entry.status = trama_proto::code_name(e.code()).into();
            entry.decision = e.decision().into();
            entry.reason = e.audit_reason().unwrap_or_default();
        }
    }
    entry
}

/// The distinct rules behind the permits.
fn permitted_by(mut rules: Vec<String>) -> String {
    rules.sort();
    rules.dedup();
    if rules.is_empty() {
        String::new()
    } else {
        format!("rule {}", rules.join(","))
    }
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
        let ok = a
            .commit(entry.clone(), Finished::answered(7, Facts::default()))
            .await;
        assert_eq!(ok.ok(), Some(7));
        // The database goes away: the answer is withheld.
        a.log.store().close().await;
        let withheld = a
            .commit(entry, Finished::answered(7, Facts::default()))
            .await;
        assert_eq!(withheld.err(), Some(CallError::AuditUnavailable));
    }

    #[tokio::test]
    async fn invalid_calls_record_the_field_not_the_value() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let a = auditor(dir.path()).await;
        let error = CallError::invalid("query.tax_code", "RSSMRA85T10A562T is not valid");
        let refused: Result<(), CallError> = a
            .commit(
                Entry::default(),
                Finished::refused(error.clone(), Facts::default()),
            )
            .await;
        assert_eq!(refused.err(), Some(error));
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
