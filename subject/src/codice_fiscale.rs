//! The Italian tax code (*codice fiscale*): validation, decoding and
//! computation.
//!
//! A tax code is 16 characters: surname (3 letters), given name (3), birth
//! year (2 digits), month letter, day of birth (plus 40 for women), Belfiore
//! code of the birthplace (a letter and 3 digits) and a check character.
//! *Omocodia*: to resolve collisions the revenue agency replaces digits,
//! right to left, with the letters `LMNPQRSTUV`; such codes are valid and
//! decode to the same person data.

use std::fmt;

use time::{Date, Month};

use crate::belfiore;
use crate::names::Sex;

/// Length of a tax code.
pub const LEN: usize = 16;

/// The positions that hold digits in a regular code and may hold omocodia
/// letters instead, from left to right.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

/// Letters that replace the digits 0 to 9 in omocodic codes.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// Month letters for January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// Values of characters in odd positions (1st, 3rd, ...) for the check
/// character, indexed by `0-9` then `A-Z` mapped onto 0..=25 (digits share
/// the values of the letters with the same index).
const ODD_VALUES: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Why a string is not a valid tax code. Positions are 1-based, as people
/// count characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxCodeError {
    /// Not 16 characters long.
    #[error("a tax code has 16 characters, this one has {0}")]
    WrongLength(usize),
    /// A character that cannot appear at that position.
    #[error("character {position} ('{found}') must be {expected}")]
    InvalidCharacter {
        /// 1-based position.
        position: usize,
        /// The character found.
        found: char,
        /// What the position may hold.
        expected: &'static str,
    },
    /// The month letter is not one of `ABCDEHLMPRST`.
    #[error("character 9 ('{0}') is not a month letter (one of ABCDEHLMPRST)")]
    InvalidMonth(char),
    /// The day is not 1-31 (men) or 41-71 (women), or not in that month.
    #[error("day {day} is not a valid birth day for that month (1-31, or 41-71 for women)")]
    InvalidDay {
        /// The encoded day value.
        day: u8,
    },
    /// The check character does not match.
    #[error("the check character is '{found}' but the first 15 characters require '{expected}'")]
    CheckCharacter {
        /// What the first 15 characters require.
        expected: char,
        /// What the code has.
        found: char,
    },
    /// The birthplace is not a known Belfiore code.
    #[error("birthplace code {0} is not a known municipality or country (Belfiore) code")]
    UnknownBirthplace(String),
}

/// A validated tax code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaxCode(String);

/// The personal data encoded in a tax code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Sex.
    pub sex: Sex,
    /// Birth date; the century is inferred (see [`TaxCode::decode`]).
    pub birth_date: Date,
    /// Belfiore code of the birthplace.
    pub birthplace_code: String,
    /// Whether omocodia letters replace some digits.
    pub omocodic: bool,
}

impl TaxCode {
    /// Parses and validates a tax code: length, characters at each position,
    /// month, day, birthplace code and check character. Surrounding
    /// whitespace is ignored and lower case is accepted.
    pub fn parse(input: &str) -> Result<TaxCode, TaxCodeError> {
        let code = input.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if len != LEN {
            return Err(TaxCodeError::WrongLength(len));
        }
        if let Some((position, found)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
            return Err(TaxCodeError::InvalidCharacter {
                position: position + 1,
                found,
                expected: "an ASCII letter or digit",
            });
        }
        let bytes = code.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let ok = match i {
                0..=5 | 8 | 11 | 15 => b.is_ascii_uppercase(),
                _ if DIGIT_POSITIONS.contains(&i) => b.is_ascii_digit() || OMOCODIA.contains(&b),
                _ => false,
            };
            if !ok {
                let expected = match i {
                    0..=5 | 8 | 11 | 15 => "a letter",
                    _ => "a digit (or an omocodia letter LMNPQRSTUV)",
                };
                return Err(TaxCodeError::InvalidCharacter {
                    position: i + 1,
                    found: char::from(b),
                    expected,
                });
            }
        }
        if !MONTHS.contains(&bytes[8]) {
            return Err(TaxCodeError::InvalidMonth(char::from(bytes[8])));
        }
        let expected = check_character(&bytes[..15]);
        if expected != bytes[15] {
            return Err(TaxCodeError::CheckCharacter {
                expected: char::from(expected),
                found: char::from(bytes[15]),
            });
        }
        let tax_code = TaxCode(code);
        let fields = tax_code.raw_fields();
        let day_in_month = fields.day % 40;
        if !(1..=31).contains(&fields.day) && !(41..=71).contains(&fields.day) {
            return Err(TaxCodeError::InvalidDay { day: fields.day });
        }
        // Validate the day against the month in a leap year, since the
        // century (and so the leap year) is not encoded.
        let month = Month::try_from(fields.month).map_err(|_| TaxCodeError::InvalidMonth('?'))?;
        if day_in_month > time::util::days_in_month(month, 2000) {
            return Err(TaxCodeError::InvalidDay { day: fields.day });
        }
        if !belfiore::is_known(&fields.birthplace) {
            return Err(TaxCodeError::UnknownBirthplace(fields.birthplace));
        }
        Ok(tax_code)
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether omocodia letters replace some of the digits.
    pub fn is_omocodic(&self) -> bool {
        let bytes = self.0.as_bytes();
        DIGIT_POSITIONS.iter().any(|&i| !bytes[i].is_ascii_digit())
    }

