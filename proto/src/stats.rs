//! The dimensions of statistics (`Aggregate`, `CountPeople`): their names,
//! which values they take, and how a fact's date and a person's birth date
//! become a period and an age band. Shared by the gateway (which validates
//! questions), the connectors (which group their facts) and the client.

use time::{Date, Month};

/// Base-2 logarithm of the nominal size of the theta sketches partners send
/// and the gateway merges: up to 2^14 = 16,384 people a count is exact;
/// above, it is estimated with a relative standard error of about
/// 1/sqrt(16,384) = 0.8%.
pub const SKETCH_LG_K: u8 = 14;

/// Value of a dimension a partner does not record for a fact.
pub const NOT_RECORDED: &str = "-";
/// Value of a margin: every value of the dimension.
pub const ALL: &str = "*";

/// A dimension of a statistics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// The district or zone of residence, as the partner names it.
    District,
    /// The municipality of residence (Belfiore code).
    Municipality,
    /// The need category (`urn:trama:cs:need`).
    Need,
    /// The intervention type (`urn:trama:cs:intervention`).
    Intervention,
    /// The status of a case (`urn:trama:cs:case-status`).
    CaseStatus,
    /// The age band at the answer's reference day.
    AgeBand,
    /// Sex (`female`, `male`).
    Sex,
    /// The month of the fact, `YYYY-MM`.
    Month,
    /// The quarter of the fact, `YYYY-Qn`.
    Quarter,
    /// The year of the fact, `YYYY`.
    Year,
}

impl Dimension {
    /// Every dimension, in the order tables list them.
    pub const ALL: [Dimension; 10] = [
        Dimension::District,
        Dimension::Municipality,
        Dimension::Need,
        Dimension::Intervention,
        Dimension::CaseStatus,
        Dimension::AgeBand,
        Dimension::Sex,
        Dimension::Month,
        Dimension::Quarter,
        Dimension::Year,
    ];

    /// The dimension's name in requests and mapping files.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::District => "district",
            Dimension::Municipality => "municipality",
            Dimension::Need => "need",
            Dimension::Intervention => "intervention",
            Dimension::CaseStatus => "case_status",
            Dimension::AgeBand => "age_band",
            Dimension::Sex => "sex",
            Dimension::Month => "month",
            Dimension::Quarter => "quarter",
            Dimension::Year => "year",
        }
    }

    /// The dimension named `name`; `period` is read as the finest period
    /// its values use (see [`period_of`]).
    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The comma-separated names of every dimension, for messages.
    pub fn all_names() -> String {
        Dimension::ALL.map(Dimension::name).join(", ")
    }

    /// Whether the dimension describes what happened to a person (a need,
    /// an intervention, a case): the sensitive attributes a table shows.
    /// The others describe who and when (quasi-identifiers): filters on
    /// them are checked for differencing (docs/statistics.md).
    pub fn is_attribute(self) -> bool {
        matches!(
            self,
            Dimension::Need | Dimension::Intervention | Dimension::CaseStatus
        )
    }

    /// Whether the dimension is a period of the fact's date.
    pub fn is_period(self) -> bool {
        matches!(
            self,
            Dimension::Month | Dimension::Quarter | Dimension::Year
        )
    }

    /// The values the dimension may take, when they form a closed list.
    pub fn vocabulary(self) -> Option<&'static [&'static str]> {
        match self {
            Dimension::Need => Some(NEEDS),
            Dimension::Intervention => Some(INTERVENTIONS),
            Dimension::CaseStatus => Some(CASE_STATUSES),
            Dimension::AgeBand => Some(AGE_BANDS),
            Dimension::Sex => Some(&["female", "male"]),
            _ => None,
        }
    }
}

/// Need categories (`urn:trama:cs:need`).
pub const NEEDS: &[&str] = &[
    "housing",
    "food",
    "income",
    "employment",
    "health",
    "addiction",
    "mental-health",
    "disability",
    "family",
    "loneliness",
    "legal",
    "debt",
    "utilities",
];

