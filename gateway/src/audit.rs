//! The gateway's side of the audit log: the entry each Federation call
//! writes (who, why, which subject pseudonyms, which sections and sources,
//! the decision), written before the answer leaves; and the answer to
//! `AccessLog`'s entries, read back from the log by subject pseudonym or
//! by filters, with the result of verifying the whole log (every
//! replica's chain).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trama_audit::chain::SignatureVerifier;
use trama_audit::search::Found;
use trama_audit::{AuditLog, Entry, Pseudonymiser, SourceEntry};
use trama_proto::sections;
use trama_proto::v1::{self, OutcomeStatus};

use crate::error::CallError;
use crate::outcome::{self, Outcome};
use crate::validate::SubjectKey;

/// The audit log and the pseudonymiser, as the service uses them.
#[derive(Debug, Clone)]
pub struct Auditor {
    /// The log.
    pub log: AuditLog,
    /// The subject pseudonymiser.
    pub pseudonyms: Pseudonymiser,
    /// How the log is verified for `AccessLog`; `None` where no
    /// certificate checks the checkpoints (unit tests).
    pub integrity: Option<Arc<Integrity>>,
}

/// How often the whole log is verified again for `AccessLog` at most.
const VERIFIED_FOR: Duration = Duration::from_secs(60);

/// The problems an answer lists at most.
const MAX_PROBLEMS: usize = 20;

/// The verification of the gateway's own log: the certificates whose keys
/// sign its checkpoints, the checkpoint file kept beside it, and the last
/// result (reused for a minute: verifying reads the whole log).
#[derive(Debug)]
pub struct Integrity {
    verifier: SignatureVerifier,
    checkpoint_file: PathBuf,
    last: tokio::sync::Mutex<Option<(Instant, v1::ChainCheck)>>,
}

impl Integrity {
    /// Checks checkpoints with the keys of `certs` and the file
    /// `checkpoint_file`.
    pub fn new(verifier: SignatureVerifier, checkpoint_file: PathBuf) -> Integrity {
        Integrity {
            verifier,
            checkpoint_file,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The log verified, at most [`VERIFIED_FOR`] ago.
    pub async fn check(&self, log: &AuditLog) -> v1::ChainCheck {
        let mut last = self.last.lock().await;
        if let Some((at, check)) = last.as_ref()
            && at.elapsed() < VERIFIED_FOR
        {
            return check.clone();
        }
        let check = self.verify(log).await;
        *last = Some((Instant::now(), check.clone()));
        check
    }

    async fn verify(&self, log: &AuditLog) -> v1::ChainCheck {
        let checked_at = trama_plumbing::clock::now();
        let shipped = match trama_audit::log::read_checkpoint_file(&self.checkpoint_file) {
            Ok(s) => s,
            Err(e) => {
                return failed(
                    format!("the checkpoint file cannot be read: {e}"),
                    checked_at,
                );
            }
        };
        let reports =
            match trama_audit::verify::verify_all(log.store(), &self.verifier, &shipped).await {
                Ok(r) => r,
                Err(e) => return failed(format!("the log cannot be read: {e}"), checked_at),
            };
        let mut check = v1::ChainCheck {
            intact: reports.iter().all(|(_, r)| r.ok()),
            checked_at,
            ..v1::ChainCheck::default()
        };
        for (chain, report) in &reports {
            let replica = replica_chain(chain, report);
            check.entries += replica.entries;
            if chain == log.store().chain() {
                check.last_seq = replica.last_seq;
                check.sealed_seq = replica.sealed_seq;
                check.sealed_time.clone_from(&replica.sealed_time);
            }
            let named = |p: &trama_audit::Problem| match chain.as_str() {
                "" => p.to_string(),
                chain => format!("replica {chain}: {p}"),
            };
            check.problems.extend(report.problems.iter().map(named));
            check.replicas.push(replica);
        }
        check.problems.truncate(MAX_PROBLEMS);
        check
    }
}

/// One chain's verification, as `AccessLog` reports it.
fn replica_chain(chain: &str, report: &trama_audit::Report) -> v1::ReplicaChain {
    let (sealed_seq, sealed_time) = report.last_checkpoint.clone().unwrap_or_default();
    v1::ReplicaChain {
        replica: chain.to_string(),
        intact: report.ok(),
        entries: u64::try_from(report.entries).unwrap_or(0),
        last_seq: u64::try_from(report.last_seq).unwrap_or(0),
        sealed_seq: u64::try_from(sealed_seq).unwrap_or(0),
        sealed_time,
    }
}

/// A verification that could not run: not intact, saying why.
fn failed(problem: String, checked_at: String) -> v1::ChainCheck {
    tracing::error!(%problem, "the audit log could not be verified");
    v1::ChainCheck {
        intact: false,
        problems: vec![problem],
        checked_at,
        ..v1::ChainCheck::default()
    }
}

/// The outcome name written in the log, from its wire value.
pub fn outcome_name(status: i32) -> &'static str {
    OutcomeStatus::try_from(status).map_or("unspecified", crate::outcome::name)
}

/// What a call found out, for its audit entry: derived once, from the
/// stage the call reached, never filled in along the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Pseudonyms of the subject.
    pub subjects: Vec<String>,
    /// Pseudonyms of other people the answer showed.
    pub candidates: Vec<String>,
    /// Sections asked for.
    pub sections_asked: Vec<String>,
    /// Sections the answer carried entries of.
    pub sections_returned: Vec<String>,
    /// Each source and its outcome.
    pub sources: Vec<SourceEntry>,
    /// The rules that permitted the call.
    pub permitted_by: Vec<String>,
    /// What became of the case the caller stated.
    pub case: crate::cases::CaseCheck,
    /// What an `AccessLog` listed by ([`trama_audit::Entry::filters`]).
    pub filters: String,
}

