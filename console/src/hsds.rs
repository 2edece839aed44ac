//! The catalogue as the Human Services Data Specification 3.0 serves it:
//! Trama's `Service` written as an HSDS `service` (its organisation,
//! phones, schedules, service areas, languages, cost options and need
//! categories as taxonomy terms), the HSDS page envelope, and the HSDS
//! query parameters read into a `SearchServices` request. Identifiers are
//! the stable UUIDs of `trama_proto::ids`. What HSDS lacks (vouchers, ISEE
//! ceiling, accreditation, places free) travels in `trama_extensions`.

use serde::Serialize;
use serde_json::value::RawValue;
use trama_proto::{ids, v1};

/// The code system of need categories, HSDS's taxonomy here.
pub const NEEDS_SYSTEM: &str = "urn:trama:cs:need";
/// The HSDS version served.
pub const VERSION: &str = "3.0";

/// A page of services (HSDS `Page` with `contents`).
#[derive(Debug, Serialize)]
pub struct Page<T> {
    total_items: u32,
    total_pages: u32,
    page_number: u32,
    size: u32,
    first_page: bool,
    last_page: bool,
    empty: bool,
    contents: Vec<T>,
}

impl<T> Page<T> {
    /// Page `number` of `per_page` of `total`, holding `contents`.
    pub fn new(total: u32, number: u32, per_page: u32, contents: Vec<T>) -> Page<T> {
        let total_pages = total.div_ceil(per_page.max(1));
        Page {
            total_items: total,
            total_pages,
            page_number: number,
            size: u32::try_from(contents.len()).unwrap_or(u32::MAX),
            first_page: number <= 1,
            last_page: number >= total_pages,
            empty: contents.is_empty(),
            contents,
        }
    }
}

/// An HSDS `service`; the arrays only in full.
#[derive(Debug, Serialize)]
pub struct Service {
    id: String,
    organization_id: String,
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    status: &'static str,
    application_process: String,
    fees_description: String,
    eligibility_description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_age: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_age: Option<u32>,
    accreditations: String,
    last_modified: String,
    organization: Organization,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    parts: Option<Parts>,
    trama_extensions: Extensions,
}

/// A service's id and when it changed (`minimal=true`).
#[derive(Debug, Serialize)]
pub struct Minimal {
    id: String,
    last_modified: String,
}

/// The organisation providing a service.
#[derive(Debug, Serialize)]
pub struct Organization {
    id: String,
    name: String,
    description: String,
}

/// The arrays of a full service.
#[derive(Debug, Serialize)]
pub struct Parts {
    phones: Vec<Phone>,
    schedules: Vec<Schedule>,
    service_areas: Vec<ServiceArea>,
    languages: Vec<Language>,
    cost_options: Vec<CostOption>,
    attributes: Vec<Attribute>,
}

#[derive(Debug, Serialize)]
struct Phone {
    id: String,
    service_id: String,
    number: String,
}

#[derive(Debug, Serialize)]
struct Schedule {
    id: String,
    service_id: String,
    freq: &'static str,
    wkst: &'static str,
    byday: &'static str,
    opens_at: String,
    closes_at: String,
    description: String,
}

#[derive(Debug, Serialize)]
struct ServiceArea {
    id: String,
    service_id: String,
    name: String,
    extent: String,
    extent_type: &'static str,
    description: String,
}

#[derive(Debug, Serialize)]
struct Language {
    id: String,
    service_id: String,
    code: String,
}

#[derive(Debug, Serialize)]
struct CostOption {
    id: String,
    service_id: String,
    currency: String,
    /// Exact decimal euros, written from cents (never a float).
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<Box<RawValue>>,
    amount_description: String,
}

#[derive(Debug, Serialize)]
struct Attribute {
    id: String,
    link_id: String,
    link_type: &'static str,
    link_entity: &'static str,
    taxonomy_term_id: String,
    value: String,
    taxonomy_term: TaxonomyTerm,
}

