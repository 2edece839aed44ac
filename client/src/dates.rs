//! Calendar dates as people type them on the command line and in the
//! console's forms: `YYYY-MM-DD`. The one reader both use; the gateway
//! checks the date itself.

use trama_proto::v1;

/// `text` as a date, when it is three whole numbers joined by `-`.
pub fn parse_iso(text: &str) -> Option<v1::Date> {
    let parts: Vec<Option<i32>> = text.trim().split('-').map(|p| p.parse().ok()).collect();
    match parts[..] {
        [Some(year), Some(month), Some(day)] => Some(v1::Date { year, month, day }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_iso;

    #[test]
    fn dates_are_read_as_written() {
        let d = parse_iso(" 1978-04-02 ");
        assert_eq!(d.map(|d| (d.year, d.month, d.day)), Some((1978, 4, 2)));
        for bad in [
            "",
            "1978-04",
            "1978/04/02",
            "02-aprile-1978",
            "1978-04-02-1",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }
}
