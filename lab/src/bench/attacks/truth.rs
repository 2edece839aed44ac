//! The ground truth the attacks are scored against: every fact of every
//! partner, read from the partners' own databases with their own mapping
//! queries (through the connector's own reading of facts, so that a person
//! is the same pseudonym the published counts are made of), and what an
//! attacker is assumed to know of each target: district, sex and age band.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use trama_connector::counting::ReadFact;
use trama_connector::linkage::Linkage;
use trama_connector::mapping::Mapping;
use trama_connector::runtime::Connector;
use trama_connector::source::{Database, Limits};
use trama_proto::stats::{Dimension, NOT_RECORDED};

use crate::sandbox::{Federation, LINKAGE_KEY};
use crate::seed::Partner;

/// Position of a dimension in a fact's values.
pub fn at(d: Dimension) -> usize {
    Dimension::ALL.iter().position(|x| *x == d).unwrap_or(0)
}

/// A person the attacker targets: the group they are known to be in, and
/// what the attacker wants to learn.
#[derive(Debug, Clone)]
pub struct Target {
    /// The person's pseudonym.
    pub person: u64,
    /// District, sex and age band of every need recorded for them.
    pub group: [String; 3],
    /// Their needs.
    pub needs: BTreeSet<String>,
    /// The partners that record a need of theirs.
    pub partners: BTreeSet<String>,
    /// The years of their needs.
    pub years: BTreeSet<String>,
}

/// Every partner's need facts, by person.
#[derive(Debug, Default)]
pub struct Truth {
    /// Need facts: partner, then the fact.
    pub needs: Vec<(String, ReadFact)>,
    /// The partners read.
    pub partners: Vec<String>,
}

impl Truth {
    /// Reads every partner of `running` (on SQLite or a server).
    pub async fn read(running: &Federation) -> anyhow::Result<Truth> {
        let linkage = Linkage::load(&running.dir.join(LINKAGE_KEY))?;
        let mut truth = Truth::default();
        for p in Partner::ALL {
            let org = p.organisation();
            let Some(url) = running.database_url(org) else {
                continue;
            };
            let connector = open(&running.dir.join(org), org, url).await?;
            let facts = connector.read_facts(&linkage).await?;
            truth.partners.push(org.to_string());
            truth.needs.extend(
                facts
                    .into_iter()
                    .filter(|f| f.values[at(Dimension::Need)] != NOT_RECORDED)
                    .map(|f| (org.to_string(), f)),
            );
        }
        Ok(truth)
    }

    /// People whose needs all share one known district, sex and age band:
    /// those an attacker can place in a group.
    pub fn targets(&self) -> Vec<Target> {
        let mut by: HashMap<u64, Vec<&(String, ReadFact)>> = HashMap::new();
        for f in &self.needs {
            by.entry(f.1.person).or_default().push(f);
        }
        let mut out: Vec<Target> = by
            .into_iter()
            .filter_map(|(person, facts)| target(person, &facts))
            .collect();
        out.sort_by_key(|t| t.person);
        out
    }

    /// People in `group` with need `need` (`None`: any need), by sex left
    /// free when `sex` is `None`.
    pub fn count(&self, group: [Option<&str>; 3], need: Option<&str>) -> u64 {
        let dims = [Dimension::District, Dimension::Sex, Dimension::AgeBand];
        let people: BTreeSet<u64> = self
            .needs
            .iter()
            .filter(|(_, f)| {
                dims.iter()
                    .zip(group)
                    .all(|(d, v)| v.is_none_or(|v| f.values[at(*d)] == v))
                    && need.is_none_or(|n| f.values[at(Dimension::Need)] == n)
            })
            .map(|(_, f)| f.person)
            .collect();
        people.len() as u64
    }
}

/// A target of `facts` (one person's), if their group is known.
fn target(person: u64, facts: &[&(String, ReadFact)]) -> Option<Target> {
    let dims = [Dimension::District, Dimension::Sex, Dimension::AgeBand];
    let first = &facts.first()?.1.values;
    let group = dims.map(|d| first[at(d)].clone());
    let same = facts
        .iter()
        .all(|(_, f)| dims.iter().zip(&group).all(|(d, v)| f.values[at(*d)] == *v));
    if !same || group.iter().any(|v| v == NOT_RECORDED) {
        return None;
    }
    let pick = |d: Dimension| -> BTreeSet<String> {
        facts.iter().map(|(_, f)| f.values[at(d)].clone()).collect()
    };
    Some(Target {
        person,
        group,
        needs: pick(Dimension::Need),
        partners: facts.iter().map(|(o, _)| o.clone()).collect(),
        years: pick(Dimension::Year),
    })
}

/// The partner's connector core over its database, with its own mapping.
async fn open(dir: &Path, org: &str, url: &str) -> anyhow::Result<Connector> {
    let text = std::fs::read_to_string(dir.join("mapping.toml"))?;
    let mapping = Mapping::parse(&dir.join("mapping.toml"), &text)?;
    let url = match url.strip_prefix("sqlite://") {
        Some(file) if !file.starts_with('/') => format!("sqlite://{}", dir.join(file).display()),
        _ => url.to_string(),
    };
    let limits = Limits {
        max_connections: 2,
        statement_timeout: Duration::from_secs(600),
    };
    let db = Database::connect(&url, limits)
        .await
        .with_context(|| format!("opening {org}'s database"))?;
    let connector = Connector::new(org.to_string(), mapping, db);
    connector
        .check()
        .await
        .with_context(|| format!("{org}'s mapping does not fit its database"))?;
    Ok(connector)
}
