//! Statistics at the partner: the facts a partner can count
//! (`[[statistics.facts]]` in the mapping file: one row per need,
//! intervention or case, with the person and when), and counting them into
//! sketches of pseudonyms by the dimensions asked (`CountPeople`). Only
//! sketches leave the connector: never a row, a name or a tax code.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use datasketches::theta::{ThetaSketch, ThetaSketchBuilder};
use time::Date;
use trama_proto::stats::{self, Dimension};
use trama_subject::TaxCode;

use crate::error::CallError;
use crate::linkage::Linkage;
use crate::mapping::{
    CodeTable, ColumnSpec, FieldKind, NamedQuery, RawSectionQuery, check_params, column_spec,
};
use crate::params::ParamSql;
use crate::runtime::Connector;
use crate::source::{Rows, Value};
use crate::values::{self, Typed};

/// Base-2 logarithm of the sketches' nominal size (see
/// [`stats::SKETCH_LG_K`]).
pub const LG_K: u8 = stats::SKETCH_LG_K;

/// A fact query of the mapping, with its column bindings.
#[derive(Debug, Clone)]
pub struct FactQuery {
    /// The key in the mapping file, for example `statistics.facts[0]`.
    pub key: String,
    /// The query; it takes no parameters.
    pub query: NamedQuery,
    /// The fields bound, and where their values come from.
    pub fields: Vec<(FactField, ColumnSpec)>,
}

/// What a column of a fact query holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactField {
    /// The partner's id for the person (required).
    LocalId,
    /// The person's tax code.
    TaxCode,
    /// The person's birth date (for age bands).
    BirthDate,
    /// The person's sex (coded).
    Sex,
    /// The district or zone of residence.
    District,
    /// The municipality of residence (Belfiore code).
    Municipality,
    /// The need (coded).
    Need,
    /// The intervention (coded).
    Intervention,
    /// The case status (coded).
    CaseStatus,
    /// When the fact happened (for periods).
    Date,
}

impl FactField {
    const ALL: [(FactField, &'static str, FieldKind); 10] = [
        (FactField::LocalId, "local_id", FieldKind::Text),
        (FactField::TaxCode, "tax_code", FieldKind::Text),
        (FactField::BirthDate, "birth_date", FieldKind::Date),
        (FactField::Sex, "sex", FieldKind::Coding),
        (FactField::District, "district", FieldKind::Text),
        (FactField::Municipality, "municipality", FieldKind::Text),
        (FactField::Need, "need", FieldKind::Coding),
        (FactField::Intervention, "intervention", FieldKind::Coding),
        (FactField::CaseStatus, "case_status", FieldKind::Coding),
        (FactField::Date, "date", FieldKind::Date),
    ];

    /// The field's name in `[[statistics.facts]]`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("", |(_, n, _)| n)
    }

    /// The kind of value the field holds.
    pub fn kind(self) -> FieldKind {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or(FieldKind::Text, |(_, _, k)| *k)
    }

    /// The field a dimension is computed from.
    fn of(dimension: Dimension) -> FactField {
        match dimension {
            Dimension::District => FactField::District,
            Dimension::Municipality => FactField::Municipality,
            Dimension::Need => FactField::Need,
            Dimension::Intervention => FactField::Intervention,
            Dimension::CaseStatus => FactField::CaseStatus,
            Dimension::AgeBand => FactField::BirthDate,
            Dimension::Sex => FactField::Sex,
            Dimension::Month | Dimension::Quarter | Dimension::Year => FactField::Date,
        }
    }
}

impl FactQuery {
    /// Whether the query binds `field`.
    fn binds(&self, field: FactField) -> bool {
        self.fields.iter().any(|(f, _)| *f == field)
    }

    /// Whether the query's rows can count in a table using `dimensions`:
    /// a row is a need, an intervention or a case, so a query counts only
    /// where it binds every such dimension used. Other dimensions it does
    /// not bind read `-` (not recorded).
    fn serves(&self, dimensions: &[Dimension]) -> bool {
        dimensions
            .iter()
            .filter(|d| d.is_attribute())
            .all(|d| self.binds(FactField::of(*d)))
    }
}

