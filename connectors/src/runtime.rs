//! What a connector does with a request: find people and read sections
//! through the mapping, convert rows to the common schema, and score
//! candidates.

use std::collections::HashMap;

use trama_proto::v1::{self, Section};
use trama_subject::codice_fiscale::Fragment;
use trama_subject::matching::{self, Traits};
use trama_subject::{Sex, TaxCode, names};

use crate::mapping::{ColumnSpec, FieldKind, Mapping, NamedQuery, SubjectField};
use std::sync::{Arc, RwLock};

use crate::check::{CheckError, PreparedQueries};
use crate::source::{Database, Param, Rows, Session, SourceError};
use crate::to_proto::{self, Fields};
use crate::values::{self, Typed};

/// How many rows a local-id or tax-code lookup may resolve to (legacy
/// databases hold duplicates; more than this is a data problem).
const MAX_DUPLICATES: usize = 5;
/// Candidates considered from a blocking query before scoring; the
/// mapping's blocking queries are wrapped in a `LIMIT` of this many rows, so
/// a common name cannot flood the connector.
pub const MAX_BLOCK: usize = 200;

/// A connector bound to its database and mapping.
#[derive(Debug)]
pub struct Connector {
    /// The partner organisation.
    pub organisation: String,
    /// The mapping.
    pub mapping: Mapping,
    /// The database.
    pub db: Database,
    /// The mapping's queries, prepared by the start-up check; `None` until
    /// the check has passed (the database may be down at start).
    prepared: RwLock<Option<Arc<PreparedQueries>>>,
}

/// A person found in the database.
#[derive(Debug, Clone)]
pub struct Found {
    /// As sent on the wire.
    pub identity: v1::SubjectIdentity,
    /// As compared by the matcher.
    pub traits: Traits,
    /// The partner's id.
    pub local_id: String,
}

/// Errors while answering.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The database has not been reached since start, so the mapping has
    /// not been checked yet.
    #[error("the partner database has not been reached yet")]
    NotReady,
    /// The database failed.
    #[error("query `{key}`: {source}")]
    Source {
        /// The mapping key of the query.
        key: String,
        /// The error.
        source: SourceError,
    },
}

impl Connector {
    /// A connector whose mapping has not been checked yet.
    pub fn new(organisation: String, mapping: Mapping, db: Database) -> Connector {
        Connector {
            organisation,
            mapping,
            db,
            prepared: RwLock::new(None),
        }
    }

    /// Checks the mapping against the database and, if it fits, makes the
    /// connector ready to answer.
    pub async fn check(&self) -> Result<(), CheckError> {
        let prepared = crate::check::check(&self.db, &self.mapping).await?;
        if let Ok(mut slot) = self.prepared.write() {
            *slot = Some(Arc::new(prepared));
        }
        Ok(())
    }

    /// Whether the mapping has been checked against the database.
    pub fn is_ready(&self) -> bool {
        self.prepared.read().map(|p| p.is_some()).unwrap_or(false)
    }

