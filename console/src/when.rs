//! Dates and times as people in Italy write them: instants from the
//! gateway and the partners (RFC 3339, usually UTC) shown in Europe/Rome
//! as `dd/mm/yyyy HH:MM`, calendar dates as `dd/mm/yyyy`. The time-zone
//! rules travel inside the binary, so a host without a time-zone database
//! shows the same times.

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use trama_proto::v1;

/// Europe/Rome, from the bundled database (UTC+1 if it were ever missing,
/// which the unit tests rule out).
static ROME: LazyLock<TimeZone> = LazyLock::new(|| {
    jiff::tz::db()
        .get("Europe/Rome")
        .unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)))
});

/// An instant written in RFC 3339, as `dd/mm/yyyy HH:MM` in Europe/Rome;
/// text that is not an instant comes back as it was.
pub fn local(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => t.to_zoned(ROME.clone()).strftime("%d/%m/%Y %H:%M").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// A calendar date as `dd/mm/yyyy`.
pub fn date(d: &v1::Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day, d.month, d.year)
}

/// A day written `YYYY-MM-DD` (as a date field sends it), as the instant
/// its day starts in Europe/Rome (`end` false) or the next day starts
/// (`end` true), in RFC 3339 UTC; `None` when it is not a date.
pub fn day_bound(text: &str, end: bool) -> Option<String> {
    let day: jiff::civil::Date = text.trim().parse().ok()?;
    let day = if end { day.tomorrow().ok()? } else { day };
    let start = day.to_zoned(ROME.clone()).ok()?;
    Some(start.timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_shown_in_rome_summer_and_winter() {
        assert_eq!(local("2026-07-14T08:05:00Z"), "14/07/2026 10:05");
        assert_eq!(local("2026-12-07T23:30:00Z"), "08/12/2026 00:30");
        assert_eq!(local("not a time"), "not a time");
    }

    #[test]
    fn a_day_runs_from_midnight_to_midnight_in_rome() {
        assert_eq!(
            day_bound("2026-07-14", false).as_deref(),
            Some("2026-07-13T22:00:00Z")
        );
        assert_eq!(
            day_bound("2026-12-07", true).as_deref(),
            Some("2026-12-07T23:00:00Z")
        );
        assert_eq!(day_bound("14/07/2026", false), None);
    }
}
