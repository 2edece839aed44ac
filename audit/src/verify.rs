//! Verification of an audit log: recomputes the chain, checks the subject
//! index against the entries, and checks every signed checkpoint (from the
//! database and from the shipped checkpoint file) against the entries it
//! covers. Reports each problem with the sequence number where it is.
//! [`verify`] checks one chain; [`verify_all`] every chain of a database
//! shared by replicas, and any chain the shipped checkpoints name that the
//! database no longer holds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::chain::{self, Checkpoint, GENESIS, SignatureCheck, SignatureVerifier};
use crate::store::{Horizon, StoredEntry};
use crate::{AuditError, Entry, Store};

/// Entries read per page.
const PAGE: i64 = 10_000;

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The sequence number where it is.
    pub seq: i64,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}", self.seq, self.what)
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Entries read.
    pub entries: i64,
    /// The last sequence number.
    pub last_seq: i64,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// The last valid checkpoint's sequence number and time.
    pub last_checkpoint: Option<(i64, String)>,
    /// Where retention cut the log, if it did: the entries up to it were
    /// removed, and the log starts after it.
    pub horizon: Option<Horizon>,
    /// Problems, in order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the log is intact.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies every chain of the database `store` is a handle on, by chain
/// name: those the database holds and those `shipped` names (a chain
/// deleted whole is then found missing).
pub async fn verify_all(
    store: &Store,
    verifier: &SignatureVerifier,
    shipped: &[Checkpoint],
) -> Result<Vec<(String, Report)>, AuditError> {
    let mut chains = store.chains().await?;
    chains.extend(shipped.iter().map(|cp| cp.chain.clone()));
    chains.sort();
    chains.dedup();
    let mut reports = Vec::with_capacity(chains.len());
    for chain in chains {
        let report = verify(&store.on_chain(&chain), verifier, shipped).await?;
        reports.push((chain, report));
    }
    Ok(reports)
}

/// Verifies the chain `store` is a handle on. `verifier` checks checkpoint
/// signatures (the node's certificate); `shipped` are checkpoints kept
/// outside the database (the checkpoint file; those of other chains are
/// left aside), which catch a truncation that also removed the checkpoints
/// from the database.
pub async fn verify(
    store: &Store,
    verifier: &SignatureVerifier,
    shipped: &[Checkpoint],
) -> Result<Report, AuditError> {
    let horizon = store.horizon().await?;
    // Read before the walk: a checkpoint a live writer signs meanwhile would
    // cover entries the walk has not seen, and read as a truncation.
    let recorded = store.checkpoints().await?;
    let mut walk = Walk::after(horizon.as_ref());
    // From the very bottom: an entry slipped in below 1 (or below the
    // retention horizon) is an insertion.
    let mut after = i64::MIN;
    loop {
        let page = store.entries_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        let index = store.subjects_between(page[0].seq, last.seq).await?;
        for e in &page {
            walk.entry(e, &index);
        }
        after = last.seq;
    }
    let Walk {
        mut report, hashes, ..
    } = walk;
    for seq in store.dangling_subjects().await? {
        report.problems.push(Problem {
            seq,
            what: "the subject index points at an entry that is not in the log (deleted)".into(),
        });
    }
    let mut all: BTreeMap<(i64, String), Checkpoint> = BTreeMap::new();
    for cp in recorded.into_iter().chain(
        shipped
            .iter()
            .filter(|cp| cp.chain == store.chain())
            .cloned(),
    ) {
        all.insert((cp.seq, cp.signature.clone()), cp);
    }
    let mut vouched = false;
    for cp in all.values() {
        report.checkpoints += 1;
        if let Some(problem) = signature_problem(verifier, cp) {
            report.problems.push(problem);
            continue;
        }
        match &horizon {
            // Sealed entries that retention removed.
            Some(h) if cp.seq < h.seq => {}
            Some(h) if cp.seq == h.seq => vouched |= cp.hash == h.hash,
            _ => checkpoint_against_log(&mut report, &hashes, cp),
        }
    }
    if let Some(h) = &horizon
        && !vouched
    {
        report.problems.push(Problem {
            seq: h.seq,
            what: "the log starts after this entry, but no signed checkpoint seals it with that hash: \
                   entries were removed outside retention"
                .into(),
        });
    }
    report.horizon = horizon;
    report.problems.sort_by_key(|p| p.seq);
    Ok(report)
}

