//! Turning raw column values into typed schema values: dates in the
//! partner's layout, money in euro or cents, local codes translated through
//! the mapping's code tables.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use time::{Date, Month, PrimitiveDateTime, Time};

use crate::columns::{CodeTable, ColumnSpec, DateFormat, FieldKind, MoneyUnit};
use crate::source::Value;

/// A value converted to the kind of its schema field.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// Free text.
    Text(String),
    /// A calendar date.
    Date(Date),
    /// Seconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A coded value.
    Coding {
        /// The code system.
        system: String,
        /// The code.
        code: String,
        /// The partner's original code, kept as display text.
        display: String,
    },
    /// Euro cents.
    Money(i64),
    /// A whole number.
    Int(i64),
    /// Yes or no.
    Bool(bool),
}

impl Typed {
    /// The value as text, for an identifier: text as it is, a code as its
    /// code, numbers and dates as written in ISO form.
    pub fn into_text(self) -> String {
        match self {
            Typed::Text(t) => t,
            Typed::Coding { code, .. } => code,
            Typed::Date(d) => d.to_string(),
            Typed::Timestamp(t) | Typed::Money(t) | Typed::Int(t) => t.to_string(),
            Typed::Bool(b) => b.to_string(),
        }
    }
}

/// Converts one value, a coded one through the mapping's code tables
/// `codes`. `Ok(None)` for NULL or empty text; `Err` with a message (never
/// the value itself, which may be personal data) when the value does not
/// fit.
pub fn convert(
    value: &Value,
    kind: FieldKind,
    spec: &ColumnSpec,
    codes: &BTreeMap<String, CodeTable>,
    organisation: &str,
) -> Result<Option<Typed>, String> {
    let Some(text) = as_text(value) else {
        return Ok(None);
    };
    if let Some(typed) = already_typed(kind, value) {
        return typed.map(Some);
    }
    let (date_format, unit) = match spec {
        ColumnSpec::Column {
            date_format, unit, ..
        } => (*date_format, *unit),
        ColumnSpec::Constant { .. } => (DateFormat::Iso, MoneyUnit::Euro),
    };
    Ok(Some(match kind {
        FieldKind::Text => Typed::Text(text),
        FieldKind::Date => {
            Typed::Date(parse_date(&text, date_format).ok_or("not a date in the declared format")?)
        }
        FieldKind::Timestamp => match value {
            Value::Int(secs) if date_format == DateFormat::Iso => Typed::Timestamp(*secs),
            _ => Typed::Timestamp(parse_timestamp(&text, date_format).ok_or("not a date or time")?),
        },
        FieldKind::Coding => coding(text, spec.codes().unwrap_or_default(), codes, organisation)?,
        FieldKind::Money => Typed::Money(money(value, &text, unit)?),
        FieldKind::Int => match value {
            Value::Int(i) => Typed::Int(*i),
            Value::Decimal(d) => Typed::Int(whole(*d).ok_or("not a whole number")?),
            _ => Typed::Int(text.parse().map_err(|_| "not a whole number")?),
        },
        FieldKind::Bool => Typed::Bool(matches!(
            text.to_ascii_uppercase().as_str(),
            "1" | "S" | "SI" | "SÌ" | "Y" | "YES" | "T" | "TRUE" | "VERO"
        )),
    }))
}

/// A column's value as the text the partner wrote, trimmed; `None` for
/// NULL and blanks.
fn as_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Text(t) if t.trim().is_empty() => return None,
        Value::Text(t) => t.trim().to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.normalize().to_string(),
        Value::Date(d) => d.to_string(),
        Value::Timestamp(t) => t.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
    })
}

/// A typed date, time or boolean column read as the field needs it,
/// without parsing; `None` when the value must be parsed from its text.
fn already_typed(kind: FieldKind, value: &Value) -> Option<Result<Typed, String>> {
    Some(match (kind, value) {
        (FieldKind::Date, Value::Date(d)) => Ok(Typed::Date(*d)),
        (FieldKind::Date, Value::Timestamp(t)) => time::OffsetDateTime::from_unix_timestamp(*t)
            .map(|d| Typed::Date(d.date()))
            .map_err(|_| "not a date".to_string()),
        (FieldKind::Timestamp, Value::Timestamp(t)) => Ok(Typed::Timestamp(*t)),
        (FieldKind::Timestamp, Value::Date(d)) => {
            Ok(Typed::Timestamp(d.midnight().assume_utc().unix_timestamp()))
        }
        (FieldKind::Bool, Value::Bool(b)) => Ok(Typed::Bool(*b)),
        _ => return None,
    })
}

/// A partner's code through its code table `table_name`: the common code
/// when the table maps it, else the partner's own under a local system.
fn coding(
    text: String,
    table_name: &str,
    codes: &BTreeMap<String, CodeTable>,
    organisation: &str,
) -> Result<Typed, String> {
    let Some(table) = codes.get(table_name) else {
        return Err(format!("code table `{table_name}` is missing"));
    };
    Ok(match table.map.get(&text) {
        Some(common) => Typed::Coding {
            system: table.system.clone(),
            code: common.clone(),
            display: text,
        },
        None => Typed::Coding {
            system: format!("urn:trama:local:{organisation}:{table_name}"),
            code: text.clone(),
            display: text,
        },
    })
}

