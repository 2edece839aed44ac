//! The partner's offer of services (`[[services]]` in the mapping file:
//! the partner's own SQL, one row per service), read into the common
//! `Service` of the catalogue (`ListServices`). Offers are public data.
//! A row that does not map (a price that is not a number, an unknown need
//! code, opening hours that cannot be read) is left out and reported with
//! the mapping key and the row's id; the other rows still publish.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trama_proto::v1;

use crate::columns::{
    CodeTable, ColumnSpec, FieldKind, NamedQuery, RawSectionQuery, column_spec, parameterless,
};
use crate::values::Typed;

/// A field of `[[services]]`: its name, the kind of value and whether a
/// cell holds a comma-separated list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferField {
    /// The name in `columns.<name>`.
    pub name: &'static str,
    /// The kind of each value.
    pub kind: FieldKind,
    /// Whether the cell is a comma-separated list.
    pub list: bool,
}

const fn field(name: &'static str, kind: FieldKind, list: bool) -> OfferField {
    OfferField { name, kind, list }
}

/// Every field a service row may bind.
pub const FIELDS: [OfferField; 28] = [
    field("id", FieldKind::Text, false),
    field("name", FieldKind::Text, false),
    field("description", FieldKind::Text, false),
    field("status", FieldKind::Coding, false),
    field("provider", FieldKind::Text, false),
    field("needs", FieldKind::Coding, true),
    field("municipalities", FieldKind::Text, true),
    field("eligibility", FieldKind::Text, false),
    field("age_min", FieldKind::Int, false),
    field("age_max", FieldKind::Int, false),
    field("isee_max", FieldKind::Money, false),
    field("audiences", FieldKind::Text, true),
    field("application", FieldKind::Text, false),
    field("price", FieldKind::Money, false),
    field("price_description", FieldKind::Text, false),
    field("vouchers", FieldKind::Text, true),
    field("voucher_issuer", FieldKind::Text, false),
    field("voucher_value", FieldKind::Money, false),
    field("accredited", FieldKind::Bool, false),
    field("places_free", FieldKind::Int, false),
    field("waiting_list", FieldKind::Int, false),
    field("hours", FieldKind::Text, false),
    field("phone", FieldKind::Text, false),
    field("email", FieldKind::Text, false),
    field("url", FieldKind::Text, false),
    field("languages", FieldKind::Text, true),
    field("last_modified", FieldKind::Timestamp, false),
    field("availability_known", FieldKind::Bool, false),
];

/// Statuses a `status` binding may give (`urn:trama:cs:service-status`).
const STATUSES: [(&str, v1::ServiceStatus); 4] = [
    ("active", v1::ServiceStatus::Active),
    ("inactive", v1::ServiceStatus::Inactive),
    ("defunct", v1::ServiceStatus::Defunct),
    ("temporarily-closed", v1::ServiceStatus::TemporarilyClosed),
];

/// A `[[services]]` query with its bindings.
#[derive(Debug, Clone)]
pub struct OfferQuery {
    /// The key in the mapping file, for example `services[0]`.
    pub key: String,
    /// The query; it takes no parameters.
    pub query: NamedQuery,
    /// The fields bound.
    pub fields: Vec<(OfferField, ColumnSpec)>,
}

/// Parses `[[services]]`; an error is `(key, problem)`.
pub(crate) fn parse(
    raw: &[RawSectionQuery],
    codes: &BTreeMap<String, CodeTable>,
) -> Result<Vec<OfferQuery>, (String, String)> {
    raw.iter()
        .enumerate()
        .map(|(i, q)| parse_one(i, q, codes))
        .collect()
}

fn parse_one(
    i: usize,
    raw: &RawSectionQuery,
    codes: &BTreeMap<String, CodeTable>,
) -> Result<OfferQuery, (String, String)> {
    let key = format!("services[{i}]");
    let query = parameterless(
        &key,
        &raw.sql,
        "an offer query takes no parameters (it lists every service)",
    )?;
    let mut fields = Vec::new();
    for (name, raw_col) in &raw.columns {
        let ckey = format!("{key}.columns.{name}");
        let Some(f) = FIELDS.iter().find(|f| f.name == name) else {
            let known: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
            return Err((
                ckey,
                format!("unknown service field; known: {}", known.join(", ")),
            ));
        };
        let spec = column_spec(raw_col, f.kind, codes).map_err(|p| (ckey, p))?;
        fields.push((*f, spec));
    }
    for required in ["id", "name"] {
        if !fields.iter().any(|(f, _)| f.name == required) {
            return Err((
                format!("{key}.columns.{required}"),
                format!("is required: the column holding the service's {required}"),
            ));
        }
    }
    Ok(OfferQuery { key, query, fields })
}

