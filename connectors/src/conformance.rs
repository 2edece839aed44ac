//! `trama conformance`: whether a connector's mapping and database behave
//! as the federation expects, before it joins, as a list of named checks
//! that pass or fail with what to fix. Run against a mapping and its
//! database (no certificate, no gateway): the start-up check; what the
//! mapping declares (sections, facts, offer, referrals, cases); the export
//! rules covering every declared section; a sample of people (the
//! integrator's tax codes, else the first of the partner's own table of
//! people) each found first by their tax code and read in every declared
//! section, with every value converting (a value that does not is reported
//! with its mapping key, never dropped unseen); a person the partner does
//! not know not found; the statistics facts and the offer read whole.

use std::collections::BTreeSet;

use trama_proto::v1;
use trama_subject::TaxCode;
use trama_subject::matching::Traits;

use crate::columns::ColumnSpec;
use crate::config::ConnectorConfig;
use crate::mapping::SubjectField;
use crate::model::{Lookup, RecordKey};
use crate::runtime::Connector;
use crate::source::Value;

/// One check: its name, whether it passed, and what it found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What is checked, for example `sampled people are found first`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found; for a failure, what to fix.
    pub detail: String,
}

/// Every check of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// The partner.
    pub organisation: String,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    fn push(&mut self, name: &str, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }
}

/// People sampled at most.
pub const SAMPLE: usize = 20;

/// Runs every check on the connector `config` describes; `samples` are tax
/// codes of people the partner holds (empty: sampled from its table).
pub async fn run(config: &ConnectorConfig, samples: &[String]) -> Report {
    let mut report = Report {
        organisation: config.organisation.clone(),
        ..Report::default()
    };
    let connector = match crate::startup::open(config).await {
        Ok(c) => c.counting_skipped(),
        Err(e) => {
            report.push("the mapping and the database open", false, e.to_string());
            return report;
        }
    };
    if let Err(e) = connector.check().await {
        report.push("the start-up check passes", false, e.to_string());
        return report;
    }
    report.push(
        "the start-up check passes",
        true,
        "every query prepared, planned on an index",
    );
    declared(&connector, &mut report);
    bound(&connector, &mut report);
    exported(&connector, config, &mut report);
    let people = match samples {
        [] => sampled(&connector).await,
        given => given.to_vec(),
    };
    found(&connector, &people, &mut report).await;
    stranger(&connector, &people, &mut report).await;
    whole_reads(&connector, &mut report).await;
    converted(&connector, &mut report);
    report
}

/// What the mapping declares.
fn declared(connector: &Connector, report: &mut Report) {
    let m = &connector.mapping;
    let sections: Vec<&str> = m
        .sections
        .keys()
        .filter_map(|k| v1::Section::try_from(k.0).ok())
        .map(trama_proto::sections::name)
        .collect();
    let detail = format!(
        "system {}; sections: {}; statistics facts: {}; services: {}",
        m.system,
        if sections.is_empty() {
            "none".to_string()
        } else {
            sections.join(", ")
        },
        m.facts.len(),
        m.services.len()
    );
    let something = !sections.is_empty() || !m.facts.is_empty() || !m.services.is_empty();
    report.push("the mapping declares what it serves", something, detail);
}

/// Every section query binds at least one field besides its record id: a
/// section declared but not mapped would send entries that say nothing.
fn bound(connector: &Connector, report: &mut Report) {
    let empty: Vec<&str> = connector
        .mapping
        .sections
        .values()
        .flatten()
        .filter(|q| q.fields.is_empty())
        .map(|q| q.key.as_str())
        .collect();
    let detail = if empty.is_empty() {
        "every section query binds fields".to_string()
    } else {
        format!(
            "{} binds no field besides its record id: bind the columns that hold the section's fields, or drop the section",
            empty.join(", ")
        )
    };
    report.push("every declared section is mapped", empty.is_empty(), detail);
}

/// Every declared section released by some export rule.
fn exported(connector: &Connector, config: &ConnectorConfig, report: &mut Report) {
    let released: BTreeSet<i32> = config
        .export
        .rules
        .iter()
        .flat_map(|r| r.sections.iter().map(|s| *s as i32))
        .collect();
    let unreleased: Vec<&str> = connector
        .mapping
        .sections
        .keys()
        .filter(|k| !released.contains(&k.0))
        .filter_map(|k| v1::Section::try_from(k.0).ok())
        .map(trama_proto::sections::name)
        .collect();
    let detail = if unreleased.is_empty() {
        "every declared section is released by an [[export]] rule".to_string()
    } else {
        format!(
            "mapped but released to nobody: {} (add them to an [[export]] rule's sections, or drop them from the mapping)",
            unreleased.join(", ")
        )
    };
    report.push(
        "the export rules cover every section",
        unreleased.is_empty(),
        detail,
    );
}