    /// The regular (non-omocodic) form of this code: omocodia letters turned
    /// back into digits and the check character recomputed. Two codes of
    /// the same person, one omocodic, have the same base.
    pub fn base(&self) -> TaxCode {
        let mut bytes = self.0.as_bytes().to_vec();
        for &i in &DIGIT_POSITIONS {
            bytes[i] = digit_of(bytes[i]);
        }
        bytes[15] = check_character(&bytes[..15]);
        TaxCode(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Decodes sex, birth date and birthplace. The year has two digits: it
    /// is placed in the latest century that does not put the birth after
    /// `today`.
    pub fn decode(&self, today: Date) -> Decoded {
        let f = self.raw_fields();
        let (sex, day) = if f.day > 40 {
            (Sex::Female, f.day - 40)
        } else {
            (Sex::Male, f.day)
        };
        let this_century = today.year() - today.year().rem_euclid(100);
        let mut year = this_century + i32::from(f.year);
        let month = Month::try_from(f.month).unwrap_or(Month::January);
        let mut date = Date::from_calendar_date(year, month, day);
        if date.as_ref().map_or(true, |d| *d > today) {
            year -= 100;
            date = Date::from_calendar_date(year, month, day);
        }
        // 29 February in a year that is not leap cannot come from a valid
        // parse in that century; fall back to the 28th rather than fail.
        let birth_date = date
            .or_else(|_| Date::from_calendar_date(year, month, day - 1))
            .unwrap_or(Date::MIN);
        Decoded {
            sex,
            birth_date,
            birthplace_code: f.birthplace,
            omocodic: self.is_omocodic(),
        }
    }

    /// The encoded fields, with omocodia letters read as digits.
    fn raw_fields(&self) -> RawFields {
        let b = self.0.as_bytes();
        let num = |i: usize| digit_of(b[i]) - b'0';
        let month = MONTHS
            .iter()
            .position(|&m| m == b[8])
            .map_or(1, |p| p as u8 + 1);
        let birthplace = [b[11], digit_of(b[12]), digit_of(b[13]), digit_of(b[14])];
        RawFields {
            year: num(6) * 10 + num(7),
            month,
            day: num(9) * 10 + num(10),
            birthplace: String::from_utf8_lossy(&birthplace).into_owned(),
        }
    }
}

impl fmt::Display for TaxCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct RawFields {
    year: u8,
    month: u8,
    day: u8,
    birthplace: String,
}

/// The digit an omocodia letter stands for; digits map to themselves.
fn digit_of(b: u8) -> u8 {
    match OMOCODIA.iter().position(|&l| l == b) {
        Some(d) => b'0' + d as u8,
        None => b,
    }
}

/// The check character of the first 15 characters of a tax code (upper-case
/// ASCII letters and digits).
pub fn check_character(first15: &[u8]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let index = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c.saturating_sub(b'A')).min(25)
            };
            // Positions are counted from 1: index 0 is the first, odd, one.
            if i % 2 == 0 {
                ODD_VALUES[index as usize]
            } else {
                index
            }
        })
        .sum();
    b'A' + (sum % 26) as u8
}

