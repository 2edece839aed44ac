//! Verification of an audit log: recomputes the chain, checks the subject
//! index against the entries, and checks every signed checkpoint (from the
//! database and from the shipped checkpoint file) against the entries it
//! covers. Reports each problem with the sequence number where it is.

use std::collections::BTreeMap;
use std::fmt;

use crate::chain::{self, Checkpoint, GENESIS, SignatureCheck, SignatureVerifier};
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
    /// Problems, in order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the log is intact.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the log in `store`. `verifier` checks checkpoint signatures
/// (the node's certificate); `shipped` are checkpoints kept outside the
/// database (the checkpoint file), which catch a truncation that also
/// removed the checkpoints from the database.
pub async fn verify(
    store: &Store,
    verifier: &SignatureVerifier,
    shipped: &[Checkpoint],
) -> Result<Report, AuditError> {
    let mut report = Report::default();
    let mut hashes: BTreeMap<i64, String> = BTreeMap::new();
    let mut expected = 1i64;
    let mut prev = GENESIS.to_string();
    // From the very bottom: an entry slipped in below 1 is an insertion.
    let mut after = i64::MIN;
    loop {
        let page = store.entries_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        let (first_seq, last_seq) = (page[0].seq, last.seq);
        let index = store.subjects_between(first_seq, last_seq).await?;
        for e in &page {
            report.entries += 1;
            if e.seq < 1 {
                report.problems.push(Problem {
                    seq: e.seq,
                    what: "inserted: sequence numbers start at 1".into(),
                });
                continue;
            }
            if e.seq != expected {
                report.problems.push(Problem {
                    seq: expected,
                    what: if e.seq > expected {
                        format!(
                            "missing: entries {expected}..{} are not in the log (deleted)",
                            e.seq - 1
                        )
                    } else {
                        "out of order".into()
                    },
                });
            }
            if e.prev_hash != prev {
                report.problems.push(Problem {
                    seq: e.seq,
                    what: "does not follow the entry before it (an entry was inserted, deleted or reordered here)".into(),
                });
            }
            if chain::entry_hash(e.seq, &e.prev_hash, &e.payload) != e.hash {
                report.problems.push(Problem {
                    seq: e.seq,
                    what: "contents altered: the entry does not match its hash".into(),
                });
            }
            match Entry::from_payload(&e.payload) {
                Ok(entry) => {
                    let mut want = entry.subjects;
                    want.extend(entry.candidates);
                    want.sort();
                    want.dedup();
                    let mut have = index.get(&e.seq).cloned().unwrap_or_default();
                    have.sort();
                    if want != have {
                        report.problems.push(Problem {
                            seq: e.seq,
                            what: "the subject index does not match the entry (index rows added or removed)".into(),
                        });
                    }
                }
                Err(err) => report.problems.push(Problem {
                    seq: e.seq,
                    what: format!("unreadable entry: {err}"),
                }),
            }
            hashes.insert(e.seq, e.hash.clone());
            prev = e.hash.clone();
            expected = e.seq + 1;
            report.last_seq = e.seq;
        }
        after = last_seq;
    }
    for seq in store.dangling_subjects().await? {
        report.problems.push(Problem {
            seq,
            what: "the subject index points at an entry that is not in the log (deleted)".into(),
        });
    }

    let mut all: BTreeMap<(i64, String), Checkpoint> = BTreeMap::new();
    for cp in store
        .checkpoints()
        .await?
        .into_iter()
        .chain(shipped.iter().cloned())
    {
        all.insert((cp.seq, cp.signature.clone()), cp);
    }
    for cp in all.values() {
        report.checkpoints += 1;
        match verifier.check(cp) {
            SignatureCheck::Valid => {}
            SignatureCheck::UnknownKey => {
                report.problems.push(Problem {
                    seq: cp.seq,
                    what: format!(
                        "checkpoint of {} is signed by key {}, which none of the certificates given holds: \
                         if the node's certificate was renewed since, pass the earlier one too (--cert)",
                        cp.time,
                        cp.key_id.get(..16).unwrap_or(&cp.key_id)
                    ),
                });
                continue;
            }
            SignatureCheck::Invalid => {
                report.problems.push(Problem {
                    seq: cp.seq,
                    what: format!(
                        "checkpoint of {} has no valid signature by the node's key (forged or altered)",
                        cp.time
                    ),
                });
                continue;
            }
        }
        match hashes.get(&cp.seq) {
            Some(h) if *h == cp.hash => {
                if report.last_checkpoint.as_ref().is_none_or(|(s, _)| *s <= cp.seq) {
                    report.last_checkpoint = Some((cp.seq, cp.time.clone()));
                }
            }
            Some(_) => report.problems.push(Problem {
                seq: cp.seq,
                what: format!(
                    "differs from the checkpoint signed at {}: the log was rewritten up to here",
                    cp.time
                ),
            }),
            None if cp.seq > report.last_seq => report.problems.push(Problem {
                seq: cp.seq,
                what: format!(
                    "missing, but a checkpoint signed at {} covers it: the log was truncated after entry {}",
                    cp.time, report.last_seq
                ),
            }),
            None => report.problems.push(Problem {
                seq: cp.seq,
                what: format!(
                    "missing (deleted), but a checkpoint signed at {} covers it",
                    cp.time
                ),
            }),
        }
    }
    report.problems.sort_by_key(|p| p.seq);
    Ok(report)
}
