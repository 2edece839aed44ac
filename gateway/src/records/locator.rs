//! The locator cache: for a subject's keyed pseudonym, which sources held
//! the person and which answered that they did not, at recent answers. In
//! memory only, for a short time. With it, a `GetRecord` by tax code skips
//! the sources known not to hold the person; every other source the caller
//! may ask is asked. It learns from every source that answered (a source
//! that timed out or was not asked stays unknown, and is asked next time),
//! so a federation where one source is slow still learns the rest; a
//! remembered holder that then answers "not found" drops the entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

/// What the locator was asked about a call's subject, and what it knew.
#[derive(Debug, Clone)]
pub struct Located {
    /// The subject's tax-code pseudonym.
    pub pseudonym: String,
    /// What recent answers said of the person, if remembered.
    pub known: Option<Arc<Known>>,
}

/// What recent answers said of one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// Sources that held the person.
    pub holders: Vec<String>,
    /// Sources that answered that they do not.
    pub absent: Vec<String>,
}

impl Known {
    /// `self` with what `answered` (organisation, whether it holds the
    /// person) says; a later answer wins.
    pub fn with(&self, answered: impl IntoIterator<Item = (String, bool)>) -> Known {
        let mut next = self.clone();
        for (organisation, holds) in answered {
            next.holders.retain(|o| *o != organisation);
            next.absent.retain(|o| *o != organisation);
            if holds {
                next.holders.push(organisation);
            } else {
                next.absent.push(organisation);
            }
        }
        next
    }

    /// Whether it says anything.
    pub fn is_empty(&self) -> bool {
        self.holders.is_empty() && self.absent.is_empty()
    }
}

/// Pseudonym → what recent answers said of the person.
#[derive(Debug, Clone)]
pub struct Locator {
    cache: Option<Cache<String, Arc<Known>>>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

impl Locator {
    /// A cache of at most `capacity` subjects, each kept `ttl`; a zero
    /// `ttl` or capacity turns it off.
    pub fn new(ttl: Duration, capacity: u64) -> Locator {
        let cache = (!ttl.is_zero() && capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build()
        });
        Locator {
            cache,
            hits: Arc::default(),
            misses: Arc::default(),
        }
    }

    /// What recent answers said of the subject, if remembered.
    pub fn get(&self, pseudonym: &str) -> Option<Arc<Known>> {
        let cache = self.cache.as_ref()?;
        let found = cache.get(pseudonym);
        let (counter, metric) = if found.is_some() {
            (&self.hits, "trama_locator_hits_total")
        } else {
            (&self.misses, "trama_locator_misses_total")
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(metric).increment(1);
        found
    }

    /// What is remembered of the subject, without counting a hit or a
    /// miss (for learning, not for a call's plan).
    pub fn peek(&self, pseudonym: &str) -> Option<Arc<Known>> {
        self.cache.as_ref()?.get(pseudonym)
    }

    /// Remembers what answers said of the subject.
    pub fn remember(&self, pseudonym: String, known: Known) {
        if known.is_empty() {
            return;
        }
        if let Some(cache) = &self.cache {
            cache.insert(pseudonym, Arc::new(known));
        }
    }

    /// Forgets the subject (a remembered source no longer knows them).
    pub fn forget(&self, pseudonym: &str) {
        if let Some(cache) = &self.cache {
            cache.invalidate(pseudonym);
        }
    }

    /// Hits and misses so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_forgets_and_expires() {
        let l = Locator::new(Duration::from_millis(100), 10);
        assert!(l.get("p").is_none());
        let known = Known::default().with([("comune".into(), true), ("asl".into(), false)]);
        l.remember("p".into(), known.clone());
        assert_eq!(l.get("p").as_deref(), Some(&known));
        // A later answer wins.
        let moved = known.with([("asl".into(), true)]);
        assert_eq!(moved.holders, ["comune", "asl"]);
        assert!(moved.absent.is_empty());
        l.forget("p");
        assert!(l.get("p").is_none());
        l.remember("p".into(), known);
        std::thread::sleep(Duration::from_millis(150));
        assert!(l.get("p").is_none(), "expired");
        assert_eq!(l.counts(), (1, 3));
        let off = Locator::new(Duration::ZERO, 10);
        off.remember("p".into(), Known::default().with([("comune".into(), true)]));
        assert!(off.get("p").is_none());
    }
}