/// Parses `[[statistics.facts]]`; an error is `(key, problem)`.
pub(crate) fn parse(
    raw: &[RawSectionQuery],
    codes: &BTreeMap<String, CodeTable>,
) -> Result<Vec<FactQuery>, (String, String)> {
    raw.iter()
        .enumerate()
        .map(|(i, q)| parse_one(i, q, codes))
        .collect()
}

fn parse_one(
    i: usize,
    raw: &RawSectionQuery,
    codes: &BTreeMap<String, CodeTable>,
) -> Result<FactQuery, (String, String)> {
    let key = format!("statistics.facts[{i}]");
    let sql_key = format!("{key}.sql");
    let sql = ParamSql::parse(&raw.sql).map_err(|p| (sql_key.clone(), p))?;
    let query = NamedQuery { key: sql_key, sql };
    check_params(&query, &[]).map_err(|p| (query.key.clone(), p))?;
    let mut fields = Vec::new();
    for (name, raw_col) in &raw.columns {
        let ckey = format!("{key}.columns.{name}");
        let Some((field, _, kind)) = FactField::ALL.iter().find(|(_, n, _)| n == name) else {
            let known: Vec<_> = FactField::ALL.iter().map(|(_, n, _)| *n).collect();
            return Err((
                ckey,
                format!("unknown fact field; known: {}", known.join(", ")),
            ));
        };
        let spec = column_spec(raw_col, *kind, codes).map_err(|p| (ckey, p))?;
        fields.push((*field, spec));
    }
    if !fields.iter().any(|(f, _)| *f == FactField::LocalId) {
        return Err((
            format!("{key}.columns.local_id"),
            "is required: the column holding the partner's own id for the person".into(),
        ));
    }
    Ok(FactQuery { key, query, fields })
}

/// A filter as the connector applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactFilter {
    /// The dimension (a period dimension filters by each value's own
    /// granularity: `2025`, `2025-Q2`, `2025-07`).
    pub dimension: Dimension,
    /// The values kept.
    pub values: Vec<String>,
}

/// What a `CountPeople` asks, in the connector's types.
#[derive(Debug, Clone)]
pub struct CountAsk {
    /// The table's dimensions.
    pub group_by: Vec<Dimension>,
    /// Its filters.
    pub filters: Vec<FactFilter>,
    /// The base groups' dimensions (no filter), possibly none.
    pub base_by: Vec<Dimension>,
    /// The day ages are computed at.
    pub as_of: Date,
}

impl CountAsk {
    /// Every dimension the table uses.
    fn dimensions(&self) -> Vec<Dimension> {
        let mut all = self.group_by.clone();
        all.extend(self.filters.iter().map(|f| f.dimension));
        all
    }
}

/// Sketches by group: the group's values, in the order asked.
pub type Groups = BTreeMap<Vec<String>, ThetaSketch>;

/// What a count found.
#[derive(Debug)]
pub struct Counted {
    /// The table's groups, filters applied.
    pub cells: Groups,
    /// The base groups, no filter applied.
    pub base: Groups,
    /// People of the table's population without a tax code.
    pub without_tax_code: ThetaSketch,
    /// Fact rows read.
    pub rows_read: u64,
    /// Time in the database's queries, in milliseconds.
    pub query_ms: u32,
}