/// The first tax codes of the partner's own table of people: the table
/// holding the mapping's tax code and local id columns.
async fn sampled(connector: &Connector) -> Vec<String> {
    let column = |wanted: SubjectField| {
        connector
            .mapping
            .subject
            .fields
            .iter()
            .find_map(|(f, spec)| match spec {
                ColumnSpec::Column { column, .. } if *f == wanted => Some(column.clone()),
                _ => None,
            })
    };
    let (Some(tax), Some(local)) = (column(SubjectField::TaxCode), column(SubjectField::LocalId))
    else {
        return Vec::new();
    };
    let Ok(tables) = crate::scaffold::introspect(&connector.db).await else {
        return Vec::new();
    };
    let has = |t: &crate::scaffold::Table, c: &str| {
        t.columns.iter().any(|x| x.name.eq_ignore_ascii_case(c))
    };
    let Some(table) = tables.iter().find(|t| has(t, &tax) && has(t, &local)) else {
        return Vec::new();
    };
    let values = crate::scaffold::sample(&connector.db, &table.name, &tax)
        .await
        .unwrap_or_default();
    values
        .into_iter()
        .filter_map(|v| match v {
            Value::Text(t) if TaxCode::parse(t.trim()).is_ok() => {
                Some(t.trim().to_ascii_uppercase())
            }
            _ => None,
        })
        .take(SAMPLE)
        .collect()
}

/// Each sampled person found first by their tax code, and read in every
/// declared section.
async fn found(connector: &Connector, people: &[String], report: &mut Report) {
    const NAME: &str = "sampled people are found first by their tax code and read";
    if people.is_empty() {
        report.push(
            NAME,
            false,
            "no person to sample: the mapping's tax code and local id columns are not in one table; give --tax-code",
        );
        return;
    }
    let sections: Vec<v1::Section> = connector
        .mapping
        .sections
        .keys()
        .filter_map(|k| v1::Section::try_from(k.0).ok())
        .collect();
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    for code in people {
        match read_one(connector, code, &sections).await {
            Ok(read) => entries.extend(read),
            Err(problem) => problems.push(format!("{}: {problem}", masked(code))),
        }
    }
    let detail = if problems.is_empty() {
        format!("{} people, {} entries read", people.len(), entries.len())
    } else {
        problems.join("; ")
    };
    report.push(NAME, problems.is_empty(), detail);
    vocabularies(connector, &entries, report);
}

/// Every code read is in a common vocabulary: a local code that no line of
/// its code table translates, and that the table does not keep local on
/// purpose (`local = [...]`), is named with its section and field.
fn vocabularies(connector: &Connector, entries: &[crate::model::Entry], report: &mut Report) {
    let mut untranslated: BTreeSet<String> = BTreeSet::new();
    for e in entries {
        for (field, value) in &e.fields {
            if let crate::values::Typed::Coding {
                system, display, ..
            } = value
                && system.starts_with("urn:trama:local:")
                && !kept_local(connector, system, display)
            {
                let section = trama_proto::sections::name(e.section);
                untranslated.insert(format!(
                    "sections.{section} field {field}: code `{display}` ({system})"
                ));
            }
        }
    }
    let passed = untranslated.is_empty();
    let detail = if passed {
        "every code read is in a common vocabulary".to_string()
    } else {
        format!(
            "not translated (add them to the code table's map): {}",
            untranslated.into_iter().collect::<Vec<_>>().join("; ")
        )
    };
    report.push("codes belong to the common vocabularies", passed, detail);
}

