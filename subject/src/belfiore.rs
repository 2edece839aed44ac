//! Belfiore (cadastral) codes of Italian municipalities and foreign
//! countries, with their validity periods, from the data in
//! `subject/data/belfiore.csv`.

use std::collections::HashMap;
use std::sync::LazyLock;

use time::Date;

static CSV: &str = include_str!("../data/belfiore.csv");

/// One name a Belfiore code has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The code, for example `H501`.
    pub code: &'static str,
    /// The name in that period, for example `Roma`.
    pub name: &'static str,
    /// Province abbreviation, `EE` for foreign countries.
    pub province: &'static str,
    /// Whether the place is a foreign country.
    pub is_country: bool,
    /// Whether the code is in use today.
    pub active: bool,
    /// First day of validity, if known.
    pub valid_from: Option<Date>,
    /// Last day of validity; `None` while still valid.
    pub valid_to: Option<Date>,
}

static TABLE: LazyLock<HashMap<&'static str, Vec<Place>>> = LazyLock::new(|| {
    let mut table: HashMap<&'static str, Vec<Place>> = HashMap::with_capacity(16_000);
    let format = time::macros::format_description!("[year]-[month]-[day]");
    for line in CSV.lines().skip(1) {
        let mut f = line.trim_end_matches('\r').split(',');
        let (
            Some(code),
            Some(name),
            Some(province),
            Some(kind),
            Some(active),
            Some(from),
            Some(to),
        ) = (
            f.next(),
            f.next(),
            f.next(),
            f.next(),
            f.next(),
            f.next(),
            f.next(),
        )
        else {
            continue;
        };
        table.entry(code).or_default().push(Place {
            code,
            name,
            province,
            is_country: kind == "country",
            active: active == "1",
            valid_from: Date::parse(from, format).ok(),
            valid_to: Date::parse(to, format).ok(),
        });
    }
    table
});

/// Whether `code` is a Belfiore code that ever existed.
pub fn is_known(code: &str) -> bool {
    TABLE.contains_key(code)
}

/// Every name `code` has had, oldest first.
pub fn lookup(code: &str) -> &'static [Place] {
    TABLE.get(code).map_or(&[], Vec::as_slice)
}

/// The place `code` named on `date` (birthplaces in tax codes use the code
/// valid at birth), or its latest name if none matches the date.
pub fn place_on(code: &str, date: Date) -> Option<&'static Place> {
    let places = lookup(code);
    places
        .iter()
        .find(|p| p.valid_from.is_none_or(|f| f <= date) && p.valid_to.is_none_or(|t| date <= t))
        .or_else(|| places.last())
}

/// Every code in use today that names an Italian municipality (not a
/// country), in file order: the pool synthetic birthplaces are drawn from.
pub fn active_municipalities() -> Vec<&'static Place> {
    let mut out: Vec<&'static Place> = TABLE
        .values()
        .flat_map(|v| v.iter())
        .filter(|p| p.active && !p.is_country)
        .collect();
    out.sort_by_key(|p| p.code);
    out
}

/// The code of the municipality in use today named `name` (whatever its
/// case, accents, apostrophes or spaces: `cremona`, `Sant'Angelo
/// Lodigiano`), if exactly one has that name; `None` for no municipality
/// or a name two share.
pub fn municipality_named(name: &str) -> Option<&'static str> {
    let wanted = crate::names::compact(name);
    if wanted.is_empty() {
        return None;
    }
    let mut found = TABLE
        .values()
        .flat_map(|v| v.iter())
        .filter(|p| p.active && !p.is_country && p.valid_to.is_none())
        .filter(|p| crate::names::compact(p.name) == wanted)
        .map(|p| p.code);
    let first = found.next()?;
    found.all(|c| c == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn municipalities_are_found_by_name() {
        assert_eq!(municipality_named("Cremona"), Some("D150"));
        assert_eq!(municipality_named(" cremona "), Some("D150"));
        assert_eq!(municipality_named("ROMA"), Some("H501"));
        assert_eq!(municipality_named("Atlantide"), None);
        assert_eq!(municipality_named(""), None);
        assert_eq!(
            municipality_named("Francia"),
            None,
            "a country is not a municipality"
        );
    }

    #[test]
    fn known_codes_and_periods() {
        assert!(is_known("H501"));
        assert!(is_known("Z100"));
        assert!(!is_known("Q999"));
        assert_eq!(
            place_on("H501", date!(1980 - 01 - 01)).map(|p| p.name),
            Some("Roma")
        );
        assert_eq!(
            place_on("A001", date!(1900 - 01 - 01)).map(|p| p.name),
            Some("Abano")
        );
        assert_eq!(
            place_on("A001", date!(1990 - 01 - 01)).map(|p| p.name),
            Some("Abano Terme")
        );
        assert!(place_on("Z100", date!(1990 - 01 - 01)).is_some_and(|p| p.is_country));
        assert!(active_municipalities().len() > 7_000);
    }
}