/// A new, empty sketch of the size every partner uses.
pub fn sketch() -> ThetaSketch {
    // LG_K is within the library's range: building cannot fail.
    ThetaSketchBuilder::default()
        .lg_k(LG_K)
        .build()
        .unwrap_or_else(|_| unreachable!("LG_K is a valid lg_k"))
}

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
            let for_cells = q.serves(&dims);
            let for_base = !ask.base_by.is_empty() && q.serves(&ask.base_by);
            if !for_cells && !for_base {
                continue;
            }
            let started = Instant::now();
            let rows = self.run_raw(&q.query, &HashMap::new()).await?;
            counted.query_ms = counted
                .query_ms
                .saturating_add(u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX));
            counted.rows_read += rows.rows.len() as u64;
            let reader = FactReader::new(self, q, &rows);
            for row in &rows.rows {
                let Some(fact) = reader.read(row, linkage) else {
                    continue;
                };
                if for_cells && fact.passes(&ask.filters, ask.as_of) {
                    let key = fact.key(&ask.group_by, ask.as_of);
                    counted
                        .cells
                        .entry(key)
                        .or_insert_with(sketch)
                        .update(fact.person);
                    if !fact.has_tax_code {
                        counted.without_tax_code.update(fact.person);
                    }
                }
                if for_base {
                    let key = fact.key(&ask.base_by, ask.as_of);
                    counted
                        .base
                        .entry(key)
                        .or_insert_with(sketch)
                        .update(fact.person);
                }
            }
        }
        Ok(counted)
    }
}

/// One fact row, read: who, and its values.
struct Fact {
    /// The person's linkage pseudonym.
    person: u64,
    has_tax_code: bool,
    values: HashMap<FactField, Typed>,
}

impl Fact {
    /// The fact's value on `dimension`, or `-` when not recorded.
    fn value(&self, dimension: Dimension, as_of: Date) -> String {
        let field = self.values.get(&FactField::of(dimension));
        match (dimension, field) {
            (_, None) => stats::NOT_RECORDED.into(),
            (Dimension::AgeBand, Some(Typed::Date(d))) => stats::age_band(*d, as_of).into(),
            (d, Some(Typed::Date(date))) if d.is_period() => stats::period(d, *date),
            (_, Some(Typed::Coding { code, .. })) => code.clone(),
            (_, Some(Typed::Text(t))) => t.clone(),
            (_, Some(_)) => stats::NOT_RECORDED.into(),
        }
    }

    /// The group's values on `dimensions`.
    fn key(&self, dimensions: &[Dimension], as_of: Date) -> Vec<String> {
        dimensions.iter().map(|d| self.value(*d, as_of)).collect()
    }

    /// Whether the fact passes every filter (a value not recorded passes
    /// none).
    fn passes(&self, filters: &[FactFilter], as_of: Date) -> bool {
        filters.iter().all(|f| {
            if f.dimension.is_period() {
                let Some(Typed::Date(date)) = self.values.get(&FactField::Date) else {
                    return false;
                };
                return f
                    .values
                    .iter()
                    .any(|v| stats::period_of(v).is_some_and(|g| stats::period(g, *date) == *v));
            }
            f.values.contains(&self.value(f.dimension, as_of))
        })
    }
}

/// Reads fact rows of one query.
struct FactReader<'a> {
    connector: &'a Connector,
    query: &'a FactQuery,
    rows: &'a Rows,
}

impl<'a> FactReader<'a> {
    fn new(connector: &'a Connector, query: &'a FactQuery, rows: &'a Rows) -> Self {
        FactReader {
            connector,
            query,
            rows,
        }
    }

    /// The fact one row holds; `None` without a local id.
    fn read(&self, row: &[Value], linkage: &Linkage) -> Option<Fact> {
        let mut values = HashMap::new();
        for (field, spec) in &self.query.fields {
            let raw = match spec {
                ColumnSpec::Column { column, .. } => row.get(self.rows.index_of(column)?)?,
                ColumnSpec::Constant { value, .. } => &Value::Text(value.clone()),
            };
            let mapping = &self.connector.mapping;
            let organisation = &self.connector.organisation;
            if let Ok(Some(v)) = values::convert(raw, field.kind(), spec, mapping, organisation) {
                values.insert(*field, v);
            }
        }
        let Some(Typed::Text(local_id)) = values.remove(&FactField::LocalId) else {
            return None;
        };
        let tax_code = match values.remove(&FactField::TaxCode) {
            Some(Typed::Text(t)) => TaxCode::parse(&t.to_ascii_uppercase()).ok(),
            _ => None,
        };
        let person = match &tax_code {
            Some(code) => linkage.person(code.as_str()),
            None => linkage.local(&self.connector.organisation, &local_id),
        };
        Some(Fact {
            person,
            has_tax_code: tax_code.is_some(),
            values,
        })
    }
}
