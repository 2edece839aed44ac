//! What a connector does with a request: find people and read sections
//! through the mapping, turn rows into the connector's own types
//! ([`crate::model`]), and score candidates. No wire type is built here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use trama_proto::v1::{self, Section};
use trama_subject::matching::{self, Traits};
use trama_subject::{Sex, TaxCode, names};

use crate::check::{CheckError, PreparedQueries};
use crate::error::CallError;
use crate::mapping::{
    ColumnSpec, FieldKind, Mapping, NamedQuery, SectionKey, SectionQuery, SubjectField,
};
use crate::model::{Candidate, CaseAnswer, Entry, Fields, Lookup, Person, Record, RecordKey};
use crate::params::ParamSql;
use crate::source::{Database, Param, Rows, Session, SourceError, Value};
use crate::values::{self, Typed};

/// How many rows a local-id or tax-code lookup may resolve to (legacy
/// databases hold duplicates; more than this is a data problem).
const MAX_DUPLICATES: usize = 5;
/// Candidates scoring below this are not returned.
const MIN_SCORE: f64 = 0.5;
/// People a search under a case is checked against at most.
const MAX_CASE_CANDIDATES: usize = 10;
/// The common code system of a case's status.
const CASE_STATUS: &str = "urn:trama:cs:case-status";
/// Its code of an open case.
const OPEN_CASE: &str = "open";

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
    /// Whether the database answered the health watch's last question;
    /// while it does not, calls are answered at once without asking it.
    up: AtomicBool,
    /// Values that did not convert, counted by mapping key and problem,
    /// when asked for ([`Connector::counting_skipped`]); always logged.
    skipped: Option<std::sync::Mutex<Skipped>>,
}

/// Values that did not convert: how many, by mapping key (the field's,
/// `sections.needs.columns.opened`) and problem.
pub type Skipped = std::collections::BTreeMap<(String, String), usize>;

/// A query of the mapping that failed the health probe.
#[derive(Debug, thiserror::Error)]
#[error("query `{key}`: {source}")]
pub struct ProbeError {
    /// The mapping key of the query.
    pub key: String,
    /// The error.
    pub source: SourceError,
}

/// One value per placeholder of `statement`, from `values` by name; NULL
/// for a name without one.
fn bound(statement: &crate::source::Prepared, values: &HashMap<&str, Param>) -> Vec<Param> {
    statement
        .names
        .iter()
        .map(|n| values.get(n.as_str()).cloned().unwrap_or(Param::Text(None)))
        .collect()
}

impl Connector {
    /// A connector whose mapping has not been checked yet.
    pub fn new(organisation: String, mapping: Mapping, db: Database) -> Connector {
        Connector {
            organisation,
            mapping,
            db,
            prepared: RwLock::new(None),
            up: AtomicBool::new(false),
            skipped: None,
        }
    }

    /// The same connector, also counting every value that does not convert
    /// (for an integrator trying a mapping: a value dropped at run time is
    /// then reported with its mapping key, not only logged).
    pub fn counting_skipped(mut self) -> Connector {
        self.skipped = Some(std::sync::Mutex::new(Skipped::new()));
        self
    }

    /// The values that did not convert so far (empty unless counted).
    pub fn skipped(&self) -> Skipped {
        self.skipped
            .as_ref()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
            .unwrap_or_default()
    }

