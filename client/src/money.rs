//! Amounts of money as people type them: euros with up to two decimals,
//! a point or a comma (`12`, `12.5`, `12,50`), read into exact cents,
//! never through a float.

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

#[cfg(test)]
mod tests {
    use super::parse_euro;

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
