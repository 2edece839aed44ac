//! Scoring a candidate person against what a caller knows: exact or
//! omocodic tax code, names with typos and swapped order, birth dates with
//! transposed day and month, birthplace and sex.

use time::Date;

use crate::codice_fiscale::{self, Fragment, TaxCode};
use crate::names::{self, Sex};

/// What is known about a person: a query, or a row found in a database.
#[derive(Debug, Clone, Default)]
pub struct Traits {
    /// A valid tax code, if known.
    pub tax_code: Option<TaxCode>,
    /// Given name(s).
    pub given_name: Option<String>,
    /// Family name(s).
    pub family_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<Date>,
    /// Belfiore code of the birthplace.
    pub birthplace_code: Option<String>,
    /// Sex.
    pub sex: Option<Sex>,
    /// A partial or possibly mistyped tax code (queries only).
    pub tax_code_fragment: Option<Fragment>,
}

/// How well a candidate matches, and on which fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Between 0 and 1.
    pub value: f64,
    /// Names of the query fields that matched (`tax_code`, `family_name`,
    /// `given_name`, `birth_date`, `birthplace_code`, `sex`).
    pub matched: Vec<&'static str>,
}

const W_FAMILY: f64 = 0.30;
const W_GIVEN: f64 = 0.25;
const W_BIRTH: f64 = 0.30;
const W_PLACE: f64 = 0.10;
const W_SEX: f64 = 0.05;
const W_FRAGMENT: f64 = 0.6;
/// A field similarity at or above this counts as matched.
const MATCHED: f64 = 0.85;

/// Scores `candidate` against `query`. A tax code that is equal (or the
/// same person's omocodic variant) scores 1; otherwise the identifying
/// fields present in the query are compared and weighted.
pub fn score(query: &Traits, candidate: &Traits) -> Score {
    if let (Some(q), Some(c)) = (&query.tax_code, &candidate.tax_code) {
        if q == c {
            return Score {
                value: 1.0,
                matched: vec!["tax_code"],
            };
        }
        // Omocodic variants of one base code belong to *different* people
        // who share name letters, birth date and place: the revenue agency
        // made the variant precisely to tell them apart. A variant is
        // evidence (a partner may have computed the code instead of reading
        // it), never proof.
        if q.base() == c.base() {
            return Score {
                value: 0.85,
                matched: vec!["tax_code_variant"],
            };
        }
    }
    let mut total = 0.0;
    let mut weight = 0.0;
    let mut matched = Vec::new();

    // Names, in the recorded order or swapped (given and family names are
    // often entered in the wrong boxes); a swap costs a little.
    let q_family = query
        .family_name
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    let q_given = query.given_name.as_deref().filter(|s| !s.trim().is_empty());
    if q_family.is_some() || q_given.is_some() {
        let c_family = candidate.family_name.as_deref().unwrap_or("");
        let c_given = candidate.given_name.as_deref().unwrap_or("");
        let sim = |q: Option<&str>, c: &str| q.map(|q| names::similarity(q, c));
        let straight = (sim(q_family, c_family), sim(q_given, c_given));
        let swapped = (sim(q_family, c_given), sim(q_given, c_family));
        let value = |(f, g): (Option<f64>, Option<f64>)| {
            f.unwrap_or(0.0) * W_FAMILY + g.unwrap_or(0.0) * W_GIVEN
        };
        let (family, given) = if value(swapped) * 0.97 > value(straight) {
            (swapped.0.map(|v| v * 0.97), swapped.1.map(|v| v * 0.97))
        } else {
            straight
        };
        for (field, s, w) in [
            ("family_name", family, W_FAMILY),
            ("given_name", given, W_GIVEN),
        ] {
            if let Some(s) = s {
                total += s * w;
                weight += w;
                if s >= MATCHED {
                    matched.push(field);
                }
            }
        }
    }
    if let Some(q) = query.birth_date {
        weight += W_BIRTH;
        let s = candidate.birth_date.map_or(0.4, |c| date_similarity(q, c));
        total += s * W_BIRTH;
        if s >= MATCHED {
            matched.push("birth_date");
        }
    }
    if let Some(q) = query.birthplace_code.as_deref().filter(|s| !s.is_empty()) {
        weight += W_PLACE;
        match candidate.birthplace_code.as_deref() {
            Some(c) if c.eq_ignore_ascii_case(q) => {
                total += W_PLACE;
                matched.push("birthplace_code");
            }
            None => total += W_PLACE * 0.4,
            Some(_) => {}
        }
    }
    if let Some(q) = query.sex {
        weight += W_SEX;
        if candidate.sex == Some(q) {
            total += W_SEX;
            matched.push("sex");
        }
    }
    // A partial or mistyped tax code counts by how many of its characters
    // agree with the candidate's code (or, for a candidate without one,
    // with the code its name, birth date and sex give), and by how long it
    // is: a short prefix fits more people.
    if let Some(fragment) = &query.tax_code_fragment {
        let theirs = candidate
            .tax_code
            .as_ref()
            .map(|c| c.as_str().to_string())
            .or_else(|| {
                Some(codice_fiscale::first_eleven(
                    candidate.family_name.as_deref()?,
                    candidate.given_name.as_deref()?,
                    candidate.birth_date?,
                    candidate.sex?,
                ))
            });
        weight += W_FRAGMENT;
        if let Some(theirs) = theirs {
            let length = fragment.text.len().min(theirs.len()) as f64;
            let s = fragment.agreement(&theirs) * (0.6 + 0.4 * length / 16.0);
            total += s * W_FRAGMENT;
            if s >= MATCHED {
                matched.push("tax_code_fragment");
            }
        }
    }
    let value = if weight > 0.0 { total / weight } else { 0.0 };
    Score {
        value: (value * 1000.0).round() / 1000.0,
        matched,
    }
}