    /// Runs one of the mapping's queries as it is, returning the raw rows
    /// (benchmarks use it as the database-only baseline).
    pub async fn run_raw(
        &self,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Rows, RuntimeError> {
        self.run_in(&mut self.db.pooled(), query, values).await
    }

    /// Runs a query of the mapping in `session`.
    async fn run_in(
        &self,
        session: &mut Session<'_>,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Rows, RuntimeError> {
        let prepared = self
            .prepared
            .read()
            .ok()
            .and_then(|p| p.clone())
            .ok_or(RuntimeError::NotReady)?;
        let Some(statement) = prepared.get(&query.key) else {
            return Err(RuntimeError::NotReady);
        };
        let params: Vec<Param> = statement
            .names
            .iter()
            .map(|n| values.get(n.as_str()).cloned().unwrap_or(Param::Text(None)))
            .collect();
        session
            .fetch(statement, &params)
            .await
            .map_err(|source| RuntimeError::Source {
                key: query.key.clone(),
                source,
            })
    }

    /// Runs a subject query and reads the people it returns.
    async fn people(
        &self,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Vec<Found>, RuntimeError> {
        self.people_in(&mut self.db.pooled(), query, values).await
    }

    /// Runs a subject query in `session` and reads the people it returns.
    async fn people_in(
        &self,
        session: &mut Session<'_>,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Vec<Found>, RuntimeError> {
        let rows = match self.run_in(session, query, values).await {
            Ok(rows) => rows,
            // An identifier that cannot even have the column's type (text
            // for a numeric id) names nobody.
            Err(RuntimeError::Source {
                source: SourceError::ParamType { .. },
                ..
            }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(rows
            .rows
            .iter()
            .filter_map(|row| self.read_subject(&rows, row))
            .collect())
    }

    fn value(
        &self,
        rows: &Rows,
        row: &[crate::source::Value],
        spec: &ColumnSpec,
        kind: FieldKind,
        key: &str,
    ) -> Option<Typed> {
        let raw = match spec {
            ColumnSpec::Column { column, .. } => row.get(rows.index_of(column)?)?.clone(),
            ColumnSpec::Constant { value, .. } => crate::source::Value::Text(value.clone()),
        };
        match values::convert(&raw, kind, spec, &self.mapping, &self.organisation) {
            Ok(v) => v,
            Err(problem) => {
                tracing::warn!(key, problem, "value skipped");
                None
            }
        }
    }

    fn read_subject(&self, rows: &Rows, row: &[crate::source::Value]) -> Option<Found> {
        let mut id = v1::SubjectIdentity::default();
        let mut traits = Traits::default();
        let mut last_updated = None;
        for (field, spec) in &self.mapping.subject.fields {
            let Some(value) = self.value(rows, row, spec, field.kind(), "subject.columns") else {
                continue;
            };
            match (field, value) {
                (SubjectField::LocalId, Typed::Text(t)) => {
                    id.local_id = Some(v1::LocalId {
                        organisation: self.organisation.clone(),
                        id: t,
                    })
                }
                (SubjectField::TaxCode, Typed::Text(t)) => {
                    let upper = t.to_ascii_uppercase();
                    traits.tax_code = TaxCode::parse(&upper).ok();
                    id.tax_code = upper;
                }
                (SubjectField::GivenName, Typed::Text(t)) => {
                    traits.given_name = Some(t.clone());
                    id.given_name = t;
                }
                (SubjectField::FamilyName, Typed::Text(t)) => {
                    traits.family_name = Some(t.clone());
                    id.family_name = t;
                }
                (SubjectField::BirthDate, Typed::Date(d)) => {
                    traits.birth_date = Some(d);
                    id.birth_date = Some(to_proto::date(d));
                }
                (SubjectField::BirthplaceCode, Typed::Text(t)) => {
                    let code = t.to_ascii_uppercase();
                    traits.birthplace_code = Some(code.clone());
                    id.birthplace_code = code;
                }
                (SubjectField::Sex, Typed::Coding { code, .. }) => {
                    let sex = match code.as_str() {
                        "female" | "F" => Some(Sex::Female),
                        "male" | "M" => Some(Sex::Male),
                        _ => None,
                    };
                    traits.sex = sex;
                    id.sex = match sex {
                        Some(Sex::Female) => v1::Sex::Female as i32,
                        Some(Sex::Male) => v1::Sex::Male as i32,
                        None => v1::Sex::Unspecified as i32,
                    };
                }
                (SubjectField::LastUpdated, Typed::Timestamp(t)) => last_updated = Some(t),
                _ => {}
            }
        }
        let local_id = id.local_id.as_ref()?.id.clone();
        id.provenance = Some(to_proto::provenance(
            &self.organisation,
            &self.mapping.system,
            local_id.clone(),
            last_updated,
        ));
        Some(Found {
            identity: id,
            traits,
            local_id,
        })
    }

    /// Finds candidates for `query`, best first, at most `max`.
    pub async fn match_subject(
        &self,
        query: &v1::SubjectQuery,
        max: usize,
    ) -> Result<Vec<v1::Candidate>, RuntimeError> {
        let wanted = traits_of(query);
        let mut found: Vec<Found> = Vec::new();
        if let Some(local) = query
            .local_id
            .as_ref()
            .filter(|l| l.organisation == self.organisation && !l.id.is_empty())
        {
            let values = HashMap::from([("local_id", Param::Text(Some(local.id.clone())))]);
            found.extend(
                self.people(&self.mapping.matching.local_id, &values)
                    .await?,
            );
        }
        if let (Some(code), Some(q)) = (&wanted.tax_code, &self.mapping.matching.tax_code) {
            let values =
                HashMap::from([("tax_code", Param::Text(Some(code.as_str().to_string())))]);
            found.extend(self.people(q, &values).await?);
        }
        let has_demographics = wanted.family_name.is_some()
            || wanted.given_name.is_some()
            || wanted.birth_date.is_some()
            || wanted.tax_code_fragment.is_some();
        if has_demographics {
            // Each blocking query that has all its parameters runs, in
            // parallel on the pool; a query with an unknown parameter
            // would match nothing.
            let values = demographic_params(&wanted);
            let runnable = self.mapping.matching.demographics.iter().filter(|q| {
                q.sql
                    .param_names()
                    .all(|n| values.get(n).is_some_and(Param::is_known))
            });
            let blocks =
                futures_util::future::join_all(runnable.map(|q| self.people(q, &values))).await;
            for block in blocks {
                found.extend(block?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut candidates: Vec<v1::Candidate> = found
            .into_iter()
            .filter(|f| seen.insert(f.local_id.clone()))
            .filter_map(|f| {
                let mut score = matching::score(&wanted, &f.traits);
                if query
                    .local_id
                    .as_ref()
                    .is_some_and(|l| l.organisation == self.organisation && l.id == f.local_id)
                {
                    score = matching::Score {
                        value: 1.0,
                        matched: vec!["local_id"],
                    };
                }
                (score.value >= 0.5).then(|| v1::Candidate {
                    identity: Some(f.identity),
                    score: score.value,
                    matched_fields: score.matched.iter().map(|s| s.to_string()).collect(),
                })
            })
            .collect();
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        discount_ties(&mut candidates);
        candidates.truncate(max);
        Ok(candidates)
    }

    /// Reads `sections` of the person with `local_id` or `tax_code`.
    pub async fn fetch_record(
        &self,
        tax_code: &str,
        local_id: &str,
        sections: &[Section],
    ) -> Result<v1::FetchRecordResponse, RuntimeError> {
        let mut session = self
            .db
            .session()
            .await
            .map_err(|source| RuntimeError::Source {
                key: "fetch".into(),
                source,
            })?;
        let people = if !local_id.is_empty() {
            let values = HashMap::from([("local_id", Param::Text(Some(local_id.to_string())))]);
            self.people_in(&mut session, &self.mapping.matching.local_id, &values)
                .await?
        } else if let Some(q) = self
            .mapping
            .matching
            .tax_code
            .as_ref()
            .filter(|_| !tax_code.is_empty())
        {
            let values = HashMap::from([("tax_code", Param::Text(Some(tax_code.to_string())))]);
            self.people_in(&mut session, q, &values).await?
        } else {
            Vec::new()
        };
        let Some(first) = people.first() else {
            return Ok(v1::FetchRecordResponse::default());
        };
        let mut out = v1::RecordSections::default();
        for person in people.iter().take(MAX_DUPLICATES) {
            let values = HashMap::from([
                ("local_id", Param::Text(Some(person.local_id.clone()))),
                (
                    "tax_code",
                    Param::Text(person.traits.tax_code.as_ref().map(|t| t.to_string())),
                ),
            ]);
            for section in sections {
                let Some(queries) = self
                    .mapping
                    .sections
                    .get(&crate::mapping::SectionKey(*section as i32))
                else {
                    continue;
                };
                for q in queries {
                    let rows = self.run_in(&mut session, &q.query, &values).await?;
                    for row in &rows.rows {
                        let Some(record_id) =
                            self.value(&rows, row, &q.record_id, FieldKind::Text, &q.key)
                        else {
                            continue;
                        };
                        let record_id = match record_id {
                            Typed::Text(t) => t,
                            other => format!("{other:?}"),
                        };
                        let last_updated = q
                            .last_updated
                            .as_ref()
                            .and_then(|spec| {
                                self.value(&rows, row, spec, FieldKind::Timestamp, &q.key)
                            })
                            .and_then(|v| match v {
                                Typed::Timestamp(t) => Some(t),
                                _ => None,
                            });
                        let mut fields = Fields::new();
                        for (name, kind, spec) in &q.fields {
                            if let Some(v) = self.value(&rows, row, spec, *kind, &q.key) {
                                fields.insert(name, v);
                            }
                        }
                        let provenance = to_proto::provenance(
                            &self.organisation,
                            &self.mapping.system,
                            record_id,
                            last_updated,
                        );
                        to_proto::push_entry(*section, provenance, &fields, &mut out);
                    }
                }
            }
        }
        if let Err(e) = session.finish().await {
            // Everything was read; the read transaction ends either way.
            tracing::debug!(error = %e, "ending the read transaction");
        }
        Ok(v1::FetchRecordResponse {
            found: true,
            identity: Some(first.identity.clone()),
            sections: Some(out),
            withheld: Vec::new(),
        })
    }
}

/// Two different people who fit the query (almost) equally well: neither
/// can be trusted as *the* person, so every candidate within
/// [`TIE_MARGIN`] of the best loses [`TIE_DISCOUNT`] of its score. A caller
/// that takes the top candidate above a threshold then gets no answer
/// rather than a coin toss; a caller that lists candidates still sees them
/// all, in the same order.
fn discount_ties(candidates: &mut [v1::Candidate]) {
    let (Some(best), Some(second)) = (candidates.first(), candidates.get(1)) else {
        return;
    };
    let best = best.score;
    if best - second.score > TIE_MARGIN {
        return;
    }
    for c in candidates
        .iter_mut()
        .filter(|c| best - c.score <= TIE_MARGIN)
    {
        c.score = ((c.score * (1.0 - TIE_DISCOUNT)) * 1000.0).round() / 1000.0;
        c.matched_fields.push("ambiguous".into());
    }
}

/// Scores this close to the best make a tie.
const TIE_MARGIN: f64 = 0.03;
/// What a tie costs.
const TIE_DISCOUNT: f64 = 0.2;

/// What a query tells about the person, as the matcher compares it.
pub fn traits_of(query: &v1::SubjectQuery) -> Traits {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let today = time::OffsetDateTime::now_utc().date();
    let fragment =
        non_empty(&query.tax_code_fragment).and_then(|f| Fragment::parse(&f, today).ok());
    let mut traits = Traits {
        tax_code: TaxCode::parse(&query.tax_code).ok(),
        given_name: non_empty(&query.given_name),
        family_name: non_empty(&query.family_name),
        birth_date: query.birth_date.as_ref().and_then(v1::Date::to_date),
        birthplace_code: non_empty(&query.birthplace_code).map(|s| s.to_ascii_uppercase()),
        sex: match v1::Sex::try_from(query.sex) {
            Ok(v1::Sex::Female) => Some(Sex::Female),
            Ok(v1::Sex::Male) => Some(Sex::Male),
            _ => None,
        },
        tax_code_fragment: None,
    };
    // What the fragment tells fills what the caller left out.
    if let Some(f) = &fragment {
        traits.birth_date = traits.birth_date.or(f.birth_date);
        traits.sex = traits.sex.or(f.sex);
        traits.birthplace_code = traits
            .birthplace_code
            .take()
            .or_else(|| f.birthplace_code.clone());
    }
    traits.tax_code_fragment = fragment;
    traits
}

fn demographic_params(t: &Traits) -> HashMap<&'static str, Param> {
    let family = t.family_name.as_deref().map(names::compact);
    let given = t.given_name.as_deref().map(names::compact);
    HashMap::from([
        ("family_name", Param::Text(t.family_name.clone())),
        ("given_name", Param::Text(t.given_name.clone())),
        (
            "family_prefix",
            Param::Text(family.as_ref().map(|f| f.chars().take(3).collect())),
        ),
        ("family_key", Param::Text(family)),
        ("given_key", Param::Text(given)),
        (
            "family_folded",
            Param::Text(t.family_name.as_deref().map(names::fold)),
        ),
        (
            "given_folded",
            Param::Text(t.given_name.as_deref().map(names::fold)),
        ),
        ("birth_date", Param::Date(t.birth_date)),
        (
            "birth_year_start",
            Param::Date(t.birth_date.and_then(|d| {
                time::Date::from_calendar_date(d.year(), time::Month::January, 1).ok()
            })),
        ),
        (
            "birth_year_end",
            Param::Date(t.birth_date.and_then(|d| {
                time::Date::from_calendar_date(d.year(), time::Month::December, 31).ok()
            })),
        ),
        (
            "tax_code_from",
            Param::Text(t.tax_code_fragment.as_ref().map(|f| f.prefix_range(6).0)),
        ),
        (
            "tax_code_to",
            Param::Text(t.tax_code_fragment.as_ref().map(|f| f.prefix_range(6).1)),
        ),
        (
            "birth_year",
            Param::Int(t.birth_date.map(|d| i64::from(d.year()))),
        ),
        ("birthplace_code", Param::Text(t.birthplace_code.clone())),
        (
            "sex",
            Param::Text(t.sex.map(|s| match s {
                Sex::Female => "F".to_string(),
                Sex::Male => "M".to_string(),
            })),
        ),
    ])
}