/// The typed values of one row, as a `Service`.
pub(crate) fn build(
    organisation: &str,
    key: &str,
    values: BTreeMap<&'static str, Vec<Typed>>,
) -> Result<v1::Service, (String, String)> {
    let mut row = Values { values, key };
    let id = row.required("id", "a service without an id cannot be published")?;
    let name = row.required("name", "a service without a name cannot be published")?;
    let status = status(&mut row)?;
    let description = row.text("description");
    let provider = row.text("provider");
    let eligibility = eligibility(&mut row);
    let application_process = row.text("application");
    let costs = costs(&mut row);
    let vouchers = vouchers(&mut row);
    let accredited = row.flag("accredited");
    let availability = availability(&mut row);
    let hours = row.text("hours");
    let openings = openings(&hours).map_err(|p| (row.column("hours"), p))?;
    let (phone, email, url) = (row.text("phone"), row.text("email"), row.text("url"));
    let last_modified = match row.one("last_modified") {
        Some(Typed::Timestamp(t)) => rfc3339(t),
        _ => String::new(),
    };
    let needs = needs(&mut row)?;
    let municipalities = municipalities(&mut row)?;
    let languages = row.texts("languages");
    Ok(v1::Service {
        id: format!("{organisation}/{id}"),
        organisation: organisation.to_string(),
        provider,
        name,
        description,
        status: status as i32,
        needs,
        municipalities,
        eligibility: Some(eligibility),
        application_process,
        costs,
        vouchers,
        accredited,
        availability: Some(availability),
        openings,
        phone,
        email,
        url,
        languages,
        last_modified,
        // The gateway derives it from the id.
        uuid: String::new(),
    })
}

/// One service's values by field, taken out one at a time.
struct Values<'k> {
    values: BTreeMap<&'static str, Vec<Typed>>,
    key: &'k str,
}

impl Values<'_> {
    /// The mapping key of field `name`'s column, for messages.
    fn column(&self, name: &str) -> String {
        format!("{}.columns.{name}", self.key)
    }

    /// The first value of field `name`.
    fn one(&mut self, name: &str) -> Option<Typed> {
        self.values
            .get_mut(name)
            .and_then(|l| (!l.is_empty()).then(|| l.remove(0)))
    }

    /// Every value of field `name`.
    fn list(&mut self, name: &str) -> Vec<Typed> {
        self.values.remove(name).unwrap_or_default()
    }

    fn text(&mut self, name: &str) -> String {
        as_text(self.one(name))
    }

    fn texts(&mut self, name: &str) -> Vec<String> {
        self.list(name)
            .into_iter()
            .map(|t| as_text(Some(t)))
            .collect()
    }

    fn int(&mut self, name: &str) -> u32 {
        as_count(self.one(name))
    }

    fn money(&mut self, name: &str) -> Option<i64> {
        match self.one(name) {
            Some(Typed::Money(c)) => Some(c),
            _ => None,
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        matches!(self.one(name), Some(Typed::Bool(true)))
    }

    /// Field `name`'s text, refused with `why` when empty.
    fn required(&mut self, name: &str, why: &str) -> Result<String, (String, String)> {
        let text = self.text(name);
        if text.is_empty() {
            return Err((self.column(name), why.into()));
        }
        Ok(text)
    }
}

fn as_text(t: Option<Typed>) -> String {
    match t {
        Some(Typed::Text(s)) => s,
        _ => String::new(),
    }
}

fn as_count(t: Option<Typed>) -> u32 {
    match t {
        Some(Typed::Int(i)) => u32::try_from(i.max(0)).unwrap_or(u32::MAX),
        _ => 0,
    }
}

/// The service's status through the schema's codes; active when not mapped.
fn status(row: &mut Values<'_>) -> Result<v1::ServiceStatus, (String, String)> {
    match row.one("status") {
        Some(Typed::Coding { code, .. }) => STATUSES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                (
                    row.column("status"),
                    format!("`{code}` is not a status: map it to active, inactive, defunct or temporarily-closed"),
                )
            }),
        _ => Ok(v1::ServiceStatus::Active),
    }
}

/// Who may use the service.
fn eligibility(row: &mut Values<'_>) -> v1::Eligibility {
    v1::Eligibility {
        description: row.text("eligibility"),
        minimum_age: row.int("age_min"),
        maximum_age: row.int("age_max"),
        isee_max_cents: row.money("isee_max").unwrap_or(0),
        audiences: row.texts("audiences"),
    }
}

/// The price, when mapped, as the one cost option.
fn costs(row: &mut Values<'_>) -> Vec<v1::CostOption> {
    let price = row.money("price");
    let description = row.text("price_description");
    price
        .map(|cents| {
            vec![v1::CostOption {
                amount: Some(euro(cents)),
                description,
            }]
        })
        .unwrap_or_default()
}

/// The voucher schemes accepted, each with the issuer and value mapped.
fn vouchers(row: &mut Values<'_>) -> Vec<v1::AcceptedVoucher> {
    let issuer = row.text("voucher_issuer");
    let value = row.money("voucher_value");
    row.texts("vouchers")
        .into_iter()
        .map(|scheme| v1::AcceptedVoucher {
            issuer: issuer.clone(),
            scheme,
            value: value.map(euro),
        })
        .collect()
}

