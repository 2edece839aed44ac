//! A statistics question, validated: the table's dimensions and filters in
//! domain types, every unknown name or value refused with the field and
//! the fix, and the canonical form that keys the cache (the same question
//! however it is written).

use trama_proto::stats::{self, Dimension};
use trama_proto::v1;
use trama_subject::{belfiore, text};

use crate::error::CallError;

/// Most dimensions of a table.
pub const MAX_GROUP_BY: usize = 4;
/// Most filters of a question.
const MAX_FILTERS: usize = 8;
/// Most values of one filter.
const MAX_VALUES: usize = 50;
/// Longest district name.
const MAX_DISTRICT: usize = 80;

/// A valid question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The table's dimensions, in order.
    pub group_by: Vec<Dimension>,
    /// The filters, one per dimension, values sorted.
    pub filters: Vec<Filter>,
}

/// A valid filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Position in the request.
    pub index: usize,
    /// The dimension (a period filter is read at its values' granularity).
    pub dimension: Dimension,
    /// The values kept, sorted, without repeats.
    pub values: Vec<String>,
}

impl Question {
    /// Reads and checks a request's dimensions and filters.
    pub fn of(req: &v1::AggregateRequest) -> Result<Question, CallError> {
        if req.group_by.len() > MAX_GROUP_BY {
            return Err(CallError::invalid(
                "group_by",
                format!("at most {MAX_GROUP_BY} dimensions; ask for a smaller table"),
            ));
        }
        let mut group_by = Vec::new();
        for (i, name) in req.group_by.iter().enumerate() {
            let d = dimension(&format!("group_by[{i}]"), name)?;
            if group_by.contains(&d) {
                return Err(CallError::invalid(
                    format!("group_by[{i}]"),
                    format!("`{}` is already a dimension of the table", d.name()),
                ));
            }
            group_by.push(d);
        }
        if req.filters.len() > MAX_FILTERS {
            return Err(CallError::invalid(
                "filters",
                format!("at most {MAX_FILTERS} filters"),
            ));
        }
        let mut filters: Vec<Filter> = Vec::new();
        for (i, f) in req.filters.iter().enumerate() {
            let filter = self::filter(i, f)?;
            if filters.iter().any(|g| g.dimension == filter.dimension) {
                return Err(CallError::invalid(
                    format!("filters[{i}]"),
                    format!(
                        "a second filter on {}; list every value in one filter",
                        filter.dimension.name()
                    ),
                ));
            }
            filters.push(filter);
        }
        Ok(Question { group_by, filters })
    }

    /// The same question whatever order it was written in: the cache key.
    pub fn canonical(&self, as_of: &str) -> String {
        let mut filters: Vec<String> = self
            .filters
            .iter()
            .map(|f| format!("{}={}", f.dimension.name(), f.values.join("|")))
            .collect();
        filters.sort();
        let by: Vec<&str> = self.group_by.iter().map(|d| d.name()).collect();
        format!("{}?{}@{as_of}", by.join(","), filters.join("&"))
    }

    /// The filters on who or when, which the difference check reads.
    pub fn checked_filters(&self) -> Vec<CheckedFilter> {
        self.filters
            .iter()
            .filter(|f| !f.dimension.is_attribute())
            .map(|f| CheckedFilter {
                index: f.index,
                dimension: f.dimension,
                values: f.values.clone(),
            })
            .collect()
    }

    /// The base groups' dimensions for the difference check: the table's
    /// who-or-when dimensions, then those of the filters on who or when;
    /// empty when there are no such filters (nothing to check). Returns
    /// the dimensions and how many of them are the table's.
    pub fn base_by(&self) -> (Vec<Dimension>, usize) {
        let checked = self.checked_filters();
        if checked.is_empty() {
            return (Vec::new(), 0);
        }
        let mut by: Vec<Dimension> = self
            .group_by
            .iter()
            .copied()
            .filter(|d| !d.is_attribute())
            .collect();
        let groups = by.len();
        by.extend(checked.iter().map(|f| f.dimension));
        (by, groups)
    }

    /// The table's dimensions by name.
    pub fn group_by_names(&self) -> Vec<String> {
        self.group_by.iter().map(|d| d.name().to_string()).collect()
    }

    /// The wire filters forwarded to the connectors.
    pub fn wire_filters(&self) -> Vec<v1::Filter> {
        self.filters
            .iter()
            .map(|f| v1::Filter {
                dimension: f.dimension.name().into(),
                values: f.values.clone(),
            })
            .collect()
    }

    /// What the audit records: the dimensions and filters asked, never a
    /// cell of the answer.
    pub fn audit_terms(&self) -> Vec<String> {
        let filters = self.filters.iter().map(|f| (f.dimension, &f.values[..]));
        stats::audit_terms(&self.group_by, filters)
    }
}

/// The dimension `name`, or why not.
fn dimension(field: &str, name: &str) -> Result<Dimension, CallError> {
    let name = text::trim(name);
    if let Some(d) = Dimension::parse(name) {
        return Ok(d);
    }
    let hint = match name {
        "birth_date" | "date_of_birth" | "age" => {
            "; statistics count by age band (`age_band`), never by birth date or exact age"
        }
        "period" => "; group by `month`, `quarter` or `year`",
        _ => "",
    };
    Err(CallError::invalid(
        field,
        format!(
            "unknown dimension `{name}`; known: {}{hint}",
            Dimension::all_names()
        ),
    ))
}

