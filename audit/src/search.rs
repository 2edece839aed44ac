//! Reading the log back for the access log: entries newest first, in
//! bounded batches by sequence number (keyset pages: a range of the
//! primary key, or of the subject index, per batch), filtered here by
//! operator, organisation, purpose, call and period. The chains of
//! replicas sharing a database are read side by side and merged by time,
//! so a listing shows every access whichever replica recorded it. A search
//! holds at most one batch per chain and its page in memory and takes at
//! most [`Search::scan`] entries per call; a chain stops early once its
//! entries fall before the period's start (the writer stamps entries as it
//! chains them, so times increase with `seq`), and the page says where the
//! next one starts in every chain ([`Cursor`]).

use std::collections::{BTreeMap, VecDeque};

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

/// Where a listing stands in each chain: the entries of a chain below its
/// position are still to come. A fresh cursor starts every chain from its
/// newest entry; in a listing under way, a chain the cursor does not name
/// began after the listing did and is left out (its entries are newer than
/// the first page), as new entries of a chain are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    positions: BTreeMap<String, i64>,
    begun: bool,
}

impl Cursor {
    /// The cursor a page token stands for; `""` is a fresh listing. A
    /// token is `chain:seq` pairs joined by commas, as [`Cursor::token`]
    /// writes them; `Err` says what is wrong with it.
    pub fn parse(token: &str) -> Result<Cursor, String> {
        let mut cursor = Cursor::default();
        if token.is_empty() {
            return Ok(cursor);
        }
        cursor.begun = true;
        for pair in token.split(',') {
            let parsed = pair
                .rsplit_once(':')
                .and_then(|(chain, seq)| Some((chain, seq.parse::<i64>().ok()?)));
            let Some((chain, seq)) = parsed.filter(|(_, seq)| *seq >= 1) else {
                return Err(format!(
                    "`{pair}` is not a position (replica:entry); send back the page token the previous answer gave"
                ));
            };
            cursor.positions.insert(chain.to_string(), seq);
        }
        Ok(cursor)
    }

    /// The token of this cursor, for the next page.
    pub fn token(&self) -> String {
        let pairs: Vec<String> = self
            .positions
            .iter()
            .map(|(chain, seq)| format!("{chain}:{seq}"))
            .collect();
        pairs.join(",")
    }

    /// Where `chain` resumes: below this sequence number; `None` when it
    /// has nothing more for this listing.
    fn resume(&self, chain: &str) -> Option<i64> {
        if !self.begun {
            return Some(i64::MAX);
        }
        self.positions.get(chain).copied().filter(|seq| *seq > 1)
    }
}

/// One search of the log.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    /// Pseudonyms of the person asked about; empty: the whole log.
    pub subjects: &'a [String],
    /// What entries must match.
    pub filter: &'a Filter,
    /// Where the listing stands (a fresh cursor: from the newest entry).
    pub from: &'a Cursor,
    /// Most entries in the page.
    pub limit: usize,
    /// Most entries read to fill it.
    pub scan: usize,
}

/// One entry found: the chain (the replica that wrote it), its sequence
/// number there, and what it says.
#[derive(Debug, Clone)]
pub struct Found {
    /// The chain's name (`""` for the only chain of a log).
    pub chain: String,
    /// The entry's sequence number in its chain.
    pub seq: i64,
    /// The entry.
    pub entry: Entry,
}

/// A page of entries, newest first across chains.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The entries that match.
    pub entries: Vec<Found>,
    /// Where the next page starts; `None`: no more entries.
    pub next: Option<Cursor>,
}

/// One chain in a search: the handle reading it, where it resumes, the
/// batch read and not yet taken (with each entry's time), and whether the
/// chain has nothing beyond that batch.
struct Lane {
    store: Store,
    before: i64,
    batch: VecDeque<(i64, Entry, Option<OffsetDateTime>)>,
    ended: bool,
}

impl Lane {
    fn done(&self) -> bool {
        self.ended && self.batch.is_empty()
    }
}

/// Reads one page: every chain's entries newest first, merged by time,
/// until the page is full, the period's start is passed in every chain,
/// the log ends or `scan` entries were taken.
pub async fn search(store: &Store, s: Search<'_>) -> Result<Page, AuditError> {
    let mut lanes: Vec<Lane> = Vec::new();
    for chain in store.chains().await? {
        if let Some(before) = s.from.resume(&chain) {
            lanes.push(Lane {
                store: store.on_chain(&chain),
                before,
                batch: VecDeque::new(),
                ended: false,
            });
        }
    }
    let mut page = Page::default();
    let mut scanned = 0;
    while scanned < s.scan {
        for lane in lanes.iter_mut().filter(|l| l.batch.is_empty() && !l.ended) {
            let want = BATCH.min(s.scan - scanned);
            let batch = read(&lane.store, s.subjects, lane.before, want).await?;
            lane.ended = batch.len() < want;
            lane.batch.extend(batch.into_iter().map(|(seq, e)| {
                let t = time_of(&e);
                (seq, e, t)
            }));
        }
        let Some(lane) = newest(&mut lanes) else {
            return Ok(page);
        };
        let Some((seq, entry, _)) = lane.batch.pop_front() else {
            return Ok(page);
        };
        scanned += 1;
        lane.before = seq;
        if s.filter.before_period(&entry) {
            // This chain is done; the others may still be in the period.
            lane.batch.clear();
            lane.ended = true;
            continue;
        }
        if s.filter.keeps(&entry) {
            let chain = lane.store.chain().to_string();
            page.entries.push(Found { chain, seq, entry });
            if page.entries.len() >= s.limit {
                break;
            }
        }
    }
    page.next = resume_at(&lanes);
    Ok(page)
}

/// The lane whose next entry is the newest (the later chain name first
/// among entries of the same instant).
fn newest(lanes: &mut [Lane]) -> Option<&mut Lane> {
    lanes
        .iter_mut()
        .filter(|l| !l.batch.is_empty())
        .max_by(|a, b| {
            let head = |l: &Lane| l.batch.front().map(|(_, _, t)| *t);
            head(a)
                .cmp(&head(b))
                .then_with(|| a.store.chain().cmp(b.store.chain()))
        })
}

/// The cursor after the entries taken; `None` when every chain is done.
fn resume_at(lanes: &[Lane]) -> Option<Cursor> {
    let positions: BTreeMap<String, i64> = lanes
        .iter()
        .filter(|l| !l.done() && l.before > 1)
        .map(|l| (l.store.chain().to_string(), l.before))
        .collect();
    (!positions.is_empty()).then_some(Cursor {
        positions,
        begun: true,
    })
}

/// One batch below `before`, from the subject index or the whole chain.
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

    #[test]
    fn a_page_token_names_where_each_chain_resumes() {
        let fresh = Cursor::parse("");
        assert_eq!(fresh, Ok(Cursor::default()));
        assert_eq!(Cursor::default().resume("gateway-a"), Some(i64::MAX));
        let Ok(cursor) = Cursor::parse("gateway-a:41,gateway-b:7,:3") else {
            panic!("a token")
        };
        assert_eq!(cursor.resume("gateway-a"), Some(41));
        assert_eq!(cursor.resume(""), Some(3));
        assert_eq!(cursor.resume("gateway-c"), None, "began after the listing");
        assert_eq!(Cursor::parse(&cursor.token()), Ok(cursor));
        for bad in ["gateway-a", "gateway-a:x", "gateway-a:0", "a:1,,b:2"] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