/// A money column's value as euro cents: integers, exact decimals, or text
/// with a decimal point or comma (`12,50`), never through a float.
fn money(value: &Value, text: &str, unit: MoneyUnit) -> Result<i64, &'static str> {
    let amount = match value {
        Value::Int(i) => Decimal::from(*i),
        Value::Decimal(d) => *d,
        _ => Decimal::from_str(&text.replace(',', ".")).map_err(|_| "not a number")?,
    };
    cents(amount, unit).ok_or("not an amount of money")
}

/// `amount` in `unit` as whole euro cents, half a cent rounded away from
/// zero; `None` beyond what the wire's cents hold. Exact: `1.005` euro is
/// 101 cents, where a float would make it 100.
pub fn cents(amount: Decimal, unit: MoneyUnit) -> Option<i64> {
    let cents = match unit {
        MoneyUnit::Euro => amount.checked_mul(Decimal::ONE_HUNDRED)?,
        MoneyUnit::Cents => amount,
    };
    whole(cents)
}

/// `d` rounded to a whole number, half away from zero.
fn whole(d: Decimal) -> Option<i64> {
    i64::try_from(d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)).ok()
}

/// Parses a date written in `format`; ISO dates may carry a time part.
pub fn parse_date(text: &str, format: DateFormat) -> Option<Date> {
    let (y, m, d): (i32, u8, u8) = match format {
        DateFormat::Iso => {
            let date = text.get(..10)?;
            let mut parts = date.split('-');
            (
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
            )
        }
        DateFormat::DayMonthYear => {
            let mut parts = text.get(..10).unwrap_or(text).split('/');
            let d = parts.next()?.parse().ok()?;
            let m: u8 = parts.next()?.parse().ok()?;
            (parts.next()?.trim().parse().ok()?, m, d)
        }
        DateFormat::Compact => {
            let t = text.get(..8)?;
            (
                t.get(..4)?.parse().ok()?,
                t.get(4..6)?.parse().ok()?,
                t.get(6..8)?.parse().ok()?,
            )
        }
    };
    let month = Month::try_from(m).ok()?;
    Date::from_calendar_date(y, month, d).ok()
}

/// Parses `YYYY-MM-DD[ T]HH:MM[:SS]` (or a bare date) as UTC seconds.
pub fn parse_timestamp(text: &str, format: DateFormat) -> Option<i64> {
    let date = parse_date(text, format)?;
    let rest = text.get(10..).unwrap_or("").trim_start_matches(['T', ' ']);
    let mut hms = rest.split([':', '.', 'Z', '+']);
    let h: u8 = hms.next().and_then(|h| h.parse().ok()).unwrap_or(0);
    let mi: u8 = hms.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let s: u8 = hms.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let time = Time::from_hms(h, mi, s).unwrap_or(Time::MIDNIGHT);
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn date_table() {
        let cases = [
            ("1962-03-05", DateFormat::Iso, Some(date!(1962 - 03 - 05))),
            (
                "1962-03-05 10:00:00",
                DateFormat::Iso,
                Some(date!(1962 - 03 - 05)),
            ),
            (
                "05/03/1962",
                DateFormat::DayMonthYear,
                Some(date!(1962 - 03 - 05)),
            ),
            ("19620305", DateFormat::Compact, Some(date!(1962 - 03 - 05))),
            ("1962-02-30", DateFormat::Iso, None),
            ("marzo", DateFormat::Iso, None),
        ];
        for (text, format, want) in cases {
            assert_eq!(parse_date(text, format), want, "{text}");
        }
        assert_eq!(
            parse_timestamp("1970-01-02 00:00:10", DateFormat::Iso),
            Some(86_410)
        );
    }

    #[test]
    fn money_is_exact() {
        let dec = |s: &str| Value::Decimal(Decimal::from_str(s).unwrap_or_default());
        let text = |s: &str| Value::Text(s.to_string());
        let cases = [
            // A float would make 1.005 euro 100 cents.
            (dec("1.005"), MoneyUnit::Euro, Ok(101)),
            (dec("0.29"), MoneyUnit::Euro, Ok(29)),
            (dec("-2.345"), MoneyUnit::Euro, Ok(-235)),
            (dec("12.50"), MoneyUnit::Euro, Ok(1250)),
            (dec("1250.5"), MoneyUnit::Cents, Ok(1251)),
            (Value::Int(35), MoneyUnit::Euro, Ok(3500)),
            (Value::Int(35), MoneyUnit::Cents, Ok(35)),
            (text("12,50"), MoneyUnit::Euro, Ok(1250)),
            (text("4.015"), MoneyUnit::Euro, Ok(402)),
            (text("dodici"), MoneyUnit::Euro, Err("not a number")),
            (
                Value::Int(i64::MAX),
                MoneyUnit::Euro,
                Err("not an amount of money"),
            ),
            // What a float column holds reads as its shortest decimal.
            (Value::float(8.675), MoneyUnit::Euro, Ok(868)),
        ];
        for (value, unit, want) in cases {
            let shown = match &value {
                Value::Text(t) => t.clone(),
                Value::Decimal(d) => d.to_string(),
                Value::Int(i) => i.to_string(),
                _ => String::new(),
            };
            assert_eq!(money(&value, &shown, unit), want, "{value:?} {unit:?}");
        }
    }
}