#[derive(Debug, Serialize)]
struct TaxonomyTerm {
    id: String,
    code: String,
    name: String,
    description: String,
    taxonomy: &'static str,
}

/// What the Italian offer needs and HSDS lacks.
#[derive(Debug, Serialize)]
pub struct Extensions {
    trama_id: String,
    vouchers: Vec<Voucher>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isee_max: Option<Box<RawValue>>,
    accredited: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    places_free: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_list: Option<u32>,
    municipalities: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Voucher {
    scheme: String,
    issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Box<RawValue>>,
}

/// Cents as an exact JSON decimal number (`1850` → `18.50`).
pub fn euros(cents: i64) -> Option<Box<RawValue>> {
    RawValue::from_string(trama_client::money::decimal(cents, '.', None)).ok()
}

const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn provider(s: &v1::Service) -> &str {
    if s.provider.is_empty() {
        &s.organisation
    } else {
        &s.provider
    }
}

fn status(s: &v1::Service) -> &'static str {
    match v1::ServiceStatus::try_from(s.status) {
        Ok(v1::ServiceStatus::Inactive) => "inactive",
        Ok(v1::ServiceStatus::Defunct) => "defunct",
        Ok(v1::ServiceStatus::TemporarilyClosed) => "temporarily closed",
        _ => "active",
    }
}

