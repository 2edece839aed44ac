//! Statistics at the partner: the facts a partner can count
//! (`[[statistics.facts]]` in the mapping file: one row per need,
//! intervention or case, with the person and when), and counting them into
//! sketches of pseudonyms by the dimensions asked (`CountPeople`). Only
//! sketches leave the connector: never a row, a name or a tax code.

use std::collections::{BTreeMap, HashMap};

use datasketches::theta::{ThetaSketch, ThetaSketchBuilder};
use time::Date;
use trama_proto::stats::{self, Dimension};
use trama_subject::TaxCode;

use crate::columns::{
    CodeTable, ColumnSpec, FieldKind, NamedQuery, RawSectionQuery, column_spec, parameterless,
};
use crate::error::CallError;
use crate::linkage::Linkage;
use crate::params::ParamSql;
use crate::source::{Rows, Value};
use crate::values::{self, Typed};

/// Base-2 logarithm of the sketches' nominal size (see
/// [`stats::SKETCH_LG_K`]).
pub const LG_K: u8 = stats::SKETCH_LG_K;

/// Most groups one count may hold (table and base groups together): a
/// larger table is refused rather than built in memory.
pub const MAX_GROUPS: usize = 50_000;

/// A fact query of the mapping, with its column bindings.
#[derive(Debug, Clone)]
pub struct FactQuery {
    /// The key in the mapping file, for example `statistics.facts[0]`.
    pub key: String,
    /// The query; it takes no parameters.
    pub query: NamedQuery,
    /// The query's text as written, for narrowing it to the columns a
    /// count needs.
    pub text: String,
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

    /// The query narrowed to the columns bound to `needed` (a subquery),
    /// so that the database sends only what the count reads; `None` when a
    /// column is not a plain name (then the query runs as written).
    pub(crate) fn narrowed(&self, needed: &[FactField]) -> Option<ParamSql> {
        let mut columns: Vec<&str> = Vec::new();
        for (field, spec) in &self.fields {
            if let Some(c) = spec.column().filter(|_| needed.contains(field)) {
                let plain = c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                    && c.chars().next().is_some_and(|ch| !ch.is_ascii_digit());
                if !plain {
                    return None;
                }
                if !columns.iter().any(|k| k.eq_ignore_ascii_case(c)) {
                    columns.push(c);
                }
            }
        }
        let text = format!(
            "SELECT {} FROM (\n{}\n) AS trama_facts",
            columns.join(", "),
            self.text
        );
        ParamSql::parse(&text).ok()
    }

    /// Whether the query's rows can count in a table using `dimensions`:
    /// a row is a need, an intervention or a case, so a query counts only
    /// where it binds every such dimension used. Other dimensions it does
    /// not bind read `-` (not recorded).
    pub(crate) fn serves(&self, dimensions: &[Dimension]) -> bool {
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
    let query = parameterless(
        &key,
        &raw.sql,
        "fact queries take no parameters (they count every fact)",
    )?;
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
    Ok(FactQuery {
        key,
        query,
        text: raw.sql.trim().trim_end_matches(';').to_string(),
        fields,
    })
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
}

impl CountAsk {
    /// Every dimension the table uses.
    pub(crate) fn dimensions(&self) -> Vec<Dimension> {
        let mut all = self.group_by.clone();
        all.extend(self.filters.iter().map(|f| f.dimension));
        all
    }

