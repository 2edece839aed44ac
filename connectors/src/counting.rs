//! Counting at the partner (`CountPeople`): every fact query that serves
//! the dimensions asked runs under the statement timeout, on the
//! connector's pool like every other call, and its rows are read into
//! sketches of pseudonyms ([`crate::facts`] says what a fact is and how
//! one is counted).

use std::collections::HashMap;
use std::time::Instant;

use trama_proto::stats::Dimension;

use crate::error::CallError;
use crate::facts::{CountAsk, Counted, FactReader, Groups, Uses, sketch};
use crate::linkage::Linkage;
use crate::runtime::Connector;

impl Connector {
    /// Counts the partner's people by the dimensions of `ask`, from every
    /// fact query that serves them, each query under the statement
    /// timeout and on the connector's pool like every other call.
    pub async fn count(&self, ask: &CountAsk, linkage: &Linkage) -> Result<Counted, CallError> {
        let dims = ask.dimensions();
        let mut counted = Counted {
            cells: Groups::new(),
            base: Groups::new(),
            without_tax_code: sketch(),
            rows_read: 0,
            query_ms: 0,
        };
        for q in &self.mapping.facts {
            // The base groups count the table's own population (the same
            // facts, no filter), so that what a filter leaves out is
            // measured on the people the table counts.
            if !q.serves(&dims) {
                continue;
            }
            let uses = Uses {
                cells: true,
                base: !ask.base_by.is_empty(),
            };
            let started = Instant::now();
            let rows = match q.narrowed(&ask.needed()) {
                Some(sql) => self.run_text(&q.query.key, &sql).await?,
                None => self.run_raw(&q.query, &HashMap::new()).await?,
            };
            let elapsed = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
            counted.query_ms = counted.query_ms.saturating_add(elapsed);
            counted.rows_read += rows.rows.len() as u64;
            let reader = FactReader::new(&self.mapping.codes, &self.organisation, q, &rows);
            for row in &rows.rows {
                if let Some(fact) = reader.read(row, linkage) {
                    counted.add(&fact, ask, uses)?;
                }
            }
        }
        Ok(counted)
    }
}

/// One fact as a count reads it: who, and its value on every dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFact {
    /// The person's linkage pseudonym.
    pub person: u64,
    /// The fact's value on each dimension, in [`Dimension::ALL`] order
    /// (`-` when not recorded; an intervention has no need).
    pub values: Vec<String>,
}

impl Connector {
    /// Every fact of the mapping's fact queries, read exactly as a count
    /// reads them: the ground truth against which the lab measures what the
    /// published statistics give away. Never served over the network.
    pub async fn read_facts(&self, linkage: &Linkage) -> Result<Vec<ReadFact>, CallError> {
        let mut out = Vec::new();
        for q in &self.mapping.facts {
            let rows = self.run_raw(&q.query, &HashMap::new()).await?;
            let reader = FactReader::new(&self.mapping.codes, &self.organisation, q, &rows);
            for row in &rows.rows {
                if let Some(fact) = reader.read(row, linkage) {
                    out.push(ReadFact {
                        person: fact.person,
                        values: Dimension::ALL.iter().map(|d| fact.value(*d)).collect(),
                    });
                }
            }
        }
        Ok(out)
    }
}
