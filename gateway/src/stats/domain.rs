//! The domain of a statistics table: the values each of its dimensions
//! takes, fixed from the question and the configuration before any partner
//! is asked, never from the data. Every combination of them is published,
//! so a cell with nobody in it is listed (suppressed) like a cell with one
//! or two people, and whether a cell is listed says nothing about anyone.
//!
//! - need, intervention, case status, age band, sex: their closed
//!   vocabularies, and `-` (not recorded);
//! - district and municipality: the federation's declared places
//!   (`[statistics] districts` and `municipalities`), and `-` (not recorded,
//!   or a place not declared);
//! - month, quarter, year: every period of the period asked (a table by a
//!   period needs a period filter);
//! - a dimension the question filters: exactly the values kept.

use std::collections::{BTreeSet, HashMap};

use trama_proto::stats::{self, Dimension, NOT_RECORDED};

use super::question::{Filter, Question};
use crate::error::CallError;

/// The places a federation declares for its statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    /// District names, as the partners' mappings write them.
    pub districts: Vec<String>,
    /// Municipalities, by Belfiore code.
    pub municipalities: Vec<String>,
}

impl Places {
    /// The declared values of a place dimension.
    fn of(&self, dimension: Dimension) -> Option<&[String]> {
        match dimension {
            Dimension::District => Some(&self.districts),
            Dimension::Municipality => Some(&self.municipalities),
            _ => None,
        }
    }
}

/// The values of each dimension of one table, in the order published.
#[derive(Debug, Clone)]
pub struct Domain {
    values: Vec<Vec<String>>,
    /// Where each value sits in `values[i]`, to place a partner's group.
    index: Vec<HashMap<String, usize>>,
    /// Whether a value outside the domain is read as `-` (no filter on the
    /// dimension) or dropped (a filter already kept only the domain).
    folds: Vec<bool>,
}

impl Domain {
    /// The domain of `question`, or why it cannot be published: a filter
    /// on a place the federation does not declare, a table by a period
    /// without a period asked, or more cells than `max_cells`.
    pub fn of(question: &Question, places: &Places, max_cells: u32) -> Result<Domain, CallError> {
        for f in &question.filters {
            declared(f, places)?;
        }
        let mut values = Vec::new();
        let mut folds = Vec::new();
        for (i, d) in question.group_by.iter().enumerate() {
            let (vals, fold) = dimension_values(i, *d, question, places)?;
            values.push(vals);
            folds.push(fold);
        }
        let cells = values
            .iter()
            .map(|v| v.len() as u64 + 1)
            .try_fold(1u64, u64::checked_mul)
            .unwrap_or(u64::MAX);
        if cells > u64::from(max_cells) {
            return Err(CallError::invalid(
                "group_by",
                format!(
                    "the table would have {cells} cells with its margins, above the limit of {max_cells} (statistics.max_cells); group by fewer dimensions or filter them"
                ),
            ));
        }
        let mut domain = Domain::listed(values);
        domain.folds = folds;
        Ok(domain)
    }

    /// A domain of given values, each dimension's list in order, read
    /// strictly (a group outside it is dropped): for tables built by hand
    /// in benchmarks and attack suites.
    pub fn listed(values: Vec<Vec<String>>) -> Domain {
        let index = values
            .iter()
            .map(|vals| {
                vals.iter()
                    .enumerate()
                    .map(|(i, v)| (v.clone(), i))
                    .collect()
            })
            .collect();
        Domain {
            folds: vec![false; values.len()],
            values,
            index,
        }
    }

    /// How many dimensions the table has.
    pub fn dims(&self) -> usize {
        self.values.len()
    }

    /// The values of dimension `i`, in the order published.
    pub fn values(&self, i: usize) -> &[String] {
        &self.values[i]
    }

    /// Where a partner's group with `values` sits in the table (one index
    /// per dimension); a value outside the domain counts as `-` where the
    /// dimension is not filtered, and drops the group where it is.
    pub fn place(&self, values: &[String]) -> Option<Vec<usize>> {
        if values.len() != self.dims() {
            return None;
        }
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match self.index[i].get(v) {
                Some(at) => Some(*at),
                None if self.folds[i] => self.index[i].get(NOT_RECORDED).copied(),
                None => None,
            })
            .collect()
    }
}

/// Refuses a filter on a place the federation does not declare.
fn declared(f: &Filter, places: &Places) -> Result<(), CallError> {
    let Some(known) = places.of(f.dimension) else {
        return Ok(());
    };
    for v in &f.values {
        if !known.contains(v) {
            let list = if known.is_empty() {
                "none is declared ([statistics] in the gateway's configuration)".to_string()
            } else {
                format!("declared: {}", known.join(", "))
            };
            return Err(CallError::invalid(
                format!("filters[{}]", f.index),
                format!(
                    "`{v}` is not a {} of the federation; {list}",
                    f.dimension.name()
                ),
            ));
        }
    }
    Ok(())
}