/// The personal data a tax code is computed from.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// Family name(s).
    pub family_name: &'a str,
    /// Given name(s).
    pub given_name: &'a str,
    /// Birth date.
    pub birth_date: Date,
    /// Sex.
    pub sex: Sex,
    /// Belfiore code of the birthplace.
    pub birthplace_code: &'a str,
}

/// Computes the regular tax code of a person, as the revenue agency would
/// before any omocodia.
pub fn compute(person: &Person<'_>) -> Result<TaxCode, TaxCodeError> {
    let mut code = String::with_capacity(LEN);
    code.push_str(&name_part(person.family_name, false));
    code.push_str(&name_part(person.given_name, true));
    code.push_str(&format!("{:02}", person.birth_date.year().rem_euclid(100)));
    code.push(char::from(
        MONTHS[usize::from(u8::from(person.birth_date.month())) - 1],
    ));
    let day = person.birth_date.day() + if person.sex == Sex::Female { 40 } else { 0 };
    code.push_str(&format!("{day:02}"));
    code.push_str(&person.birthplace_code.to_ascii_uppercase());
    let check = check_character(code.as_bytes());
    code.push(char::from(check));
    TaxCode::parse(&code)
}

/// The first 11 characters of a person's regular tax code (name letters,
/// birth date and sex), computable without the birthplace.
pub fn first_eleven(family_name: &str, given_name: &str, birth_date: Date, sex: Sex) -> String {
    let mut code = String::with_capacity(11);
    code.push_str(&name_part(family_name, false));
    code.push_str(&name_part(given_name, true));
    code.push_str(&format!("{:02}", birth_date.year().rem_euclid(100)));
    code.push(char::from(
        MONTHS[usize::from(u8::from(birth_date.month())) - 1],
    ));
    let day = birth_date.day() + if sex == Sex::Female { 40 } else { 0 };
    code.push_str(&format!("{day:02}"));
    code
}

/// A partial or possibly mistyped tax code, as a caller may have it: the
/// first characters of a code, or a whole code with a wrong character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The characters, upper case.
    pub text: String,
    /// The birth date, if positions 7 to 11 read as one.
    pub birth_date: Option<Date>,
    /// The sex, if the day reads.
    pub sex: Option<Sex>,
    /// The birthplace, if positions 12 to 15 read as a known code.
    pub birthplace_code: Option<String>,
}

/// Why a fragment cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Fewer than 6 or more than 16 characters.
    #[error("a tax code fragment has 6 to 16 characters, this one has {0}")]
    Length(usize),
    /// A character that no tax code holds.
    #[error("character {0} is not a letter or a digit")]
    Character(usize),
}

impl Fragment {
    /// Reads a fragment; `today` places the two-digit year in a century.
    pub fn parse(input: &str, today: Date) -> Result<Fragment, FragmentError> {
        let text: String = input.trim().to_ascii_uppercase();
        let len = text.chars().count();
        if !(6..=LEN).contains(&len) {
            return Err(FragmentError::Length(len));
        }
        if let Some(i) = text.chars().position(|c| !c.is_ascii_alphanumeric()) {
            return Err(FragmentError::Character(i + 1));
        }
        let b = text.as_bytes();
        let digit = |i: usize| {
            let d = digit_of(b[i]);
            d.is_ascii_digit().then(|| d - b'0')
        };
        let mut out = Fragment {
            text: text.clone(),
            birth_date: None,
            sex: None,
            birthplace_code: None,
        };
        if len >= 11 {
            let year = digit(6).zip(digit(7)).map(|(a, c)| i32::from(a * 10 + c));
            let month = MONTHS.iter().position(|&m| m == b[8]).map(|p| p as u8 + 1);
            let day = digit(9).zip(digit(10)).map(|(a, c)| a * 10 + c);
            if let (Some(yy), Some(m), Some(d)) = (year, month, day) {
                let (sex, day) = if d > 40 {
                    (Sex::Female, d - 40)
                } else {
                    (Sex::Male, d)
                };
                let century = today.year() - today.year().rem_euclid(100);
                let month = Month::try_from(m).unwrap_or(Month::January);
                let date = Date::from_calendar_date(century + yy, month, day)
                    .ok()
                    .filter(|d| *d <= today)
                    .or_else(|| Date::from_calendar_date(century - 100 + yy, month, day).ok());
                if date.is_some() {
                    out.birth_date = date;
                    out.sex = Some(sex);
                }
            }
        }
        if len >= 15 {
            let place = [b[11], digit_of(b[12]), digit_of(b[13]), digit_of(b[14])];
            let place = String::from_utf8_lossy(&place).into_owned();
            if belfiore::is_known(&place) {
                out.birthplace_code = Some(place);
            }
        }
        Ok(out)
    }

