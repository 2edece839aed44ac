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
    if let Some(by_code) = by_tax_code(query, candidate) {
        return by_code;
    }
    let mut tally = Tally::default();
    let (family, given) = name_similarity(query, candidate);
    tally.add("family_name", family, W_FAMILY);
    tally.add("given_name", given, W_GIVEN);
    if let Some(q) = query.birth_date {
        let s = candidate.birth_date.map_or(0.4, |c| date_similarity(q, c));
        tally.add("birth_date", Some(s), W_BIRTH);
    }
    if let Some(q) = query.birthplace_code.as_deref().filter(|s| !s.is_empty()) {
        let s = match candidate.birthplace_code.as_deref() {
            Some(c) if c.eq_ignore_ascii_case(q) => 1.0,
            None => 0.4,
            Some(_) => 0.0,
        };
        tally.add("birthplace_code", Some(s), W_PLACE);
    }
    if let Some(q) = query.sex {
        let s = if candidate.sex == Some(q) { 1.0 } else { 0.0 };
        tally.add("sex", Some(s), W_SEX);
    }
    if let Some(fragment) = &query.tax_code_fragment {
        tally.add(
            "tax_code_fragment",
            Some(fragment_agreement(fragment, candidate)),
            W_FRAGMENT,
        );
    }
    tally.score()
}

/// The score when both carry a tax code: 1 for the same code, 0.85 for
/// omocodic variants of one base code; `None` when they cannot be compared
/// that way.
fn by_tax_code(query: &Traits, candidate: &Traits) -> Option<Score> {
    let (q, c) = (query.tax_code.as_ref()?, candidate.tax_code.as_ref()?);
    if q == c {
        return Some(Score {
            value: 1.0,
            matched: vec!["tax_code"],
        });
    }
    // Omocodic variants of one base code belong to *different* people who
    // share name letters, birth date and place: the revenue agency made the
    // variant precisely to tell them apart. A variant is evidence (a
    // partner may have computed the code instead of reading it), never
    // proof.
    (q.base() == c.base()).then(|| Score {
        value: 0.85,
        matched: vec!["tax_code_variant"],
    })
}

/// The similarity of the family and the given name, each when the query
/// states it, in the recorded order or swapped (given and family names are
/// often entered in the wrong boxes); a swap costs a little.
fn name_similarity(query: &Traits, candidate: &Traits) -> (Option<f64>, Option<f64>) {
    let q_family = query
        .family_name
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    let q_given = query.given_name.as_deref().filter(|s| !s.trim().is_empty());
    if q_family.is_none() && q_given.is_none() {
        return (None, None);
    }
    let c_family = candidate.family_name.as_deref().unwrap_or("");
    let c_given = candidate.given_name.as_deref().unwrap_or("");
    let sim = |q: Option<&str>, c: &str| q.map(|q| names::similarity(q, c));
    let straight = (sim(q_family, c_family), sim(q_given, c_given));
    let swapped = (sim(q_family, c_given), sim(q_given, c_family));
    let value = |(f, g): (Option<f64>, Option<f64>)| {
        f.unwrap_or(0.0) * W_FAMILY + g.unwrap_or(0.0) * W_GIVEN
    };
    if value(swapped) * 0.97 > value(straight) {
        (swapped.0.map(|v| v * 0.97), swapped.1.map(|v| v * 0.97))
    } else {
        straight
    }
}

/// How well a partial or mistyped tax code fits: by how many of its
/// characters agree with the candidate's code (or, for a candidate without
/// one, with the code its name, birth date and sex give), and by how long
/// it is: a short prefix fits more people.
fn fragment_agreement(fragment: &Fragment, candidate: &Traits) -> f64 {
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
    let Some(theirs) = theirs else {
        return 0.0;
    };
    let length = fragment.text.len().min(theirs.len()) as f64;
    fragment.agreement(&theirs) * (0.6 + 0.4 * length / 16.0)
}

/// The weighted sum of the traits compared so far, and those that matched.
#[derive(Default)]
struct Tally {
    total: f64,
    weight: f64,
    matched: Vec<&'static str>,
}

impl Tally {
    /// Counts `field`'s similarity `s` (none when the query does not state
    /// it) with weight `w`.
    fn add(&mut self, field: &'static str, s: Option<f64>, w: f64) {
        let Some(s) = s else { return };
        self.total += s * w;
        self.weight += w;
        if s >= MATCHED {
            self.matched.push(field);
        }
    }

    /// The weighted mean, to three decimals.
    fn score(self) -> Score {
        let value = if self.weight > 0.0 {
            self.total / self.weight
        } else {
            0.0
        };
        Score {
            value: (value * 1000.0).round() / 1000.0,
            matched: self.matched,
        }
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