    /// The fields a count reads: the person, every dimension used, and
    /// the fact's date where an age band is reckoned on it.
    pub(crate) fn needed(&self) -> Vec<FactField> {
        let mut fields = vec![FactField::LocalId, FactField::TaxCode];
        let used: Vec<Dimension> = self
            .dimensions()
            .into_iter()
            .chain(self.base_by.iter().copied())
            .collect();
        if used.contains(&Dimension::AgeBand) {
            fields.push(FactField::Date);
        }
        fields.extend(used.into_iter().map(FactField::of));
        fields
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

/// Which groups a fact query's rows count in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Uses {
    /// The table's (the query binds every attribute the table uses).
    pub(crate) cells: bool,
    /// The base groups of the difference check.
    pub(crate) base: bool,
}

impl Counted {
    /// Counts one fact in its groups; refused when the groups grow past
    /// [`MAX_GROUPS`].
    pub(crate) fn add(&mut self, fact: &Fact, ask: &CountAsk, uses: Uses) -> Result<(), CallError> {
        if uses.cells && fact.passes(&ask.filters) {
            let key = fact.key(&ask.group_by);
            self.cells
                .entry(key)
                .or_insert_with(sketch)
                .update(fact.person);
            if !fact.has_tax_code {
                self.without_tax_code.update(fact.person);
            }
        }
        if uses.base {
            let key = fact.key(&ask.base_by);
            self.base
                .entry(key)
                .or_insert_with(sketch)
                .update(fact.person);
        }
        if self.cells.len() + self.base.len() > MAX_GROUPS {
            return Err(CallError::invalid(
                "group_by",
                format!(
                    "the table would have more than {MAX_GROUPS} groups at this partner; ask for fewer dimensions or filter"
                ),
            ));
        }
        Ok(())
    }
}

/// One fact row, read: who, and its values.
pub(crate) struct Fact {
    /// The person's linkage pseudonym.
    pub(crate) person: u64,
    has_tax_code: bool,
    values: HashMap<FactField, Typed>,
}

impl Fact {
    /// The fact's value on `dimension`, or `-` when not recorded. A
    /// person's age band is their age on the fact's own date, so that a
    /// table does not change overnight when someone has a birthday.
    pub(crate) fn value(&self, dimension: Dimension) -> String {
        let field = self.values.get(&FactField::of(dimension));
        match (dimension, field) {
            (_, None) => stats::NOT_RECORDED.into(),
            (Dimension::AgeBand, Some(Typed::Date(birth))) => match self.date() {
                Some(on) => stats::age_band(*birth, on).into(),
                None => stats::NOT_RECORDED.into(),
            },
            (d, Some(Typed::Date(date))) if d.is_period() => stats::period(d, *date),
            (_, Some(Typed::Coding { code, .. })) => code.clone(),
            (_, Some(Typed::Text(t))) => t.clone(),
            (_, Some(_)) => stats::NOT_RECORDED.into(),
        }
    }

    /// The fact's own date, if recorded.
    fn date(&self) -> Option<Date> {
        match self.values.get(&FactField::Date) {
            Some(Typed::Date(d)) => Some(*d),
            _ => None,
        }
    }

    /// The group's values on `dimensions`.
    fn key(&self, dimensions: &[Dimension]) -> Vec<String> {
        dimensions.iter().map(|d| self.value(*d)).collect()
    }

    /// Whether the fact passes every filter (a value not recorded passes
    /// none).
    fn passes(&self, filters: &[FactFilter]) -> bool {
        filters.iter().all(|f| {
            if f.dimension.is_period() {
                let Some(date) = self.date() else {
                    return false;
                };
                return f
                    .values
                    .iter()
                    .any(|v| stats::period_of(v).is_some_and(|g| stats::period(g, date) == *v));
            }
            f.values.contains(&self.value(f.dimension))
        })
    }
}

/// Where a bound field's value comes from in the rows of one query.
enum Slot<'a> {
    /// This column of each row, converted through the binding.
    Column(usize, &'a ColumnSpec),
    /// The same value for every row, converted once.
    Fixed(Option<Typed>),
}

/// Reads fact rows of one query: each binding resolved once to a column
/// index or a converted constant.
pub(crate) struct FactReader<'a> {
    codes: &'a BTreeMap<String, CodeTable>,
    organisation: &'a str,
    slots: Vec<(FactField, Slot<'a>)>,
}

impl<'a> FactReader<'a> {
    /// A reader of `rows` of `query`, converting through the mapping's
    /// code tables `codes` at `organisation`.
    pub(crate) fn new(
        codes: &'a BTreeMap<String, CodeTable>,
        organisation: &'a str,
        query: &'a FactQuery,
        rows: &'a Rows,
    ) -> Self {
        let convert = |raw: &Value, field: FactField, spec: &ColumnSpec| {
            values::convert(raw, field.kind(), spec, codes, organisation)
                .ok()
                .flatten()
        };
        let slots = query
            .fields
            .iter()
            .filter_map(|(field, spec)| {
                let slot = match spec {
                    ColumnSpec::Column { column, .. } => Slot::Column(rows.index_of(column)?, spec),
                    ColumnSpec::Constant { value, .. } => {
                        Slot::Fixed(convert(&Value::Text(value.clone()), *field, spec))
                    }
                };
                Some((*field, slot))
            })
            .collect();
        FactReader {
            codes,
            organisation,
            slots,
        }
    }

    /// The fact one row holds; `None` without a local id.
    pub(crate) fn read(&self, row: &[Value], linkage: &Linkage) -> Option<Fact> {
        let mut values = HashMap::with_capacity(self.slots.len());
        for (field, slot) in &self.slots {
            let value = match slot {
                Slot::Column(i, spec) => values::convert(
                    row.get(*i)?,
                    field.kind(),
                    spec,
                    self.codes,
                    self.organisation,
                )
                .ok()
                .flatten(),
                Slot::Fixed(v) => v.clone(),
            };
            if let Some(v) = value {
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
            None => linkage.local(self.organisation, &local_id),
        };
        Some(Fact {
            person,
            has_tax_code: tax_code.is_some(),
            values,
        })
    }
}
