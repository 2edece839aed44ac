//! A matching test set with known truth: queries built from people of the
//! synthetic population, each with one kind of noise injected at a known
//! rate (typos, transpositions, folded spelling, swapped names, missing
//! fields, partial or mistyped tax codes), plus queries for people who are
//! not in the database at all.

use fastrand::Rng;
use time::{Date, Duration};
use trama_proto::v1;
use trama_subject::{Sex, codice_fiscale, names};

use crate::seed::population::{Person, Population, typo};

/// The kinds of noise, with their share of the test set in percent.
pub const NOISE: &[(Noise, u32)] = &[
    (Noise::Exact, 8),
    (Noise::TaxCode, 6),
    (Noise::FamilyTypo, 12),
    (Noise::GivenTypo, 10),
    (Noise::Folded, 8),
    (Noise::Swapped, 6),
    (Noise::DayMonthSwapped, 5),
    (Noise::DayTypo, 5),
    (Noise::NoBirthDate, 6),
    (Noise::NoBirthplaceNoSex, 6),
    (Noise::PartOfDoubleName, 3),
    (Noise::FragmentPrefix, 5),
    (Noise::FragmentTypo, 5),
    (Noise::Absent, 15),
];

/// One kind of noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Noise {
    /// Every field right.
    Exact,
    /// The tax code alone.
    TaxCode,
    /// One typing mistake in the family name.
    FamilyTypo,
    /// One typing mistake in the given name.
    GivenTypo,
    /// Names in capitals without accents or apostrophes (`DANGELO`).
    Folded,
    /// Given and family names swapped.
    Swapped,
    /// Day and month of birth swapped (where both are 12 or less), else a
    /// day one off.
    DayMonthSwapped,
    /// The day of birth off by one to three.
    DayTypo,
    /// Names and birthplace, no birth date.
    NoBirthDate,
    /// Names and birth date only.
    NoBirthplaceNoSex,
    /// One part of a double given or family name.
    PartOfDoubleName,
    /// The first 11 characters of the tax code, as a fragment.
    FragmentPrefix,
    /// The whole tax code with one wrong character, as a fragment.
    FragmentTypo,
    /// Someone the database does not hold.
    Absent,
}

impl Noise {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Noise::Exact => "exact",
            Noise::TaxCode => "tax code",
            Noise::FamilyTypo => "family-name typo",
            Noise::GivenTypo => "given-name typo",
            Noise::Folded => "capitals, no accents/apostrophes",
            Noise::Swapped => "names swapped",
            Noise::DayMonthSwapped => "day/month swapped",
            Noise::DayTypo => "day of birth wrong",
            Noise::NoBirthDate => "no birth date",
            Noise::NoBirthplaceNoSex => "no birthplace, no sex",
            Noise::PartOfDoubleName => "part of a double name",
            Noise::FragmentPrefix => "tax code, first 11 chars",
            Noise::FragmentTypo => "tax code with a wrong char",
            Noise::Absent => "not in the database",
        }
    }
}

/// A query of the test set and the population index of the person it is
/// about (`None` for people not in the database).
#[derive(Debug, Clone)]
pub struct TestQuery {
    /// The noise injected.
    pub noise: Noise,
    /// The query.
    pub query: v1::SubjectQuery,
    /// The person it is about.
    pub truth: Option<usize>,
}

fn date(d: Date) -> v1::Date {
    v1::Date::from_date(d)
}

fn sex(s: Sex) -> i32 {
    match s {
        Sex::Female => v1::Sex::Female as i32,
        Sex::Male => v1::Sex::Male as i32,
    }
}

fn full(p: &Person) -> v1::SubjectQuery {
    v1::SubjectQuery {
        family_name: p.family_name.clone(),
        given_name: p.given_name.clone(),
        birth_date: Some(date(p.birth_date)),
        birthplace_code: p.birthplace_code.to_string(),
        sex: sex(p.sex),
        ..Default::default()
    }
}

