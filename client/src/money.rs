//! Amounts of money, always as exact cents, never through a float: read
//! as people type them (euros with up to two decimals, a point or a comma:
//! `12`, `12.5`, `12,50`), and written as each reader expects them (the
//! one formatter the terminal, the console and the HSDS API share).

/// `text` in euros as cents; `None` when it is not a non-negative amount
/// with at most two decimals.
pub fn parse_euro(text: &str) -> Option<i64> {
    let text = text.trim();
    let (units, fraction) = text.split_once(['.', ',']).unwrap_or((text, "0"));
    if fraction.is_empty()
        || fraction.len() > 2
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || !units.chars().all(|c| c.is_ascii_digit())
        || units.is_empty()
    {
        return None;
    }
    let units: i64 = units.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    units.checked_mul(100)?.checked_add(fraction)
}

/// Cents as a decimal with two places, the sign kept for every negative
/// amount (`-0.50`: integer division alone would lose it below one unit),
/// `point` before the cents and `group`, when given, between thousands:
/// `decimal(103750, ',', Some('.'))` is `1.037,50`.
pub fn decimal(cents: i64, point: char, group: Option<char>) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if let Some(g) = group.filter(|_| i > 0 && (units.len() - i).is_multiple_of(3)) {
            grouped.push(g);
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}{point}{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::{decimal, parse_euro};

    #[test]
    fn cents_are_written_exactly_with_their_sign() {
        assert_eq!(decimal(103750, ',', Some('.')), "1.037,50");
        assert_eq!(decimal(-50, ',', Some('.')), "-0,50");
        assert_eq!(decimal(123456789, '.', None), "1234567.89");
        assert_eq!(decimal(-5, '.', None), "-0.05");
        assert_eq!(decimal(0, '.', None), "0.00");
    }

    #[test]
    fn euros_become_exact_cents() {
        assert_eq!(parse_euro("12.5"), Some(1250));
        assert_eq!(parse_euro(" 12,05 "), Some(1205));
        assert_eq!(parse_euro("7"), Some(700));
        for bad in ["", "dodici", "1.234", "-3", "1.x", "1.", "+4"] {
            assert_eq!(parse_euro(bad), None, "{bad}");
        }
    }
}
