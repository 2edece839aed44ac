//! Reading the log back for the access log: entries newest first, in
//! bounded batches by sequence number (keyset pages: a range of the
//! primary key, or of the subject index, per batch), filtered here by
//! operator, organisation, purpose, call and period. A search never holds
//! more than one batch and its page in memory and reads at most
//! [`Search::scan`] entries per call; it stops early once entries fall
//! before the period's start (the writer stamps entries as it chains
//! them, so times increase with `seq`), and says where the next page
//! starts.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{AuditError, Entry, Store};

/// Entries read from the database per round trip.
const BATCH: usize = 200;

/// What entries must match; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The operator's id, exactly.
    pub operator_id: Option<String>,
    /// The client organisation, exactly.
    pub organisation: Option<String>,
    /// The purpose stated, exactly.
    pub purpose: Option<String>,
    /// The call's name, exactly.
    pub call: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Entries before this instant.
    pub to: Option<OffsetDateTime>,
}

impl Filter {
    /// Whether `e` matches every filter given.
    pub fn keeps(&self, e: &Entry) -> bool {
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        same(&self.operator_id, &e.operator_id)
            && same(&self.organisation, &e.organisation)
            && same(&self.purpose, &e.purpose)
            && same(&self.call, &e.call)
            && self.in_period(e)
    }

    fn in_period(&self, e: &Entry) -> bool {
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let Some(t) = time_of(e) else { return false };
        self.from.is_none_or(|from| t >= from) && self.to.is_none_or(|to| t < to)
    }

    /// Whether `e`, and so every older entry, is before the period.
    fn before_period(&self, e: &Entry) -> bool {
        match (self.from, time_of(e)) {
            (Some(from), Some(t)) => t < from,
            _ => false,
        }
    }
}

/// When an entry was written.
fn time_of(e: &Entry) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&e.time, &Rfc3339).ok()
}

/// One search of the log.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    /// Pseudonyms of the person asked about; empty: the whole log.
    pub subjects: &'a [String],
    /// What entries must match.
    pub filter: &'a Filter,
    /// Only entries with `seq` below this one; 0: from the newest.
    pub before: i64,
    /// Most entries in the page.
    pub limit: usize,
    /// Most entries read to fill it.
    pub scan: usize,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The entries that match, with their sequence numbers.
    pub entries: Vec<(i64, Entry)>,
    /// Where the next page starts (its `before`); 0: no more entries.
    pub next_before: i64,
}

/// Reads one page: batches newest first from `before` down until the page
/// is full, the period's start is passed, the log ends or `scan` entries
/// were read.
pub async fn search(store: &Store, s: Search<'_>) -> Result<Page, AuditError> {
    let mut cursor = if s.before <= 0 { i64::MAX } else { s.before };
    let mut scanned = 0;
    let mut page = Page::default();
    loop {
        let want = BATCH.min(s.scan.saturating_sub(scanned));
        if want == 0 {
            page.next_before = next(cursor);
            return Ok(page);
        }
        let batch = read(store, s.subjects, cursor, want).await?;
        let ended = batch.len() < want;
        for (seq, entry) in batch {
            scanned += 1;
            cursor = seq;
            if s.filter.before_period(&entry) {
                return Ok(page);
            }
            if s.filter.keeps(&entry) {
                page.entries.push((seq, entry));
                if page.entries.len() >= s.limit {
                    page.next_before = next(seq);
                    return Ok(page);
                }
            }
        }
        if ended {
            return Ok(page);
        }
    }
}

/// The cursor of the page after the entry `seq`: none below the first.
fn next(seq: i64) -> i64 {
    if seq <= 1 { 0 } else { seq }
}

/// One batch below `before`, from the subject index or the whole log.
async fn read(
    store: &Store,
    subjects: &[String],
    before: i64,
    want: usize,
) -> Result<Vec<(i64, Entry)>, AuditError> {
    let want = i64::try_from(want).unwrap_or(i64::MAX);
    if subjects.is_empty() {
        store.entries_before(before, want).await
    } else {
        store.by_subject(subjects, before, want).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(operator: &str, time: &str) -> Entry {
        Entry {
            operator_id: operator.into(),
            organisation: "comune".into(),
            purpose: "presa_in_carico".into(),
            call: "GetRecord".into(),
            time: time.into(),
            ..Entry::default()
        }
    }

    fn at(text: &str) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(text, &Rfc3339).ok()
    }

    #[test]
    fn filters_match_exactly_and_the_period_is_half_open() {
        let f = Filter {
            operator_id: Some("laura.ferrari".into()),
            from: at("2026-07-14T00:00:00+02:00"),
            to: at("2026-07-15T00:00:00+02:00"),
            ..Filter::default()
        };
        for (e, keeps, before) in [
            (entry("laura.ferrari", "2026-07-14T08:00:00Z"), true, false),
            (entry("laura", "2026-07-14T08:00:00Z"), false, false),
            (entry("laura.ferrari", "2026-07-13T22:00:00Z"), true, false),
            (entry("laura.ferrari", "2026-07-13T21:59:59Z"), false, true),
            (entry("laura.ferrari", "2026-07-14T22:00:00Z"), false, false),
            (entry("laura.ferrari", "not a time"), false, false),
        ] {
            assert_eq!(f.keeps(&e), keeps, "{e:?}");
            assert_eq!(f.before_period(&e), before, "{e:?}");
        }
        assert!(Filter::default().keeps(&entry("x", "not a time")));
    }
}