/// Intervention types (`urn:trama:cs:intervention`).
pub const INTERVENTIONS: &[&str] = &[
    "economic-contribution",
    "home-care",
    "meals",
    "housing-support",
    "transport",
    "educational-support",
    "food-parcel",
    "bill-payment",
    "clothing",
    "counselling",
    "job-placement",
    "care-plan",
];

/// Case statuses (`urn:trama:cs:case-status`).
pub const CASE_STATUSES: &[&str] = &["open", "suspended", "closed"];

/// Age bands, with their lower bounds in years.
pub const AGE_BANDS: &[&str] = &[
    "0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+",
];
const AGE_BAND_FROM: [i32; 8] = [0, 18, 25, 35, 45, 55, 65, 75];

/// What an audit entry records of a statistics question: the dimensions
/// and filters asked (`group_by:need`, `filter:year=2025`), never a count.
pub fn audit_terms<'a>(
    group_by: &[Dimension],
    filters: impl Iterator<Item = (Dimension, &'a [String])>,
) -> Vec<String> {
    let by = group_by.iter().map(|d| format!("group_by:{}", d.name()));
    let filters = filters.map(|(d, values)| format!("filter:{}={}", d.name(), values.join("|")));
    by.chain(filters).collect()
}

/// The age band of someone born on `birth` at day `as_of`.
pub fn age_band(birth: Date, as_of: Date) -> &'static str {
    let mut age = as_of.year() - birth.year();
    if (as_of.month() as u8, as_of.day()) < (birth.month() as u8, birth.day()) {
        age -= 1;
    }
    let i = AGE_BAND_FROM
        .iter()
        .rposition(|from| age >= *from)
        .unwrap_or(0);
    AGE_BANDS[i]
}

/// The value of a period dimension for a fact dated `date`.
pub fn period(dimension: Dimension, date: Date) -> String {
    let (y, m) = (date.year(), date.month() as u8);
    match dimension {
        Dimension::Month => format!("{y:04}-{m:02}"),
        Dimension::Quarter => format!("{y:04}-Q{}", (m - 1) / 3 + 1),
        _ => format!("{y:04}"),
    }
}

/// The period dimension a value is written in (`2025` a year, `2025-Q2` a
/// quarter, `2025-07` a month), if it is a valid period.
pub fn period_of(value: &str) -> Option<Dimension> {
    let (year, rest) = value.split_at_checked(4)?;
    let year: i32 = year.parse().ok()?;
    if !(1900..=2200).contains(&year) {
        return None;
    }
    match rest.as_bytes() {
        [] => Some(Dimension::Year),
        [b'-', b'Q', q] if (b'1'..=b'4').contains(q) => Some(Dimension::Quarter),
        [b'-', m1, m2] => {
            let month: u8 = std::str::from_utf8(&[*m1, *m2]).ok()?.parse().ok()?;
            Month::try_from(month).ok().map(|_| Dimension::Month)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn age_bands_turn_on_the_birthday() {
        let as_of = date!(2026 - 12 - 02);
        assert_eq!(age_band(date!(2008 - 12 - 02), as_of), "18-24");
        assert_eq!(age_band(date!(2008 - 12 - 03), as_of), "0-17");
        assert_eq!(age_band(date!(1951 - 12 - 02), as_of), "75+");
        assert_eq!(age_band(date!(1951 - 12 - 03), as_of), "65-74");
        assert_eq!(age_band(date!(2030 - 01 - 01), as_of), "0-17");
    }

    #[test]
    fn periods_are_read_and_written_alike() {
        let d = date!(2025 - 08 - 31);
        for dim in [Dimension::Year, Dimension::Quarter, Dimension::Month] {
            assert_eq!(period_of(&period(dim, d)), Some(dim));
        }
        assert_eq!(period(Dimension::Quarter, d), "2025-Q3");
        for bad in [
            "", "25", "2025-Q5", "2025-13", "2025-7", "abcd", "2025-Q", "1800",
        ] {
            assert_eq!(period_of(bad), None, "{bad}");
        }
    }
}