impl Facts {
    /// The sources' outcomes as the audit log records them.
    pub fn sources_of(outcomes: &[Outcome]) -> Vec<SourceEntry> {
        outcomes
            .iter()
            .map(|o| SourceEntry {
                organisation: o.organisation.clone(),
                outcome: outcome::name(o.status).into(),
                entries: o.entries,
            })
            .collect()
    }
}

/// How a call ended: its answer and the facts for its audit entry.
#[derive(Debug)]
pub struct Finished<T> {
    /// The answer, or why there is none.
    pub answer: Result<T, CallError>,
    /// What the audit entry records.
    pub facts: Facts,
}

impl<T> Finished<T> {
    /// A call answered.
    pub fn answered(answer: T, facts: Facts) -> Self {
        Finished {
            answer: Ok(answer),
            facts,
        }
    }

    /// A call refused at some stage, with the facts known by then.
    pub fn refused(error: CallError, facts: Facts) -> Self {
        Finished {
            answer: Err(error),
            facts,
        }
    }
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
    entry.case_check = facts.case.name().into();
    entry.filters = facts.filters;
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

/// The rule(s) and the field a stored reason names, as [`permitted_by`]
/// and [`CallError::audit_reason`] write it: `rule a,b` for a permit,
/// `<what>: rule <id>: <reason>` for a denial, `invalid field: <field>`.
fn rule_and_field(reason: &str) -> (String, String) {
    if let Some(field) = reason.strip_prefix("invalid field: ") {
        return (String::new(), field.to_string());
    }
    if let Some(rules) = reason.strip_prefix("rule ") {
        return (rules.to_string(), String::new());
    }
    let rule = reason
        .split_once(": rule ")
        .map(|(_, rest)| rest.split(':').next().unwrap_or(rest).to_string())
        .unwrap_or_default();
    (rule, String::new())
}

/// One log entry as the `AccessLog` call shows it. `asked` holds the
/// pseudonyms of the person asked about, `None` for a listing without a
/// person: where the person only appeared among the candidates of
/// someone else's search, the case, the reason and the rule of that
/// search are not shown. A listing without a person shows each call as
/// the operator made it; the log holds no names or tax codes, and the
/// answer no pseudonyms.
pub fn access_entry(found: Found, asked: Option<&[String]>) -> v1::AccessEntry {
    let Found {
        chain,
        seq,
        entry: mut e,
    } = found;
    let as_candidate = asked.is_some_and(|asked| !e.subjects.iter().any(|s| asked.contains(s)));
    if as_candidate {
        e.case_id.clear();
        e.case_check.clear();
        e.reason.clear();
    }
    let (rule, field) = rule_and_field(&e.reason);
    let to_sections = |names: &[String]| -> Vec<i32> {
        names
            .iter()
            .filter_map(|n| sections::parse(n))
            .map(|s| s as i32)
            .collect()
    };
    v1::AccessEntry {
        seq: u64::try_from(seq).unwrap_or_default(),
        replica: chain,
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
        case_check: e.case_check,
        as_candidate,
        rule,
        field,
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
            integrity: None,
        }
    }

    #[test]
    fn the_rule_and_field_are_read_from_the_reasons_the_gateway_writes() {
        let d = crate::policy::Decision {
            allowed: false,
            rule: "health-needs-a-health-purpose".into(),
            reason: "health data: art. 9".into(),
        };
        let denied = CallError::denied("section health", &d).audit_reason();
        let invalid = CallError::invalid("subject.tax_code", "x").audit_reason();
        for (reason, rule, field) in [
            (permitted_by(vec!["b".into(), "a".into()]), "a,b", ""),
            (
                denied.unwrap_or_default(),
                "health-needs-a-health-purpose",
                "",
            ),
            (invalid.unwrap_or_default(), "", "subject.tax_code"),
            (String::new(), "", ""),
        ] {
            assert_eq!(
                rule_and_field(&reason),
                (rule.to_string(), field.to_string()),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_candidate_sees_no_case_and_a_review_sees_the_operators_call() {
        let e = Entry {
            call: "FindSubject".into(),
            case_id: "CS-1".into(),
            subjects: vec!["p-main".into()],
            candidates: vec!["p-other".into()],
            decision: "permit".into(),
            reason: "rule comune-presa-in-carico".into(),
            ..Entry::default()
        };
        let found = |entry: &Entry| Found {
            chain: "gateway-a".into(),
            seq: 3,
            entry: entry.clone(),
        };
        let other = ["p-other".to_string()];
        let seen = access_entry(found(&e), Some(&other));
        assert_eq!((seen.seq, seen.replica.as_str()), (3, "gateway-a"));
        assert!(seen.as_candidate);
        assert_eq!((seen.case_id.as_str(), seen.rule.as_str()), ("", ""));
        assert_eq!(seen.call, "FindSubject", "the call stays a code");
        let main = ["p-main".to_string()];
        let seen = access_entry(found(&e), Some(&main));
        assert!(!seen.as_candidate);
        assert_eq!(seen.case_id, "CS-1");
        let review = access_entry(found(&e), None);
        assert!(!review.as_candidate);
        assert_eq!(
            (review.case_id.as_str(), review.rule.as_str()),
            ("CS-1", "comune-presa-in-carico")
        );
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