    /// The share of the fragment's characters that agree with `code` at
    /// the same positions (omocodia letters read as their digits), over
    /// the positions both have.
    pub fn agreement(&self, code: &str) -> f64 {
        let (a, b) = (self.text.as_bytes(), code.as_bytes());
        let n = a.len().min(b.len());
        if n == 0 {
            return 0.0;
        }
        let same = (0..n)
            .filter(|&i| digit_of(a[i]) == digit_of(b[i].to_ascii_uppercase()))
            .count();
        same as f64 / n as f64
    }

    /// The bounds of a range on a tax-code column holding every code that
    /// starts with the fragment's first `len` characters.
    pub fn prefix_range(&self, len: usize) -> (String, String) {
        let prefix: String = self.text.chars().take(len).collect();
        let upper = format!("{prefix}{}", "Z".repeat(LEN.saturating_sub(prefix.len())));
        (prefix, upper)
    }
}

/// Applies omocodia to the `level` rightmost digit positions (1 to 7), as
/// the revenue agency does for the `level`-th collision, and recomputes the
/// check character.
pub fn omocode(code: &TaxCode, level: usize) -> TaxCode {
    let mut bytes = code.base().0.into_bytes();
    for &i in DIGIT_POSITIONS
        .iter()
        .rev()
        .take(level.min(DIGIT_POSITIONS.len()))
    {
        bytes[i] = OMOCODIA[usize::from(bytes[i] - b'0')];
    }
    bytes[15] = check_character(&bytes[..15]);
    TaxCode(String::from_utf8_lossy(&bytes).into_owned())
}

