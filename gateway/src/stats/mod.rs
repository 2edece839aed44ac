//! Statistics across partners (`Aggregate`): the question validated
//! ([`question`]), the values its table lists whatever the data
//! ([`domain`]), the partners' sketches merged into a table with its
//! margins and overlaps and the difference check ([`table`]), each count
//! published under disclosure control ([`disclosure`]), and a short-lived
//! cache of published tables (published, protected aggregates are all the
//! gateway keeps; never a sketch).

pub mod aggregate;
pub mod disclosure;
pub mod domain;
pub mod question;
pub mod table;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use trama_proto::v1;

use crate::config::StatisticsConfig;
use disclosure::Perturbation;

/// Most published tables kept in the cache.
const CACHE_CAPACITY: u64 = 1_000;

/// The gateway's statistics state.
#[derive(Debug, Clone)]
pub struct Statistics {
    /// The perturbation table and cell-key secret.
    pub perturbation: Arc<Perturbation>,
    /// The districts and municipalities every table lists.
    pub places: Arc<domain::Places>,
    cache: Option<moka::sync::Cache<String, Arc<v1::AggregateResponse>>>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

/// Why the statistics state cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("{}: statistics.cell_key: {problem}", path.display())]
pub struct CellKeyError {
    /// The key file.
    pub path: std::path::PathBuf,
    /// What is wrong.
    pub problem: String,
}

impl Statistics {
    /// The statistics state of `config`: the cell-key secret is read, or
    /// created on first start.
    pub fn open(config: &StatisticsConfig) -> Result<Statistics, CellKeyError> {
        let secret = cell_key(&config.cell_key)?;
        Ok(Statistics::new(config, &secret))
    }

    /// The statistics state with a given secret.
    pub fn new(config: &StatisticsConfig, secret: &[u8]) -> Statistics {
        let cache = (!config.cache_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(config.cache_ttl)
                .build()
        });
        Statistics {
            perturbation: Arc::new(Perturbation::new(config.disclosure.clone(), secret)),
            places: Arc::new(config.places.clone()),
            cache,
            hits: Arc::new(AtomicU64::new(0)),
            misses: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A published table for this question, if still fresh; counted in the
    /// metrics' hit ratio.
    pub fn cached(&self, question: &str) -> Option<Arc<v1::AggregateResponse>> {
        let cache = self.cache.as_ref()?;
        let found = cache.get(question);
        let (result, counter) = match found {
            Some(_) => ("hit", &self.hits),
            None => ("miss", &self.misses),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("trama_aggregate_cache_total", "result" => result).increment(1);
        let hits = self.hits.load(Ordering::Relaxed) as f64;
        let all = hits + self.misses.load(Ordering::Relaxed) as f64;
        metrics::gauge!("trama_aggregate_cache_hit_ratio").set(hits / all.max(1.0));
        found
    }

    /// Keeps a complete published table for its time to live.
    pub fn keep(&self, question: String, table: Arc<v1::AggregateResponse>) {
        if let Some(cache) = &self.cache {
            cache.insert(question, table);
        }
    }
}

/// Reads the cell-key secret, creating it on first start.
pub(crate) fn cell_key(path: &Path) -> Result<Vec<u8>, CellKeyError> {
    let problem = |problem: String| CellKeyError {
        path: path.to_path_buf(),
        problem,
    };
    if !path.exists() {
        trama_audit::Pseudonymiser::generate(path).map_err(|e| problem(e.to_string()))?;
        tracing::info!(file = %path.display(), "created a new cell-key secret for statistics; back it up and give it to every gateway replica");
    }
    let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    match hex::decode(text.trim()).ok() {
        Some(b) if b.len() >= 16 => Ok(b),
        _ => Err(problem(
            "not a key: restore the file from backup (a new key changes every published count)"
                .into(),
        )),
    }
}
