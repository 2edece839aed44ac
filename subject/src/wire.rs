//! Identifying fields between the wire (`trama.v1`) and the matcher's
//! [`Traits`]: one mapping of sex and of the identity fields, for the
//! connectors that send identities and the gateway that groups and compares
//! them, so that both read a person the same way.

use time::Date;
use trama_proto::v1;

use crate::codice_fiscale::Fragment;
use crate::matching::Traits;
use crate::names::Sex;
use crate::{TaxCode, text};

/// The sex a wire value names; `None` for unspecified or unknown values.
pub fn sex_from_wire(sex: i32) -> Option<Sex> {
    match v1::Sex::try_from(sex) {
        Ok(v1::Sex::Female) => Some(Sex::Female),
        Ok(v1::Sex::Male) => Some(Sex::Male),
        Ok(v1::Sex::Unspecified) | Err(_) => None,
    }
}

/// The wire value of a sex, unspecified when unknown.
pub fn sex_to_wire(sex: Option<Sex>) -> v1::Sex {
    match sex {
        Some(Sex::Female) => v1::Sex::Female,
        Some(Sex::Male) => v1::Sex::Male,
        None => v1::Sex::Unspecified,
    }
}

/// A field's text without surrounding blanks, if anything is left.
fn present(text: &str) -> Option<String> {
    let t = text::trim(text);
    (!t.is_empty()).then(|| t.to_string())
}

/// What an identity a source sent says about the person, as the matcher
/// compares it: a tax code only if valid, birthplace codes upper case,
/// blank fields absent.
pub fn traits_of_identity(identity: &v1::SubjectIdentity) -> Traits {
    Traits {
        tax_code: TaxCode::parse(text::trim(&identity.tax_code)).ok(),
        given_name: present(&identity.given_name),
        family_name: present(&identity.family_name),
        birth_date: identity.birth_date.as_ref().and_then(v1::Date::to_date),
        birthplace_code: present(&identity.birthplace_code).map(|c| c.to_ascii_uppercase()),
        sex: sex_from_wire(identity.sex),
        tax_code_fragment: None,
    }
}

/// What a caller's query says about the person: the fields of
/// [`traits_of_identity`], plus what a tax-code fragment tells (read as of
/// `today`), which fills the birth date, sex and birthplace the caller
/// left out.
pub fn traits_of_query(query: &v1::SubjectQuery, today: Date) -> Traits {
    let fragment = present(&query.tax_code_fragment).and_then(|f| Fragment::parse(&f, today).ok());
    let mut traits = Traits {
        tax_code: TaxCode::parse(text::trim(&query.tax_code)).ok(),
        given_name: present(&query.given_name),
        family_name: present(&query.family_name),
        birth_date: query.birth_date.as_ref().and_then(v1::Date::to_date),
        birthplace_code: present(&query.birthplace_code).map(|c| c.to_ascii_uppercase()),
        sex: sex_from_wire(query.sex),
        tax_code_fragment: None,
    };
    if let Some(f) = &fragment {
        traits.birth_date = traits.birth_date.or(f.birth_date);
        traits.sex = traits.sex.or(f.sex);
        traits.birthplace_code = traits
            .birthplace_code
            .take()
            .or_else(|| f.birthplace_code.clone());
    }
    traits.tax_code_fragment = fragment;
    traits
}

/// The identity fields of `traits` on the wire (tax code, names, birth
/// date, birthplace, sex); the local id and provenance are the source's to
/// add. Reading the result back with [`traits_of_identity`] gives the same
/// traits.
pub fn identity_of(traits: &Traits) -> v1::SubjectIdentity {
    v1::SubjectIdentity {
        tax_code: traits
            .tax_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        given_name: traits.given_name.clone().unwrap_or_default(),
        family_name: traits.family_name.clone().unwrap_or_default(),
        birth_date: traits.birth_date.map(v1::Date::from_date),
        birthplace_code: traits.birthplace_code.clone().unwrap_or_default(),
        sex: sex_to_wire(traits.sex) as i32,
        ..v1::SubjectIdentity::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn sex_reads_back() {
        for sex in [Some(Sex::Female), Some(Sex::Male), None] {
            assert_eq!(sex_from_wire(sex_to_wire(sex) as i32), sex);
        }
        assert_eq!(sex_from_wire(7), None);
    }

    #[test]
    fn identities_read_back_and_blanks_are_absent() {
        let traits = Traits {
            tax_code: TaxCode::parse("RSSMRA80A01H501U").ok(),
            given_name: Some("Mario".into()),
            family_name: Some("D'Angelo".into()),
            birth_date: Some(date!(1980 - 01 - 01)),
            birthplace_code: Some("H501".into()),
            sex: Some(Sex::Male),
            tax_code_fragment: None,
        };
        let wire = identity_of(&traits);
        assert_eq!(wire.sex, v1::Sex::Male as i32);
        assert_eq!(wire.tax_code, "RSSMRA80A01H501U");
        let back = traits_of_identity(&wire);
        assert_eq!(back.tax_code, traits.tax_code);
        assert_eq!(back.given_name, traits.given_name);
        assert_eq!(back.family_name, traits.family_name);
        assert_eq!(back.birth_date, traits.birth_date);
        assert_eq!(back.birthplace_code, traits.birthplace_code);
        assert_eq!(back.sex, traits.sex);

        let blank = traits_of_identity(&v1::SubjectIdentity {
            tax_code: "not a code".into(),
            given_name: "\u{200B} ".into(),
            birthplace_code: " h501 ".into(),
            ..v1::SubjectIdentity::default()
        });
        assert_eq!(blank.tax_code, None);
        assert_eq!(blank.given_name, None);
        assert_eq!(blank.birthplace_code.as_deref(), Some("H501"));
        assert_eq!(blank.sex, None);
    }

    #[test]
    fn a_fragment_fills_what_the_query_left_out() {
        let query = v1::SubjectQuery {
            family_name: "Rossi".into(),
            tax_code_fragment: "RSSMRA80A01".into(),
            ..v1::SubjectQuery::default()
        };
        let t = traits_of_query(&query, date!(2026 - 01 - 01));
        assert_eq!(t.birth_date, Some(date!(1980 - 01 - 01)));
        assert_eq!(t.sex, Some(Sex::Male));
        assert!(t.tax_code_fragment.is_some());
        assert_eq!(t.tax_code, None);
    }
}