fn some(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// The service as HSDS writes it; the arrays when `full`.
pub fn service(s: &v1::Service, full: bool) -> Service {
    let eligibility = s.eligibility.clone().unwrap_or_default();
    let availability = s.availability.unwrap_or_default();
    let fees = s
        .costs
        .iter()
        .map(|c| match &c.amount {
            Some(m) => format!("€ {} {}", crate::record::money(m.cents), c.description)
                .trim()
                .to_string(),
            None => c.description.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let organization = Organization {
        id: ids::organization(provider(s)),
        name: provider(s).to_string(),
        description: format!("{} ({})", provider(s), s.organisation),
    };
    Service {
        id: s.uuid.clone(),
        organization_id: organization.id.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        url: some(&s.url),
        email: some(&s.email),
        status: status(s),
        application_process: s.application_process.clone(),
        fees_description: fees,
        eligibility_description: eligibility.description.clone(),
        minimum_age: (eligibility.minimum_age > 0).then_some(eligibility.minimum_age),
        maximum_age: (eligibility.maximum_age > 0).then_some(eligibility.maximum_age),
        accreditations: if s.accredited {
            "accreditato con il comune".into()
        } else {
            String::new()
        },
        last_modified: s.last_modified.clone(),
        organization,
        parts: full.then(|| parts(s)),
        trama_extensions: Extensions {
            trama_id: s.id.clone(),
            vouchers: s
                .vouchers
                .iter()
                .map(|v| Voucher {
                    scheme: v.scheme.clone(),
                    issuer: v.issuer.clone(),
                    value: v.value.as_ref().and_then(|m| euros(m.cents)),
                })
                .collect(),
            isee_max: (eligibility.isee_max_cents > 0)
                .then(|| euros(eligibility.isee_max_cents))
                .flatten(),
            accredited: s.accredited,
            places_free: availability.known.then_some(availability.places_free),
            waiting_list: availability.known.then_some(availability.waiting_list),
            municipalities: s.municipalities.clone(),
        },
    }
}

/// The service's id and change time only.
pub fn minimal(s: &v1::Service) -> Minimal {
    Minimal {
        id: s.uuid.clone(),
        last_modified: s.last_modified.clone(),
    }
}

fn parts(s: &v1::Service) -> Parts {
    Parts {
        phones: some(&s.phone)
            .into_iter()
            .map(|number| Phone {
                id: part(s, "phone", 0),
                service_id: s.uuid.clone(),
                number,
            })
            .collect(),
        schedules: s
            .openings
            .iter()
            .enumerate()
            .map(|(i, o)| schedule(s, i, o))
            .collect(),
        service_areas: s
            .municipalities
            .iter()
            .enumerate()
            .map(|(i, code)| ServiceArea {
                id: part(s, "area", i),
                service_id: s.uuid.clone(),
                name: crate::services::place_name(code),
                extent: code.clone(),
                extent_type: "text",
                description: format!("Belfiore {code}"),
            })
            .collect(),
        languages: s
            .languages
            .iter()
            .enumerate()
            .map(|(i, code)| Language {
                id: part(s, "language", i),
                service_id: s.uuid.clone(),
                code: code.clone(),
            })
            .collect(),
        cost_options: s
            .costs
            .iter()
            .enumerate()
            .map(|(i, c)| cost_option(s, i, c))
            .collect(),
        attributes: s
            .needs
            .iter()
            .enumerate()
            .map(|(i, need)| attribute(s, i, need))
            .collect(),
    }
}

/// The stable id of the `n`th part of `kind` of service `s`.
fn part(s: &v1::Service, kind: &str, n: usize) -> String {
    ids::part(&s.id, &format!("{kind}-{n}"))
}

/// An opening as a weekly HSDS schedule.
fn schedule(s: &v1::Service, i: usize, o: &v1::Opening) -> Schedule {
    Schedule {
        id: part(s, "schedule", i),
        service_id: s.uuid.clone(),
        freq: "WEEKLY",
        wkst: "MO",
        byday: DAYS
            .get(o.weekday.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("MO"),
        opens_at: hhmm(o.opens_at),
        closes_at: hhmm(o.closes_at),
        description: "Europe/Rome".into(),
    }
}

/// A cost as an HSDS cost option, in euro.
fn cost_option(s: &v1::Service, i: usize, c: &v1::CostOption) -> CostOption {
    CostOption {
        id: part(s, "cost", i),
        service_id: s.uuid.clone(),
        currency: c
            .amount
            .as_ref()
            .map_or_else(|| "EUR".into(), |m| m.currency.clone()),
        amount: c.amount.as_ref().and_then(|m| euros(m.cents)),
        amount_description: c.description.clone(),
    }
}

/// A need category as an HSDS attribute with its taxonomy term.
fn attribute(s: &v1::Service, i: usize, need: &str) -> Attribute {
    Attribute {
        id: part(s, "need", i),
        link_id: s.uuid.clone(),
        link_type: "taxonomy",
        link_entity: "service",
        taxonomy_term_id: ids::term(NEEDS_SYSTEM, need),
        value: need.to_string(),
        taxonomy_term: TaxonomyTerm {
            id: ids::term(NEEDS_SYSTEM, need),
            code: need.to_string(),
            name: need.to_string(),
            description: format!("need category `{need}` ({NEEDS_SYSTEM})"),
            taxonomy: NEEDS_SYSTEM,
        },
    }
}

/// The need code a `taxonomy_term_id` names: the term's UUID or the code.
pub fn need_of_term(term: &str) -> Option<&'static str> {
    trama_proto::stats::NEEDS
        .iter()
        .find(|n| **n == term || ids::term(NEEDS_SYSTEM, n) == term)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals_and_pages_count_right() {
        assert_eq!(
            euros(1850).map(|r| r.get().to_string()),
            Some("18.50".into())
        );
        assert_eq!(euros(5).map(|r| r.get().to_string()), Some("0.05".into()));
        let p = Page::new(42, 5, 10, vec![1, 2]);
        assert!(p.last_page && !p.first_page && p.total_pages == 5);
        let first = Page::new(0, 1, 10, Vec::<u8>::new());
        assert!(first.empty && first.first_page && first.last_page);
        assert_eq!(need_of_term("food"), Some("food"));
        assert_eq!(need_of_term(&ids::term(NEEDS_SYSTEM, "debt")), Some("debt"));
        assert_eq!(need_of_term("unicorns"), None);
    }
}