/// The walk along the chain: what it found so far, the hash of every
/// entry by sequence number, the number expected next and the hash the
/// next entry must follow.
struct Walk {
    report: Report,
    hashes: BTreeMap<i64, String>,
    expected: i64,
    prev: String,
}

impl Walk {
    /// A walk from the start of the log: the first entry, or the one after
    /// the retention horizon, following its hash.
    fn after(horizon: Option<&Horizon>) -> Walk {
        let (expected, prev) =
            horizon.map_or((1, GENESIS.to_string()), |h| (h.seq + 1, h.hash.clone()));
        Walk {
            report: Report::default(),
            hashes: BTreeMap::new(),
            expected,
            prev,
        }
    }

    /// Checks one entry: its place in the sequence, its link to the entry
    /// before, its own hash, and the subject index rows that point at it.
    fn entry(&mut self, e: &StoredEntry, index: &HashMap<i64, Vec<String>>) {
        self.report.entries += 1;
        if e.seq < 1 {
            self.problem(e.seq, "inserted: sequence numbers start at 1".into());
            return;
        }
        if e.seq != self.expected {
            let what = if e.seq > self.expected {
                format!(
                    "missing: entries {}..{} are not in the log (deleted)",
                    self.expected,
                    e.seq - 1
                )
            } else {
                "out of order".into()
            };
            self.problem(self.expected, what);
        }
        if e.prev_hash != self.prev {
            self.problem(
                e.seq,
                "does not follow the entry before it (an entry was inserted, deleted or reordered here)".into(),
            );
        }
        if chain::entry_hash(e.seq, &e.prev_hash, &e.payload) != e.hash {
            self.problem(
                e.seq,
                "contents altered: the entry does not match its hash".into(),
            );
        }
        if let Some(what) = index_problem(e, index) {
            self.problem(e.seq, what);
        }
        self.hashes.insert(e.seq, e.hash.clone());
        self.prev = e.hash.clone();
        self.expected = e.seq + 1;
        self.report.last_seq = e.seq;
    }

    fn problem(&mut self, seq: i64, what: String) {
        self.report.problems.push(Problem { seq, what });
    }
}

/// What is wrong with the subject index rows of entry `e`, if anything:
/// they must name exactly the entry's subjects and candidates.
fn index_problem(e: &StoredEntry, index: &HashMap<i64, Vec<String>>) -> Option<String> {
    match Entry::from_payload(&e.payload) {
        Ok(entry) => {
            let mut want = entry.subjects;
            want.extend(entry.candidates);
            want.sort();
            want.dedup();
            let mut have = index.get(&e.seq).cloned().unwrap_or_default();
            have.sort();
            (want != have).then(|| {
                "the subject index does not match the entry (index rows added or removed)".into()
            })
        }
        Err(err) => Some(format!("unreadable entry: {err}")),
    }
}

/// What is wrong with a checkpoint's signature, if anything.
fn signature_problem(verifier: &SignatureVerifier, cp: &Checkpoint) -> Option<Problem> {
    let what = match verifier.check(cp) {
        SignatureCheck::Valid => return None,
        SignatureCheck::UnknownKey => format!(
            "checkpoint of {} is signed by key {}, which none of the certificates given holds: \
             if the node's certificate was renewed since, pass the earlier one too (--cert)",
            cp.time,
            cp.key_id.get(..16).unwrap_or(&cp.key_id)
        ),
        SignatureCheck::Invalid => format!(
            "checkpoint of {} has no valid signature by the node's key (forged or altered)",
            cp.time
        ),
    };
    Some(Problem { seq: cp.seq, what })
}

/// A validly signed checkpoint held against the log: the entry it covers
/// must be there with the hash it signed.
fn checkpoint_against_log(report: &mut Report, hashes: &BTreeMap<i64, String>, cp: &Checkpoint) {
    let what = match hashes.get(&cp.seq) {
        Some(h) if *h == cp.hash => {
            if report
                .last_checkpoint
                .as_ref()
                .is_none_or(|(s, _)| *s <= cp.seq)
            {
                report.last_checkpoint = Some((cp.seq, cp.time.clone()));
            }
            return;
        }
        Some(_) => format!(
            "differs from the checkpoint signed at {}: the log was rewritten up to here",
            cp.time
        ),
        None if cp.seq > report.last_seq => format!(
            "missing, but a checkpoint signed at {} covers it: the log was truncated after entry {}",
            cp.time, report.last_seq
        ),
        None => format!(
            "missing (deleted), but a checkpoint signed at {} covers it",
            cp.time
        ),
    };
    report.problems.push(Problem { seq: cp.seq, what });
}