/// The values of the table's dimension `d` (at `group_by[i]`), and whether
/// a value outside them folds into `-`.
fn dimension_values(
    i: usize,
    d: Dimension,
    question: &Question,
    places: &Places,
) -> Result<(Vec<String>, bool), CallError> {
    if d.is_period() {
        return Ok((periods(i, d, &question.filters)?, false));
    }
    if let Some(f) = question.filters.iter().find(|f| f.dimension == d) {
        return Ok((f.values.clone(), false));
    }
    let mut vals: Vec<String> = match (d.vocabulary(), places.of(d)) {
        (Some(words), _) => words.iter().map(|w| w.to_string()).collect(),
        (None, Some(declared)) if !declared.is_empty() => declared.to_vec(),
        _ => {
            return Err(CallError::Precondition {
                subject: format!("group_by[{i}]"),
                description: format!(
                    "the federation declares no {d}s to list: a table lists every {d} whether anyone lives there or not. Declare them in the gateway's configuration ([statistics] {d}s) or filter on {d}",
                    d = d.name()
                ),
            });
        }
    };
    vals.push(NOT_RECORDED.into());
    Ok((vals, true))
}

/// Every period of granularity `d` within the periods the filters keep.
fn periods(i: usize, d: Dimension, filters: &[Filter]) -> Result<Vec<String>, CallError> {
    let mut months: Option<BTreeSet<(i32, u8)>> = None;
    for f in filters.iter().filter(|f| f.dimension.is_period()) {
        let kept: BTreeSet<(i32, u8)> = f.values.iter().flat_map(|v| months_of(v)).collect();
        months = Some(match months {
            Some(m) => m.intersection(&kept).copied().collect(),
            None => kept,
        });
    }
    let Some(months) = months else {
        return Err(CallError::invalid(
            format!("group_by[{i}]"),
            format!(
                "a table by {} lists every one of the period asked: add a period filter, for example `period=2025` or `period=2025-Q1,2025-Q2`",
                d.name()
            ),
        ));
    };
    let mut out: Vec<String> = Vec::new();
    for (y, m) in months {
        let Ok(month) = time::Month::try_from(m) else {
            continue;
        };
        let Ok(day) = time::Date::from_calendar_date(y, month, 1) else {
            continue;
        };
        let p = stats::period(d, day);
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The months a period value covers, as (year, month).
fn months_of(value: &str) -> Vec<(i32, u8)> {
    let Some(year) = value.get(..4).and_then(|y| y.parse::<i32>().ok()) else {
        return Vec::new();
    };
    match stats::period_of(value) {
        Some(Dimension::Year) => (1..=12).map(|m| (year, m)).collect(),
        Some(Dimension::Quarter) => {
            let q = value
                .get(6..7)
                .and_then(|q| q.parse::<u8>().ok())
                .unwrap_or(1);
            (1..=3).map(|k| (year, (q - 1) * 3 + k)).collect()
        }
        Some(Dimension::Month) => value
            .get(5..7)
            .and_then(|m| m.parse::<u8>().ok())
            .map(|m| vec![(year, m)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::question::asked;

    fn question(by: &[&str], filters: &[(&str, &[&str])]) -> Question {
        match asked(by, filters) {
            Ok(q) => q,
            Err(e) => panic!("{e}"),
        }
    }

    fn places() -> Places {
        Places {
            districts: vec!["Centro".into(), "Po".into()],
            municipalities: vec!["D150".into()],
        }
    }

    fn domain(by: &[&str], filters: &[(&str, &[&str])]) -> Result<Domain, String> {
        Domain::of(&question(by, filters), &places(), 10_000).map_err(|e| e.to_string())
    }

    #[test]
    fn every_value_is_listed_whatever_the_data() {
        let Ok(d) = domain(&["need", "district"], &[]) else {
            panic!("valid")
        };
        assert_eq!(d.values(0).len(), stats::NEEDS.len() + 1);
        assert_eq!(d.values(1), ["Centro", "Po", "-"]);
        // An undeclared district counts as not recorded.
        let at = d.place(&["housing".into(), "Cavatigozzi".into()]);
        assert_eq!(at, Some(vec![0, 2]));
    }

    #[test]
    fn periods_are_every_one_of_the_period_asked() {
        let Ok(d) = domain(&["month"], &[("period", &["2025-Q2"])]) else {
            panic!("valid")
        };
        assert_eq!(d.values(0), ["2025-04", "2025-05", "2025-06"]);
        let Ok(d) = domain(&["quarter"], &[("year", &["2024", "2025"])]) else {
            panic!("valid")
        };
        assert_eq!(d.values(0).len(), 8);
        // Outside the period asked, a group is dropped, not folded.
        assert_eq!(d.place(&["2023-Q1".into()]), None);
        let no_period = domain(&["year", "need"], &[]).map(|_| ()).unwrap_err();
        assert!(no_period.contains("group_by[0]"), "{no_period}");
        assert!(no_period.contains("period=2025"), "{no_period}");
    }

    #[test]
    fn filters_are_the_domain_and_undeclared_places_are_refused() {
        let Ok(d) = domain(&["district"], &[("district", &["Po"])]) else {
            panic!("valid")
        };
        assert_eq!(d.values(0), ["Po"]);
        let err = domain(&["need"], &[("district", &["Atlantide"])])
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.contains("filters[0]") && err.contains("declared: Centro, Po"),
            "{err}"
        );
    }

    #[test]
    fn a_table_too_large_is_refused_naming_the_limit() {
        let q = question(&["need", "intervention", "age_band", "sex"], &[]);
        let err = Domain::of(&q, &places(), 1_000).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("statistics.max_cells"), "{err}");
        assert!(Domain::of(&q, &places(), 10_000).is_ok());
    }
}