/// Finds `code` and reads the best candidate: the entries read, or what
/// went wrong.
async fn read_one(
    connector: &Connector,
    code: &str,
    sections: &[v1::Section],
) -> Result<Vec<crate::model::Entry>, String> {
    let tax_code = TaxCode::parse(code).map_err(|e| e.to_string())?;
    let lookup = Lookup {
        local_id: None,
        traits: Traits {
            tax_code: Some(tax_code),
            ..Traits::default()
        },
    };
    let candidates = connector
        .match_subject(&lookup, 5)
        .await
        .map_err(|e| e.to_string())?;
    let Some(best) = candidates.first() else {
        return Err(
            "not found by its own tax code (does [match.tax_code] compare the same spelling?)"
                .into(),
        );
    };
    if !best.person.tax_code.eq_ignore_ascii_case(code) {
        return Err("another person comes first".into());
    }
    let key = RecordKey::LocalId(best.person.local_id.clone());
    let record = connector
        .fetch_record(&key, sections)
        .await
        .map_err(|e| e.to_string())?;
    let entries = record
        .map(|r| r.entries)
        .ok_or("found but its record is not read by its local id ([match.local_id])")?;
    // The same row twice: the same id with the same values (two tables
    // of one section may reuse an id for different rows).
    for (i, e) in entries.iter().enumerate() {
        let again = entries[..i].iter().any(|d| {
            d.section == e.section
                && d.record_id == e.record_id
                && d.last_updated == e.last_updated
                && d.fields == e.fields
        });
        if again {
            return Err(format!(
                "entry {} of {} read twice: a query returns two rows where one is expected (a join that repeats the person's row in [match.local_id], or the entry's in its section query?)",
                e.record_id,
                trama_proto::sections::name(e.section)
            ));
        }
    }
    Ok(entries)
}

/// Whether code `code` of the local system `system`
/// (`urn:trama:local:<organisation>:<table>`) is one its table keeps local.
fn kept_local(connector: &Connector, system: &str, code: &str) -> bool {
    let table = system.rsplit(':').next().unwrap_or_default();
    connector
        .mapping
        .codes
        .get(table)
        .is_some_and(|t| t.local.contains(code))
}

/// A person the partner does not hold: not found.
async fn stranger(connector: &Connector, people: &[String], report: &mut Report) {
    const NAME: &str = "a person the partner does not hold is not found";
    let Some(code) = unknown_tax_code(people) else {
        report.push(NAME, false, "no unknown tax code could be made");
        return;
    };
    let lookup = Lookup {
        local_id: None,
        traits: Traits {
            tax_code: TaxCode::parse(&code).ok(),
            ..Traits::default()
        },
    };
    match connector.match_subject(&lookup, 5).await {
        Ok(c) if c.is_empty() => report.push(NAME, true, "no candidate"),
        Ok(c) => report.push(
            NAME,
            false,
            format!("{} candidates for a tax code nobody has", c.len()),
        ),
        Err(e) => report.push(NAME, false, e.to_string()),
    }
}

/// A valid tax code of nobody (family and given names written `XXX`, the
/// code of no name), its check character found by trying each.
fn unknown_tax_code(people: &[String]) -> Option<String> {
    ('A'..='Z')
        .map(|c| format!("XXXXXX00A01D150{c}"))
        .find(|code| TaxCode::parse(code).is_ok() && !people.contains(code))
}

/// The statistics facts and the offer, read whole.
async fn whole_reads(connector: &Connector, report: &mut Report) {
    if !connector.mapping.facts.is_empty() {
        let linkage = crate::linkage::Linkage::new(b"trama conformance: a key of no federation");
        match connector.read_facts(&linkage).await {
            Ok(facts) if !facts.is_empty() => {
                report.push(
                    "the statistics facts read",
                    true,
                    format!("{} facts", facts.len()),
                );
            }
            Ok(_) => report.push(
                "the statistics facts read",
                false,
                "no fact read: the fact queries return no row",
            ),
            Err(e) => report.push("the statistics facts read", false, e.to_string()),
        }
    }
    if !connector.mapping.services.is_empty() {
        match connector.offer().await {
            Ok(offer) if offer.problems.is_empty() => {
                report.push(
                    "the offer of services reads",
                    true,
                    format!("{} services", offer.services.len()),
                );
            }
            Ok(offer) => {
                let left: Vec<String> = offer
                    .problems
                    .iter()
                    .map(|p| format!("{} row {}: {}", p.key, p.row_id, p.problem))
                    .collect();
                report.push("the offer of services reads", false, left.join("; "));
            }
            Err(e) => report.push("the offer of services reads", false, e.to_string()),
        }
    }
}

/// Every value read converted.
fn converted(connector: &Connector, report: &mut Report) {
    let skipped = connector.skipped();
    let detail = if skipped.is_empty() {
        "every value read converted".to_string()
    } else {
        skipped
            .iter()
            .map(|((key, problem), n)| format!("{key}: {problem} ({n} values)"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    report.push(
        "values convert (dates in their format, codes in their tables)",
        skipped.is_empty(),
        detail,
    );
}

/// A tax code shown in a report: its first six letters only.
fn masked(code: &str) -> String {
    format!("{}…", code.get(..6).unwrap_or(code))
}
