//! The pieces a mapping is made of, shared by the parsers of its parts
//! (sections, statistics facts, the offer, the referral inbox) and by the
//! value conversion: a named query, the kind of a schema field, where a
//! field's value comes from (a column with its unit, date layout and code
//! table, or a constant), and the code tables.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::params::ParamSql;

/// A query with the key it came from.
#[derive(Debug, Clone)]
pub struct NamedQuery {
    /// The key in the mapping file, for example `match.tax_code.sql`.
    pub key: String,
    /// The SQL with its named parameters.
    pub sql: ParamSql,
}

/// The kind of value a schema field holds; decides which column types fit
/// and how values are converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A calendar date.
    Date,
    /// A point in time.
    Timestamp,
    /// A coded value (needs a code table, or a constant).
    Coding,
    /// An amount of money.
    Money,
    /// A whole number.
    Int,
    /// Yes or no.
    Bool,
}

impl FieldKind {
    /// The kind as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Date => "date",
            FieldKind::Timestamp => "timestamp",
            FieldKind::Coding => "coding",
            FieldKind::Money => "money",
            FieldKind::Int => "int",
            FieldKind::Bool => "bool",
        }
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSpec {
    /// A result column, with options.
    Column {
        /// The column name in the query's result.
        column: String,
        /// Code table translating local codes (coded fields).
        codes: Option<String>,
        /// For money: whether the column holds `euro` (decimal) or `cents`.
        unit: MoneyUnit,
        /// For dates: the layout of dates stored as text.
        date_format: DateFormat,
    },
    /// The same value for every row (for example the provider's name); a
    /// coded constant is a local code translated through `codes`.
    Constant {
        /// The value.
        value: String,
        /// Code table translating it (coded fields).
        codes: Option<String>,
    },
}

impl ColumnSpec {
    /// The result column, if the value comes from one.
    pub fn column(&self) -> Option<&str> {
        match self {
            ColumnSpec::Column { column, .. } => Some(column),
            ColumnSpec::Constant { .. } => None,
        }
    }

    /// The code table translating the value, if any.
    pub fn codes(&self) -> Option<&str> {
        match self {
            ColumnSpec::Column { codes, .. } | ColumnSpec::Constant { codes, .. } => {
                codes.as_deref()
            }
        }
    }
}

/// The unit of a money column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MoneyUnit {
    /// Euro, possibly with decimals (`12.50`).
    #[default]
    Euro,
    /// Whole euro cents (`1250`).
    Cents,
}

/// How dates stored as text are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateFormat {
    /// `YYYY-MM-DD`, optionally followed by a time (`YYYY-MM-DD HH:MM:SS`).
    #[default]
    Iso,
    /// `DD/MM/YYYY`, as many Italian systems store them.
    DayMonthYear,
    /// `YYYYMMDD`, as a number or text.
    Compact,
}

/// A code table: local codes to the codes of a common code system.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTable {
    /// The common system, for example `urn:trama:cs:intervention`.
    pub system: String,
    /// Local code → common code.
    pub map: BTreeMap<String, String>,
    /// Local codes with no common equivalent, kept local on purpose: they
    /// travel in the partner's own system (`urn:trama:local:...`), and the
    /// conformance check does not take them for a forgotten translation.
    pub local: std::collections::BTreeSet<String>,
}

/// A query with its column bindings (`[[sections.*]]`, `[[statistics.facts]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSectionQuery {
    pub(crate) sql: String,
    pub(crate) columns: BTreeMap<String, RawColumn>,
}

/// A column binding as written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawColumn {
    Name(String),
    Detailed(RawColumnDetail),
}

/// A column binding with options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumnDetail {
    column: Option<String>,
    value: Option<String>,
    codes: Option<String>,
    unit: Option<String>,
    date_format: Option<String>,
}

/// The query `sql` of `<key>.sql`, refused (with `why`) if it names a
/// parameter: fact and offer queries read every row.
pub(crate) fn parameterless(
    key: &str,
    sql: &str,
    why: &str,
) -> Result<NamedQuery, (String, String)> {
    let sql_key = format!("{key}.sql");
    let parsed = ParamSql::parse(sql).map_err(|p| (sql_key.clone(), p))?;
    if let Some(p) = parsed.param_names().next() {
        return Err((sql_key, format!("unknown parameter `:{p}`: {why}")));
    }
    Ok(NamedQuery {
        key: sql_key,
        sql: parsed,
    })
}

/// A column binding as written, checked against the kind of its field and
/// the code tables defined.
pub(crate) fn column_spec(
    raw: &RawColumn,
    kind: FieldKind,
    codes: &BTreeMap<String, CodeTable>,
) -> Result<ColumnSpec, String> {
    let detail = match raw {
        RawColumn::Name(name) => RawColumnDetail {
            column: Some(name.clone()),
            value: None,
            codes: None,
            unit: None,
            date_format: None,
        },
        RawColumn::Detailed(d) => RawColumnDetail {
            column: d.column.clone(),
            value: d.value.clone(),
            codes: d.codes.clone(),
            unit: d.unit.clone(),
            date_format: d.date_format.clone(),
        },
    };
    let what = detail
        .column
        .clone()
        .or_else(|| detail.value.clone())
        .unwrap_or_default();
    if let Some(table) = &detail.codes {
        if kind != FieldKind::Coding {
            return Err("`codes` applies only to coded fields".into());
        }
        if !codes.contains_key(table) {
            return Err(format!(
                "code table `{table}` is not defined; add a [codes.{table}] table"
            ));
        }
    } else if kind == FieldKind::Coding {
        return Err(format!(
            "coded field: translate `{what}` with a code table, `{{ column = \"{what}\", codes = \"<table>\" }}`"
        ));
    }
    if let Some(value) = detail.value {
        if detail.column.is_some() {
            return Err("give either `column` or `value`, not both".into());
        }
        return Ok(ColumnSpec::Constant {
            value,
            codes: detail.codes,
        });
    }
    let Some(column) = detail.column.filter(|c| !c.trim().is_empty()) else {
        return Err(
            "give the result column (`column = \"...\"`) or a constant (`value = \"...\"`)".into(),
        );
    };
    let unit = match detail.unit.as_deref() {
        None | Some("euro") => MoneyUnit::Euro,
        Some("cents") => MoneyUnit::Cents,
        Some(other) => return Err(format!("unknown unit `{other}` (use euro or cents)")),
    };
    if detail.unit.is_some() && kind != FieldKind::Money {
        return Err("`unit` applies only to money fields".into());
    }
    let date_format = match detail.date_format.as_deref() {
        None | Some("iso") => DateFormat::Iso,
        Some("dd/mm/yyyy") => DateFormat::DayMonthYear,
        Some("yyyymmdd") => DateFormat::Compact,
        Some(other) => {
            return Err(format!(
                "unknown date_format `{other}` (use iso, dd/mm/yyyy or yyyymmdd)"
            ));
        }
    };
    Ok(ColumnSpec::Column {
        column,
        codes: detail.codes,
        unit,
        date_format,
    })
}