/// 1 for the same date, 0.8 for day and month transposed, 0.75 for dates
/// a few days apart, 0.7 for one component off by a typo, 0 otherwise.
fn date_similarity(a: Date, b: Date) -> f64 {
    if a == b {
        return 1.0;
    }
    let close = (a - b).whole_days().abs() <= 3;
    let (ad, am, ay) = (a.day(), u8::from(a.month()), a.year());
    let (bd, bm, by) = (b.day(), u8::from(b.month()), b.year());
    if ay == by && ad == bm && am == bd {
        return 0.8;
    }
    if close {
        return 0.75;
    }
    let same = [ad == bd, am == bm, ay == by]
        .iter()
        .filter(|x| **x)
        .count();
    if same == 2 { 0.7 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn person(family: &str, given: &str, birth: Option<Date>, place: &str) -> Traits {
        Traits {
            family_name: Some(family.into()),
            given_name: Some(given.into()),
            birth_date: birth,
            birthplace_code: (!place.is_empty()).then(|| place.into()),
            ..Traits::default()
        }
    }

    #[test]
    fn tax_codes_match_exactly_and_omocodic_variants_do_not() {
        let code = TaxCode::parse("CCCFBA85D03L219P").ok();
        let omo = TaxCode::parse("CCCFBA85DLPLNMVL").ok();
        let with = |tax_code| Traits {
            tax_code,
            ..Traits::default()
        };
        let exact = Score {
            value: 1.0,
            matched: vec!["tax_code"],
        };
        let variant = Score {
            value: 0.85,
            matched: vec!["tax_code_variant"],
        };
        assert_eq!(score(&with(code.clone()), &with(code.clone())), exact);
        assert_eq!(score(&with(code), &with(omo)), variant);
    }

    #[test]
    fn demographic_table() {
        let truth = person("D'Angelo", "Nicolò", Some(date!(1962 - 03 - 05)), "D969");
        let strong = [
            person("DANGELO", "NICOLO", Some(date!(1962 - 03 - 05)), "D969"),
            person("Dangelo", "Nicola", Some(date!(1962 - 03 - 05)), ""),
            person("Nicolò", "D'Angelo", Some(date!(1962 - 03 - 05)), "D969"),
            person("D'Angleo", "Nicolò", Some(date!(1962 - 05 - 03)), "D969"),
        ];
        for q in &strong {
            let s = score(q, &truth);
            assert!(s.value >= 0.85, "{q:?}: {s:?}");
        }
        let weak = [
            person("Rossi", "Nicolò", Some(date!(1962 - 03 - 05)), "D969"),
            person("D'Angelo", "Nicolò", Some(date!(1971 - 11 - 22)), "H501"),
        ];
        for q in &weak {
            let s = score(q, &truth);
            assert!(s.value < 0.8, "{q:?}: {s:?}");
        }
        let s = score(&strong[0], &truth);
        assert_eq!(
            s.matched,
            vec!["family_name", "given_name", "birth_date", "birthplace_code"]
        );
    }
}