/// Builds `n` queries about people of `population` (the first `known`
/// people are in the database), deterministically from `seed`.
pub fn test_set(population: &Population, n: usize, seed: u64) -> Vec<TestQuery> {
    let mut rng = Rng::with_seed(seed ^ 0x005E_ED0F_7E57);
    let total: u32 = NOISE.iter().map(|(_, w)| w).sum();
    let people = &population.people;
    let mut out = Vec::with_capacity(n);
    while out.len() < n && !people.is_empty() {
        let mut pick = rng.u32(..total);
        let noise = NOISE
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or(Noise::Exact, |(k, _)| *k);
        let index = rng.usize(..people.len());
        let p = &people[index];
        let mut q = full(p);
        let mut truth = Some(index);
        match noise {
            Noise::Exact => {}
            Noise::TaxCode => {
                q = v1::SubjectQuery {
                    tax_code: p.tax_code.to_string(),
                    ..Default::default()
                }
            }
            Noise::FamilyTypo => q.family_name = typo(&mut rng, &p.family_name),
            Noise::GivenTypo => q.given_name = typo(&mut rng, &p.given_name),
            Noise::Folded => {
                q.family_name = names::compact(&p.family_name);
                q.given_name = names::fold(&p.given_name);
            }
            Noise::Swapped => std::mem::swap(&mut q.family_name, &mut q.given_name),
            Noise::DayMonthSwapped => {
                let (d, m) = (p.birth_date.day(), u8::from(p.birth_date.month()));
                let swapped = time::Month::try_from(d)
                    .ok()
                    .filter(|_| d != m)
                    .and_then(|month| Date::from_calendar_date(p.birth_date.year(), month, m).ok());
                q.birth_date = Some(date(swapped.unwrap_or(p.birth_date + Duration::days(1))));
            }
            Noise::DayTypo => {
                q.birth_date = Some(date(p.birth_date + Duration::days(rng.i64(1..4))))
            }
            Noise::NoBirthDate => {
                q.birth_date = None;
            }
            Noise::NoBirthplaceNoSex => {
                q.birthplace_code.clear();
                q.sex = v1::Sex::Unspecified as i32;
            }
            Noise::PartOfDoubleName => {
                if let Some((first, _)) = p.family_name.split_once(' ') {
                    q.family_name = first.to_string();
                } else if let Some((first, _)) = p.given_name.split_once(' ') {
                    q.given_name = first.to_string();
                } else {
                    q.given_name = typo(&mut rng, &p.given_name);
                }
            }
            Noise::FragmentPrefix => {
                q = v1::SubjectQuery {
                    tax_code_fragment: p.tax_code.as_str()[..11].to_string(),
                    ..Default::default()
                }
            }
            Noise::FragmentTypo => {
                let mut chars: Vec<char> = p.tax_code.as_str().chars().collect();
                let i = rng.usize(..chars.len());
                let replacement = if chars[i].is_ascii_digit() { '7' } else { 'K' };
                chars[i] = if chars[i] == replacement {
                    'X'
                } else {
                    replacement
                };
                q = v1::SubjectQuery {
                    tax_code_fragment: chars.into_iter().collect(),
                    ..Default::default()
                }
            }
            Noise::Absent => {
                // Someone with a real surname, another given name and
                // another birth date and place.
                let other = &people[rng.usize(..people.len())];
                let birth = p.birth_date + Duration::days(rng.i64(400..9000));
                let code = codice_fiscale::first_eleven(
                    &p.family_name,
                    &other.given_name,
                    birth,
                    other.sex,
                );
                q = v1::SubjectQuery {
                    family_name: p.family_name.clone(),
                    given_name: other.given_name.clone(),
                    birth_date: Some(date(birth)),
                    birthplace_code: other.birthplace_code.to_string(),
                    sex: sex(other.sex),
                    ..Default::default()
                };
                // Still absent only if nobody holds that name and date.
                // Checked on small populations only: on large ones such a
                // collision is far rarer than one query in a thousand.
                if people.len() < 50_000
                    && people.iter().any(|x| {
                        codice_fiscale::first_eleven(
                            &x.family_name,
                            &x.given_name,
                            x.birth_date,
                            x.sex,
                        ) == code
                    })
                {
                    continue;
                }
                truth = None;
            }
        }
        out.push(TestQuery {
            noise,
            query: q,
            truth,
        });
    }
    out
}