fn euro(cents: i64) -> v1::Money {
    v1::Money {
        cents,
        currency: "EUR".into(),
    }
}

/// Free places and the waiting list; known when either is mapped.
fn availability(row: &mut Values<'_>) -> v1::Availability {
    let places_free = row.one("places_free");
    let known = places_free.is_some() || row.flag("availability_known");
    v1::Availability {
        places_free: as_count(places_free),
        waiting_list: row.int("waiting_list"),
        known,
    }
}

/// The need categories, each one of Trama's.
fn needs(row: &mut Values<'_>) -> Result<Vec<String>, (String, String)> {
    let needs: Vec<String> = row
        .list("needs")
        .into_iter()
        .filter_map(|t| match t {
            Typed::Coding { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    if let Some(bad) = needs
        .iter()
        .find(|n| !trama_proto::stats::NEEDS.contains(&n.as_str()))
    {
        return Err((
            row.column("needs"),
            format!("`{bad}` is not one of Trama's need categories: map it in the code table"),
        ));
    }
    Ok(needs)
}

/// The municipalities served, as Belfiore codes.
fn municipalities(row: &mut Values<'_>) -> Result<Vec<String>, (String, String)> {
    let municipalities: Vec<String> = row
        .texts("municipalities")
        .into_iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    if let Some(bad) = municipalities.iter().find(|m| !is_belfiore(m)) {
        return Err((
            row.column("municipalities"),
            format!("`{bad}` is not a municipality code: write Belfiore codes such as D150"),
        ));
    }
    Ok(municipalities)
}

/// RFC 3339, UTC, seconds.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A Belfiore code: a letter and three digits (Z for countries abroad).
fn is_belfiore(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 4 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// Weekdays as partners write them, Italian or English.
const DAYS: [(&str, u32); 14] = [
    ("lun", 1),
    ("mar", 2),
    ("mer", 3),
    ("gio", 4),
    ("ven", 5),
    ("sab", 6),
    ("dom", 7),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
    ("sun", 7),
];

/// Opening hours written `lun-ven 09:00-13:00; sab 09:00-12:00` (days, a
/// range or a comma list, then one or more time ranges).
pub fn openings(text: &str) -> Result<Vec<v1::Opening>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            format!(
                "`{part}` is not opening hours: write for example `lun-ven 09:00-13:00; sab 09:00-12:00`"
            )
        };
        let (days, times) = part.split_once(' ').ok_or_else(bad)?;
        let days = weekdays(days).ok_or_else(bad)?;
        for range in times.split([',', ' ']).filter(|r| !r.is_empty()) {
            let (from, to) = range.split_once('-').ok_or_else(bad)?;
            let (opens_at, closes_at) =
                (minutes(from).ok_or_else(bad)?, minutes(to).ok_or_else(bad)?);
            if closes_at <= opens_at {
                return Err(bad());
            }
            for &weekday in &days {
                out.push(v1::Opening {
                    weekday,
                    opens_at,
                    closes_at,
                });
            }
        }
    }
    out.sort_by_key(|o| (o.weekday, o.opens_at));
    Ok(out)
}

fn weekday(name: &str) -> Option<u32> {
    let name = name.trim().to_lowercase();
    DAYS.iter()
        .find(|(d, _)| name.starts_with(d))
        .map(|(_, n)| *n)
}

fn weekdays(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for item in text.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(weekday(item)?),
        }
    }
    Some(out)
}

fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once([':', '.'])?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_hours_read_as_partners_write_them() {
        let o = openings("lun-ven 09:00-13:00 14:30-18:00; sab 9.00-12.00").unwrap_or_default();
        assert_eq!(o.len(), 11);
        assert_eq!((o[0].weekday, o[0].opens_at, o[0].closes_at), (1, 540, 780));
        assert_eq!((o[1].weekday, o[1].opens_at), (1, 870));
        assert_eq!(o[10].weekday, 6);
        assert!(openings("mar,gio 10:00-12:00").is_ok_and(|o| o.len() == 2));
        assert!(openings("").is_ok_and(|o| o.is_empty()));
        for bad in [
            "tutti i giorni",
            "lun 13:00-09:00",
            "ven-lun 09:00-10:00",
            "lun 25:00-26:00",
        ] {
            let Err(problem) = openings(bad) else {
                panic!("{bad} accepted")
            };
            assert!(problem.contains("lun-ven 09:00-13:00"), "{problem}");
        }
    }

    #[test]
    fn belfiore_codes_are_a_letter_and_three_digits() {
        assert!(is_belfiore("D150"));
        assert!(is_belfiore("Z404"));
        assert!(!is_belfiore("d150"));
        assert!(!is_belfiore("Cremona"));
        assert!(!is_belfiore("D15"));
    }
}