    /// Checks the mapping against the database and, if it fits, makes the
    /// connector ready to answer.
    pub async fn check(&self) -> Result<(), CheckError> {
        let prepared = crate::check::check(&self.db, &self.mapping).await?;
        if let Ok(mut slot) = self.prepared.write() {
            *slot = Some(Arc::new(prepared));
        }
        self.up.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether the mapping has been checked against the database.
    pub fn is_ready(&self) -> bool {
        self.prepared.read().map(|p| p.is_some()).unwrap_or(false)
    }

    /// Whether the database answered the last health question.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Records that the database failed the health watch: calls are
    /// answered `DATABASE_UNAVAILABLE` at once until [`Connector::check`]
    /// passes again.
    pub fn mark_down(&self) {
        self.up.store(false, Ordering::Release);
    }

    /// Asks the database every query of the mapping, with NULL parameters
    /// (no row matches): cheap, and it fails when a mapped table or column
    /// is gone or the file was emptied, which a bare connection does not.
    pub async fn probe(&self) -> Result<(), ProbeError> {
        let Some(prepared) = self.prepared.read().ok().and_then(|p| p.clone()) else {
            return Ok(());
        };
        let mut session = self.db.session().await.map_err(|source| ProbeError {
            key: "session".into(),
            source,
        })?;
        for (key, query) in prepared.iter() {
            if crate::referrals::writes(key) {
                continue;
            }
            session.probe(query).await.map_err(|source| ProbeError {
                key: key.clone(),
                source,
            })?;
        }
        if let Err(e) = session.finish().await {
            tracing::debug!(error = %e, "ending the probe's read transaction");
        }
        Ok(())
    }

    /// The prepared queries, if the connector may ask the database now.
    fn prepared(&self) -> Result<Arc<PreparedQueries>, CallError> {
        let prepared = self
            .prepared
            .read()
            .ok()
            .and_then(|p| p.clone())
            .ok_or(CallError::NotReady)?;
        if !self.is_up() {
            return Err(CallError::DatabaseDown);
        }
        Ok(prepared)
    }

    /// Runs one of the mapping's queries as it is, returning the raw rows
    /// (benchmarks use it as the database-only baseline).
    pub async fn run_raw(
        &self,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Rows, CallError> {
        self.run_in(&mut self.db.pooled(), query, values).await
    }

    /// Runs SQL derived from the mapping (a fact query narrowed to the
    /// columns a count reads), prepared now, on the pool and under the
    /// statement timeout like every other query; `key` names the mapping's
    /// query in errors.
    pub(crate) async fn run_text(&self, key: &str, sql: &ParamSql) -> Result<Rows, CallError> {
        self.prepared()?;
        let failed = |source| CallError::Source {
            key: key.to_string(),
            source,
        };
        let statement = self.db.prepare(sql).await.map_err(failed)?;
        self.db.fetch(&statement, &[]).await.map_err(failed)
    }

    /// Writes a delivered referral into the partner's inbox, once:
    /// `false` when the inbox already held its id.
    pub async fn deliver(&self, r: &v1::DeliverReferralRequest) -> Result<bool, CallError> {
        let Some(inbox) = &self.mapping.inbox else {
            return Err(CallError::ExportDenied(
                "this partner's mapping has no [referrals] inbox".into(),
            ));
        };
        let prepared = self.prepared()?;
        let (Some(exists), Some(insert)) = (
            prepared.get(&inbox.exists.key),
            prepared.get(&inbox.insert.key),
        ) else {
            return Err(CallError::NotReady);
        };
        let values = crate::referrals::insert_values(r);
        self.db
            .write_once(
                (exists, &bound(exists, &values)),
                (insert, &bound(insert, &values)),
            )
            .await
            .map_err(|source| CallError::Source {
                key: inbox.insert.key.clone(),
                source,
            })
    }

    /// Writes a status change made through Trama into the inbox; `false`
    /// when the mapping has no `update` query (or no code for the status).
    pub async fn write_status(
        &self,
        r: &v1::UpdateReferralStatusRequest,
    ) -> Result<bool, CallError> {
        let Some(inbox) = &self.mapping.inbox else {
            return Ok(false);
        };
        let (Some(update), Some(values)) =
            (&inbox.update, crate::referrals::update_values(inbox, r))
        else {
            return Ok(false);
        };
        self.run_in(&mut self.db.pooled(), update, &values).await?;
        Ok(true)
    }

    /// What referral `id` says, as the inbox holds it now; `None` when the
    /// mapping has no `read` query or no row has that id.
    pub async fn read_referral(&self, id: &str) -> Result<Option<v1::ReferralContent>, CallError> {
        let Some(read) = self.mapping.inbox.as_ref().and_then(|i| i.read.as_ref()) else {
            return Ok(None);
        };
        let values = HashMap::from([("id", Param::Text(Some(id.trim().to_string())))]);
        let rows = self.run_in(&mut self.db.pooled(), read, &values).await?;
        Ok(crate::referrals::read_content(&rows))
    }

    /// The status changes the partner's software made since `since`
    /// (RFC 3339 text; empty for all), translated.
    pub async fn referral_changes(
        &self,
        since: &str,
    ) -> Result<(Vec<v1::ReferralChange>, Vec<String>, Option<i64>), CallError> {
        let Some(inbox) = &self.mapping.inbox else {
            return Ok((Vec::new(), Vec::new(), None));
        };
        let values = HashMap::from([("since", Param::Text(Some(since.to_string())))]);
        let rows = self
            .run_in(&mut self.db.pooled(), &inbox.changes, &values)
            .await?;
        Ok(crate::referrals::read_changes(inbox, &rows))
    }

    /// Runs a query of the mapping in `session`.
    async fn run_in(
        &self,
        session: &mut Session<'_>,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Rows, CallError> {
        let prepared = self.prepared()?;
        let Some(statement) = prepared.get(&query.key) else {
            return Err(CallError::NotReady);
        };
        session
            .fetch(statement, &bound(statement, values))
            .await
            .map_err(|source| CallError::Source {
                key: query.key.clone(),
                source,
            })
    }

    /// Runs a subject query and reads the people it returns.
    async fn people(
        &self,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Vec<Person>, CallError> {
        self.people_in(&mut self.db.pooled(), query, values).await
    }

    /// Runs a subject query in `session` and reads the people it returns.
    async fn people_in(
        &self,
        session: &mut Session<'_>,
        query: &NamedQuery,
        values: &HashMap<&str, Param>,
    ) -> Result<Vec<Person>, CallError> {
        let rows = match self.run_in(session, query, values).await {
            Ok(rows) => rows,
            // An identifier that cannot even have the column's type (text
            // for a numeric id) names nobody.
            Err(CallError::Source {
                source: SourceError::ParamType { .. },
                ..
            }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(rows
            .rows
            .iter()
            .filter_map(|row| self.read_person(&rows, row))
            .collect())
    }

    /// The value of one mapped field in `row`, converted to `kind`; a value
    /// that does not convert is skipped and logged without its content.
    fn value(
        &self,
        rows: &Rows,
        row: &[Value],
        spec: &ColumnSpec,
        kind: FieldKind,
        key: &str,
    ) -> Option<Typed> {
        let raw = match spec {
            ColumnSpec::Column { column, .. } => row.get(rows.index_of(column)?)?.clone(),
            ColumnSpec::Constant { value, .. } => Value::Text(value.clone()),
        };
        match values::convert(&raw, kind, spec, &self.mapping.codes, &self.organisation) {
            Ok(v) => v,
            Err(problem) => {
                tracing::warn!(key, problem, "value skipped");
                if let Some(skipped) = &self.skipped {
                    let mut skipped = skipped
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *skipped.entry((key.to_string(), problem)).or_default() += 1;
                }
                None
            }
        }
    }

    /// The person a subject row describes; `None` without a local id.
    fn read_person(&self, rows: &Rows, row: &[Value]) -> Option<Person> {
        let mut traits = Traits::default();
        let (mut local_id, mut tax_code, mut last_updated) = (None, String::new(), None);
        for (field, spec) in &self.mapping.subject.fields {
            let key = format!("subject.columns.{}", field.name());
            let Some(value) = self.value(rows, row, spec, field.kind(), &key) else {
                continue;
            };
            match (field, value) {
                (SubjectField::LocalId, Typed::Text(t)) => local_id = Some(t),
                (SubjectField::TaxCode, Typed::Text(t)) => {
                    tax_code = t.to_ascii_uppercase();
                    traits.tax_code = TaxCode::parse(&tax_code).ok();
                }
                (SubjectField::GivenName, Typed::Text(t)) => traits.given_name = Some(t),
                (SubjectField::FamilyName, Typed::Text(t)) => traits.family_name = Some(t),
                (SubjectField::BirthDate, Typed::Date(d)) => traits.birth_date = Some(d),
                (SubjectField::BirthplaceCode, Typed::Text(t)) => {
                    traits.birthplace_code = Some(t.to_ascii_uppercase());
                }
                (SubjectField::Sex, Typed::Coding { code, .. }) => {
                    traits.sex = Sex::from_code(&code);
                }
                (SubjectField::LastUpdated, Typed::Timestamp(t)) => last_updated = Some(t),
                _ => {}
            }
        }
        Some(Person {
            local_id: local_id?,
            tax_code,
            traits,
            last_updated,
        })
    }

    /// Finds candidates for `lookup`, best first, at most `max`.
    pub async fn match_subject(
        &self,
        lookup: &Lookup,
        max: usize,
    ) -> Result<Vec<Candidate>, CallError> {
        let found = self.find(lookup).await?;
        let mut seen = std::collections::HashSet::new();
        let mut candidates: Vec<Candidate> = found
            .into_iter()
            .filter(|p| seen.insert(p.local_id.clone()))
            .filter_map(|person| {
                let score = if lookup.local_id.as_ref() == Some(&person.local_id) {
                    matching::Score {
                        value: 1.0,
                        matched: vec!["local_id"],
                    }
                } else {
                    matching::score(&lookup.traits, &person.traits)
                };
                (score.value >= MIN_SCORE).then_some(Candidate {
                    person,
                    score: score.value,
                    matched: score.matched,
                })
            })
            .collect();
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        discount_ties(&mut candidates);
        candidates.truncate(max);
        Ok(candidates)
    }

    /// Everyone the mapping's queries find for `lookup`: by local id, by
    /// tax code, and through every blocking query whose parameters the
    /// lookup provides (in parallel on the pool; a query with an unknown
    /// parameter would match nothing).
    async fn find(&self, lookup: &Lookup) -> Result<Vec<Person>, CallError> {
        let wanted = &lookup.traits;
        let mut found: Vec<Person> = Vec::new();
        if let Some(id) = &lookup.local_id {
            let values = HashMap::from([("local_id", Param::Text(Some(id.clone())))]);
            found.extend(
                self.people(&self.mapping.matching.local_id, &values)
                    .await?,
            );
        }
        if let (Some(code), Some(q)) = (&wanted.tax_code, &self.mapping.matching.tax_code) {
            let values = HashMap::from([("tax_code", Param::Text(Some(code.to_string())))]);
            found.extend(self.people(q, &values).await?);
        }
        let has_demographics = wanted.family_name.is_some()
            || wanted.given_name.is_some()
            || wanted.birth_date.is_some()
            || wanted.tax_code_fragment.is_some();
        if has_demographics {
            let values = demographic_params(wanted);
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
        Ok(found)
    }

    /// Reads `sections` of the person named by `key`; `None` when the
    /// partner does not hold them. On SQLite every query of the record
    /// reads one snapshot.
    pub async fn fetch_record(
        &self,
        key: &RecordKey,
        sections: &[Section],
    ) -> Result<Option<Record>, CallError> {
        let mut session = self
            .db
            .session()
            .await
            .map_err(|source| CallError::Source {
                key: "fetch".into(),
                source,
            })?;
        let people = self.holders(&mut session, key).await?;
        let Some(first) = people.first() else {
            return Ok(None);
        };
        let mut entries = Vec::new();
        for person in people.iter().take(MAX_DUPLICATES) {
            let values = person_values(person);
            for section in sections {
                let queries = self.mapping.sections.get(&SectionKey(*section as i32));
                for q in queries.into_iter().flatten() {
                    let rows = self.run_in(&mut session, &q.query, &values).await?;
                    entries.extend(
                        rows.rows
                            .iter()
                            .filter_map(|row| self.entry(*section, q, &rows, row)),
                    );
                }
            }
        }
        if let Err(e) = session.finish().await {
            // Everything was read; the read transaction ends either way.
            tracing::debug!(error = %e, "ending the read transaction");
        }
        Ok(Some(Record {
            person: first.clone(),
            entries,
        }))
    }

    /// Whether an open case `case_id` of this partner includes the person
    /// `lookup` names. Named by local id or tax code, it is exactly the
    /// people each names, and the case must include one of those of each
    /// (a local id and a tax code of two different people do not pass on
    /// the strength of one); otherwise it is the people a search for the
    /// lookup finds, and the case must include one of them. Read through
    /// the mapping's `case_membership` queries that bind `case_id`: a case
    /// counts as open when its status maps to `open`, or when the query
    /// binds no status (its SQL then returns open cases only).
    pub async fn check_case(
        &self,
        case_id: &str,
        lookup: &Lookup,
    ) -> Result<CaseAnswer, CallError> {
        let queries = self.case_queries();
        if queries.is_empty() {
            return Ok(CaseAnswer::NoCasesMapped);
        }
        let mut groups = Vec::new();
        if let Some(id) = &lookup.local_id {
            let values = HashMap::from([("local_id", Param::Text(Some(id.clone())))]);
            groups.push(
                self.people(&self.mapping.matching.local_id, &values)
                    .await?,
            );
        }
        if let Some(code) = &lookup.traits.tax_code {
            let people = match &self.mapping.matching.tax_code {
                Some(q) => {
                    let values = HashMap::from([("tax_code", Param::Text(Some(code.to_string())))]);
                    self.people(q, &values).await?
                }
                None => Vec::new(),
            };
            groups.push(people);
        }
        if groups.is_empty() {
            let found = self.match_subject(lookup, MAX_CASE_CANDIDATES).await?;
            groups.push(found.into_iter().map(|c| c.person).collect());
        }
        for people in &groups {
            if !self.in_open_case(&queries, case_id, people).await? {
                return Ok(CaseAnswer::NotOpenWithPerson);
            }
        }
        Ok(CaseAnswer::OpenWithPerson)
    }

    /// The mapping's `case_membership` queries that bind `case_id`: those
    /// that can say which cases a person is in.
    fn case_queries(&self) -> Vec<&SectionQuery> {
        self.mapping
            .sections
            .get(&SectionKey(Section::CaseMembership as i32))
            .into_iter()
            .flatten()
            .filter(|q| q.fields.iter().any(|(name, _, _)| *name == "case_id"))
            .collect()
    }

    /// Whether the mapping maps cases, so that the partner can confirm
    /// one.
    pub fn maps_cases(&self) -> bool {
        !self.case_queries().is_empty()
    }

    /// Whether one of `people` is in the open case `case_id`, by `queries`.
    async fn in_open_case(
        &self,
        queries: &[&SectionQuery],
        case_id: &str,
        people: &[Person],
    ) -> Result<bool, CallError> {
        let mut session = self.db.pooled();
        for person in people.iter().take(MAX_CASE_CANDIDATES) {
            let values = person_values(person);
            for q in queries {
                let rows = self.run_in(&mut session, &q.query, &values).await?;
                let open = rows
                    .rows
                    .iter()
                    .filter_map(|row| self.entry(Section::CaseMembership, q, &rows, row))
                    .any(|e| is_open_case(&e, q, case_id));
                if open {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The people `key` names (legacy databases hold duplicates).
    async fn holders(
        &self,
        session: &mut Session<'_>,
        key: &RecordKey,
    ) -> Result<Vec<Person>, CallError> {
        match key {
            RecordKey::LocalId(id) => {
                let values = HashMap::from([("local_id", Param::Text(Some(id.clone())))]);
                self.people_in(session, &self.mapping.matching.local_id, &values)
                    .await
            }
            RecordKey::TaxCode(code) => match &self.mapping.matching.tax_code {
                Some(q) => {
                    let values = HashMap::from([("tax_code", Param::Text(Some(code.clone())))]);
                    self.people_in(session, q, &values).await
                }
                // A partner that records no tax codes holds nobody by one.
                None => Ok(Vec::new()),
            },
        }
    }

    /// The entry one row of a section query maps to; `None` without a
    /// record id (every entry carries its provenance).
    fn entry(
        &self,
        section: Section,
        q: &SectionQuery,
        rows: &Rows,
        row: &[Value],
    ) -> Option<Entry> {
        let record_id = self
            .value(rows, row, &q.record_id, FieldKind::Text, &q.key)?
            .into_text();
        let last_updated = q
            .last_updated
            .as_ref()
            .and_then(|spec| {
                let key = format!("{}.columns.last_updated", q.key);
                self.value(rows, row, spec, FieldKind::Timestamp, &key)
            })
            .and_then(|v| match v {
                Typed::Timestamp(t) => Some(t),
                _ => None,
            });
        let mut fields = Fields::new();
        for (name, kind, spec) in &q.fields {
            let key = format!("{}.columns.{name}", q.key);
            if let Some(v) = self.value(rows, row, spec, *kind, &key) {
                fields.insert(name, v);
            }
        }
        Some(Entry {
            section,
            record_id,
            last_updated,
            fields,
        })
    }
}

/// The parameters of a section query about `person`.
fn person_values(person: &Person) -> HashMap<&'static str, Param> {
    HashMap::from([
        ("local_id", Param::Text(Some(person.local_id.clone()))),
        (
            "tax_code",
            Param::Text(person.traits.tax_code.as_ref().map(|t| t.to_string())),
        ),
    ])
}

/// Whether `entry`, read by the case-membership query `q`, is the open
/// case `case_id`.
fn is_open_case(entry: &Entry, q: &SectionQuery, case_id: &str) -> bool {
    let same = matches!(entry.fields.get("case_id"), Some(Typed::Text(id)) if id.trim() == case_id);
    let status_bound = q.fields.iter().any(|(name, _, _)| *name == "status");
    let open = !status_bound
        || matches!(
            entry.fields.get("status"),
            Some(Typed::Coding { system, code, .. }) if system == CASE_STATUS && code == OPEN_CASE
        );
    same && open
}

/// Two different people who fit the query (almost) equally well: neither
/// can be trusted as *the* person, so every candidate within
/// [`TIE_MARGIN`] of the best loses [`TIE_DISCOUNT`] of its score. A caller
/// that takes the top candidate above a threshold then gets no answer
/// rather than a coin toss; a caller that lists candidates still sees them
/// all, in the same order.
fn discount_ties(candidates: &mut [Candidate]) {
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
        c.matched.push("ambiguous");
    }
}

/// Scores this close to the best make a tie.
const TIE_MARGIN: f64 = 0.03;
/// What a tie costs.
const TIE_DISCOUNT: f64 = 0.2;

fn demographic_params(t: &Traits) -> HashMap<&'static str, Param> {
    let family = t.family_name.as_deref().map(names::compact);
    let given = t.given_name.as_deref().map(names::compact);
    let in_birth_year = |month, day| {
        t.birth_date
            .and_then(|d| time::Date::from_calendar_date(d.year(), month, day).ok())
    };
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
            Param::Date(in_birth_year(time::Month::January, 1)),
        ),
        (
            "birth_year_end",
            Param::Date(in_birth_year(time::Month::December, 31)),
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
        ("sex", Param::Text(t.sex.map(|s| s.letter().to_string()))),
    ])
}
