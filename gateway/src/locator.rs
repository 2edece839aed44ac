//! The locator cache: for a subject's keyed pseudonym, which sources knew
//! the person at the last complete answer. In memory only, for a short
//! time. With it, a `GetRecord` by tax code asks only the sources that know
//! the person instead of the whole federation; a source that then answers
//! "not found" drops the entry, and the next call asks everyone again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

/// What the locator was asked about a call's subject, and what it knew.
#[derive(Debug, Clone)]
pub struct Located {
    /// The subject's tax-code pseudonym.
    pub pseudonym: String,
    /// The sources that held the person at a recent complete answer, if
    /// remembered.
    pub holders: Option<Arc<Vec<String>>>,
}

/// Pseudonym → the organisations that knew the person.
#[derive(Debug, Clone)]
pub struct Locator {
    cache: Option<Cache<String, Arc<Vec<String>>>>,
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

    /// The sources that knew the subject, if remembered.
    pub fn get(&self, pseudonym: &str) -> Option<Arc<Vec<String>>> {
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

    /// Remembers that exactly `sources` know the subject.
    pub fn remember(&self, pseudonym: String, sources: Vec<String>) {
        if let Some(cache) = &self.cache {
            cache.insert(pseudonym, Arc::new(sources));
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
        l.remember("p".into(), vec!["comune".into(), "asl".into()]);
        assert_eq!(l.get("p").map(|s| s.len()), Some(2));
        l.forget("p");
        assert!(l.get("p").is_none());
        l.remember("p".into(), vec!["comune".into()]);
        std::thread::sleep(Duration::from_millis(150));
        assert!(l.get("p").is_none(), "expired");
        assert_eq!(l.counts(), (1, 3));
        let off = Locator::new(Duration::ZERO, 10);
        off.remember("p".into(), vec![]);
        assert!(off.get("p").is_none());
    }
}