/// One filter, its values checked against the dimension.
fn filter(i: usize, f: &v1::Filter) -> Result<Filter, CallError> {
    let field = format!("filters[{i}]");
    let name = text::trim(&f.dimension);
    if f.values.is_empty() || f.values.len() > MAX_VALUES {
        return Err(CallError::invalid(
            &field,
            format!("a filter keeps between 1 and {MAX_VALUES} values"),
        ));
    }
    let mut values: Vec<String> = f.values.iter().map(|v| text::trim(v).to_string()).collect();
    values.sort();
    values.dedup();
    let dimension = if name == "period" {
        period_dimension(&field, &values)?
    } else {
        let d = dimension(&field, name)?;
        if d.is_period() {
            period_dimension(&field, &values)?;
        }
        d
    };
    for v in &values {
        value(&field, dimension, v)?;
    }
    if dimension.is_attribute() && values.len() > 1 {
        return Err(CallError::invalid(
            &field,
            format!(
                "a filter on {d} keeps one value: the people with any of several could be compared with those with any of others to single out whoever has only one. Filter on one {d}, or group by {d}",
                d = dimension.name()
            ),
        ));
    }
    Ok(Filter {
        index: i,
        dimension,
        values,
    })
}

/// The one granularity of a period filter's values.
fn period_dimension(field: &str, values: &[String]) -> Result<Dimension, CallError> {
    let mut found = None;
    for v in values {
        let Some(d) = stats::period_of(v) else {
            return Err(CallError::invalid(
                field,
                format!("`{v}` is not a period: write 2025, 2025-Q2 or 2025-07"),
            ));
        };
        if found.is_some_and(|f| f != d) {
            return Err(CallError::invalid(
                field,
                "mixes years, quarters and months; use one kind of period per filter",
            ));
        }
        found = Some(d);
    }
    found.ok_or_else(|| CallError::invalid(field, "no period given"))
}

/// Whether `v` is a value of `dimension`.
fn value(field: &str, dimension: Dimension, v: &str) -> Result<(), CallError> {
    if let Some(known) = dimension.vocabulary() {
        if !known.contains(&v) {
            return Err(CallError::invalid(
                field,
                format!(
                    "unknown {} `{v}`; known: {}",
                    dimension.name(),
                    known.join(", ")
                ),
            ));
        }
        return Ok(());
    }
    match dimension {
        Dimension::Municipality if !belfiore::is_known(v) => Err(CallError::invalid(
            field,
            format!("`{v}` is not a municipality code (Belfiore, for example D150 for Cremona)"),
        )),
        Dimension::District if text::is_blank(v) || v.chars().count() > MAX_DISTRICT => {
            Err(CallError::invalid(
                field,
                format!("a district is named in 1 to {MAX_DISTRICT} characters"),
            ))
        }
        d if d.is_period() && stats::period_of(v) != Some(d) => Err(CallError::invalid(
            field,
            format!("`{v}` is not a {}", d.name()),
        )),
        _ => Ok(()),
    }
}

/// A question as the unit tests write it: dimensions and filters by name.
/// A filter on who or when (not on a need, intervention or case) as the
/// difference check reads it.
#[derive(Debug, Clone)]
pub struct CheckedFilter {
    /// Position in the request, for the message.
    pub index: usize,
    /// The dimension.
    pub dimension: Dimension,
    /// The values kept.
    pub values: Vec<String>,
}

#[cfg(test)]
pub(crate) fn asked(by: &[&str], filters: &[(&str, &[&str])]) -> Result<Question, String> {
    let req = v1::AggregateRequest {
        context: None,
        group_by: by.iter().map(|s| s.to_string()).collect(),
        filters: filters
            .iter()
            .map(|(d, v)| v1::Filter {
                dimension: d.to_string(),
                values: v.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    };
    Question::of(&req).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(by: &[&str], filters: &[(&str, &[&str])]) -> Result<Question, String> {
        asked(by, filters)
    }

    #[test]
    fn unknown_names_and_values_are_named() {
        for (by, filters, want) in [
            (
                vec!["birth_date"],
                vec![],
                "group_by[0]: unknown dimension `birth_date`",
            ),
            (vec!["need", "need"], vec![], "group_by[1]"),
            (
                vec!["need"],
                vec![("need", &["casa"][..])],
                "unknown need `casa`",
            ),
            (
                vec![],
                vec![("period", &["2025", "2025-Q1"][..])],
                "one kind of period",
            ),
            (
                vec![],
                vec![("period", &["25"][..])],
                "`25` is not a period",
            ),
            (
                vec![],
                vec![("municipality", &["XXXX"][..])],
                "not a municipality code",
            ),
            (
                vec![],
                vec![("birth_date", &["1980-01-01"][..])],
                "filters[0]: unknown dimension",
            ),
            (vec![], vec![("sex", &[][..])], "between 1 and 50"),
            (
                vec!["district"],
                vec![("need", &["housing", "food"][..])],
                "filters[0]: a filter on need keeps one value",
            ),
        ] {
            let got = ask(&by, &filters).map(|_| ()).unwrap_err();
            assert!(got.contains(want), "want {want:?} in {got:?}");
        }
    }

    #[test]
    fn the_same_question_has_one_canonical_form() {
        let a = ask(
            &["district", "need"],
            &[("period", &["2025"]), ("sex", &["male", "female"])],
        );
        let b = ask(
            &["district", "need"],
            &[("sex", &["female", "male"]), ("year", &["2025"])],
        );
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("valid")
        };
        assert_eq!(a.canonical("2026-12-02"), b.canonical("2026-12-02"));
        assert_eq!(
            a.base_by().0,
            vec![Dimension::District, Dimension::Year, Dimension::Sex]
        );
    }
}