/// The three letters a name contributes: consonants then vowels then `X`;
/// for given names with four or more consonants, the 1st, 3rd and 4th.
fn name_part(name: &str, given: bool) -> String {
    let letters: Vec<u8> = crate::names::fold(name)
        .bytes()
        .filter(u8::is_ascii_uppercase)
        .collect();
    let is_vowel = |c: &u8| b"AEIOU".contains(c);
    let consonants: Vec<u8> = letters.iter().copied().filter(|c| !is_vowel(c)).collect();
    let vowels = letters.iter().copied().filter(is_vowel);
    let chosen: Vec<u8> = if given && consonants.len() >= 4 {
        vec![consonants[0], consonants[2], consonants[3]]
    } else {
        consonants
            .iter()
            .copied()
            .chain(vowels)
            .chain(std::iter::repeat(b'X'))
            .take(3)
            .collect()
    };
    String::from_utf8_lossy(&chosen).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn fragment_table() {
        let today = date!(2026 - 11 - 22);
        let f = Fragment::parse("cccfba85d03l21", today);
        let Ok(f) = f else { panic!("{f:?}") };
        assert_eq!(f.birth_date, Some(date!(1985 - 04 - 03)));
        assert_eq!(f.sex, Some(Sex::Male));
        assert_eq!(f.birthplace_code, None);
        assert_eq!(f.agreement("CCCFBA85D03L219P"), 1.0);
        // A whole code with one wrong character.
        let typo = Fragment::parse("CCCFBA85D03L289P", today);
        let Ok(typo) = typo else { panic!("{typo:?}") };
        assert_eq!(typo.agreement("CCCFBA85D03L219P"), 15.0 / 16.0);
        assert_eq!(typo.birth_date, Some(date!(1985 - 04 - 03)));
        // The month letter mistyped: no birth date can be read.
        let Ok(no_date) = Fragment::parse("CCCFBA85F03L219P", today) else {
            panic!()
        };
        assert_eq!(no_date.birth_date, None);
        assert_eq!(
            Fragment::parse("CCCFB", today),
            Err(FragmentError::Length(5))
        );
        assert_eq!(
            Fragment::parse("CCC-BA85", today),
            Err(FragmentError::Character(4))
        );
        assert_eq!(
            f.prefix_range(8),
            ("CCCFBA85".to_string(), "CCCFBA85ZZZZZZZZ".to_string())
        );
        assert_eq!(
            first_eleven("Caccamo", "Fabio", date!(1985 - 04 - 03), Sex::Male),
            "CCCFBA85D03"
        );
    }

    /// One table of inputs and what the parser must say about them.
    fn check(input: &str, expected: Result<&str, TaxCodeError>) {
        let got = TaxCode::parse(input);
        match (&got, &expected) {
            (Ok(code), Ok(want)) => assert_eq!(code.as_str(), *want, "input {input}"),
            (Err(e), Err(want)) => assert_eq!(e, want, "input {input}"),
            _ => panic!("input {input}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn parse_table() {
        // Known valid codes (the revenue agency's own examples and common
        // test persons), including lower case and surrounding spaces.
        check("RSSMRA85T10A562S", Ok("RSSMRA85T10A562S"));
        check("  rssmra85t10a562s ", Ok("RSSMRA85T10A562S"));
        check("MRTMTT25D09F205Z", Ok("MRTMTT25D09F205Z"));
        check("BNCLRA80A41H501D", Ok("BNCLRA80A41H501D"));
        // The published examples of python-codicefiscale: one person and
        // their omocodic variants.
        for code in [
            "CCCFBA85D03L219P",
            "CCCFBA85D03L21VE",
            "CCCFBA85D03L2MVP",
            "CCCFBA85D03LNMVE",
            "CCCFBA85D0PLNMVA",
            "CCCFBA85DLPLNMVL",
            "CCCFBAURDLPLNMVU",
        ] {
            check(code, Ok(code));
        }
        check(
            "CCCFBA85D03L21VP",
            Err(TaxCodeError::CheckCharacter {
                expected: 'E',
                found: 'P',
            }),
        );
        // Wrong length.
        check("RSSMRA85T10A562", Err(TaxCodeError::WrongLength(15)));
        check("", Err(TaxCodeError::WrongLength(0)));
        check("RSSMRA85T10A562SX", Err(TaxCodeError::WrongLength(17)));
        // Bad check character.
        check(
            "RSSMRA85T10A562T",
            Err(TaxCodeError::CheckCharacter {
                expected: 'S',
                found: 'T',
            }),
        );
        // A digit where a letter belongs, and a letter that is not an
        // omocodia letter where a digit belongs.
        check(
            "R5SMRA85T10A562S",
            Err(TaxCodeError::InvalidCharacter {
                position: 2,
                found: '5',
                expected: "a letter",
            }),
        );
        check(
            "RSSMRA8AT10A562S",
            Err(TaxCodeError::InvalidCharacter {
                position: 8,
                found: 'A',
                expected: "a digit (or an omocodia letter LMNPQRSTUV)",
            }),
        );
        // Month letter F does not exist.
        check("RSSMRA85F10A562S", Err(TaxCodeError::InvalidMonth('F')));
        // Non-ASCII input is counted in characters.
        check(
            "RSSMRÀ85T10A562S",
            Err(TaxCodeError::InvalidCharacter {
                position: 6,
                found: 'À',
                expected: "an ASCII letter or digit",
            }),
        );
    }

    #[test]
    fn invalid_days_and_birthplaces_are_rejected() {
        // Day 32 (with a correct check character) and 30 February.
        let day32 = with_check("RSSMRA85T32A562");
        assert_eq!(
            TaxCode::parse(&day32),
            Err(TaxCodeError::InvalidDay { day: 32 })
        );
        let feb30 = with_check("RSSMRA85B30A562");
        assert_eq!(
            TaxCode::parse(&feb30),
            Err(TaxCodeError::InvalidDay { day: 30 })
        );
        let day00 = with_check("RSSMRA85T00A562");
        assert_eq!(
            TaxCode::parse(&day00),
            Err(TaxCodeError::InvalidDay { day: 0 })
        );
        // 29 February is accepted: the century is not encoded.
        assert!(TaxCode::parse(&with_check("RSSMRA00B29A562")).is_ok());
        // A Belfiore code nobody ever had.
        let unknown = with_check("RSSMRA85T10Q999");
        assert_eq!(
            TaxCode::parse(&unknown),
            Err(TaxCodeError::UnknownBirthplace("Q999".into()))
        );
    }

    fn with_check(first15: &str) -> String {
        format!(
            "{first15}{}",
            char::from(check_character(first15.as_bytes()))
        )
    }

    #[test]
    fn decode_table() {
        let today = date!(2026 - 11 - 22);
        let cases: &[(&str, Sex, Date, &str, bool)] = &[
            (
                "RSSMRA85T10A562S",
                Sex::Male,
                date!(1985 - 12 - 10),
                "A562",
                false,
            ),
            (
                "BNCLRA80A41H501D",
                Sex::Female,
                date!(1980 - 01 - 01),
                "H501",
                false,
            ),
            (
                "MRTMTT25D09F205Z",
                Sex::Male,
                date!(2025 - 04 - 09),
                "F205",
                false,
            ),
            (
                "CCCFBA85D03L219P",
                Sex::Male,
                date!(1985 - 04 - 03),
                "L219",
                false,
            ),
            (
                "CCCFBAURDLPLNMVU",
                Sex::Male,
                date!(1985 - 04 - 03),
                "L219",
                true,
            ),
        ];
        for (code, sex, birth, place, omocodic) in cases {
            let decoded = TaxCode::parse(code).map(|c| c.decode(today));
            assert_eq!(
                decoded,
                Ok(Decoded {
                    sex: *sex,
                    birth_date: *birth,
                    birthplace_code: (*place).into(),
                    omocodic: *omocodic
                }),
                "{code}"
            );
        }
    }

    #[test]
    fn compute_table() {
        let cases: &[(&str, &str, Date, Sex, &str, &str)] = &[
            (
                "Rossi",
                "Mario",
                date!(1985 - 12 - 10),
                Sex::Male,
                "A562",
                "RSSMRA85T10A562S",
            ),
            (
                "Bianchi",
                "Laura",
                date!(1980 - 01 - 01),
                Sex::Female,
                "H501",
                "BNCLRA80A41H501D",
            ),
            // Four consonants in the given name: 1st, 3rd and 4th.
            (
                "Martini",
                "Matteo",
                date!(2025 - 04 - 09),
                Sex::Male,
                "F205",
                "MRTMTT25D09F205Z",
            ),
            // Apostrophes, accents and short names padded with X.
            (
                "D'Angelo",
                "Nicolò",
                date!(1962 - 03 - 05),
                Sex::Male,
                "D969",
                "DNGNCL62C05D969",
            ),
            (
                "Fo",
                "Al",
                date!(1990 - 07 - 15),
                Sex::Male,
                "L219",
                "FOXLAX90L15L219",
            ),
        ];
        for (family, given, birth, sex, place, want) in cases {
            let person = Person {
                family_name: family,
                given_name: given,
                birth_date: *birth,
                sex: *sex,
                birthplace_code: place,
            };
            let code = compute(&person);
            match code {
                Ok(code) => assert!(code.as_str().starts_with(want), "{family} {given}: {code}"),
                Err(e) => panic!("{family} {given}: {e}"),
            }
        }
    }

    #[test]
    fn omocodia_round_trips_to_the_same_base() {
        let base = TaxCode::parse("CCCFBA85D03L219P").ok();
        let Some(base) = base else {
            panic!("base code must parse")
        };
        for level in 1..=7 {
            let omo = omocode(&base, level);
            assert!(omo.is_omocodic(), "level {level}: {omo}");
            assert_eq!(
                TaxCode::parse(omo.as_str()).as_ref(),
                Ok(&omo),
                "level {level}"
            );
            assert_eq!(omo.base(), base, "level {level}");
            assert_eq!(
                omo.decode(date!(2026 - 01 - 01)).birth_date,
                date!(1985 - 04 - 03),
                "level {level}"
            );
        }
        assert_eq!(omocode(&base, 1).as_str(), "CCCFBA85D03L21VE");
        assert_eq!(omocode(&base, 5).as_str(), "CCCFBA85DLPLNMVL");
        assert_eq!(omocode(&base, 7).as_str(), "CCCFBAURDLPLNMVU");
    }
}
