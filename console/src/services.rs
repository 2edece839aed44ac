//! The services screen: an operator searches the federation's catalogue
//! of services (free text, need, municipality, price, voucher, ISEE, open
//! now) and sees each service with its provider, cost, vouchers, hours
//! and contacts, the facets, and how old each partner's part is. Offers
//! are public data; the search is not about anyone.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use trama_proto::v1;

use crate::app::{App, page, refusal};
use crate::contact::{self, Contact};
use crate::lang::{self, Texts};

/// The search form (a GET: bookmarkable, nothing changes).
#[derive(Debug, Default, Deserialize)]
pub struct ServicesForm {
    #[serde(default)]
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) need: String,
    #[serde(default)]
    pub(crate) municipality: String,
    #[serde(default)]
    pub(crate) max_price: String,
    #[serde(default)]
    pub(crate) voucher: String,
    #[serde(default)]
    pub(crate) isee: String,
    #[serde(default)]
    pub(crate) open_now: String,
    #[serde(default)]
    pub(crate) page_token: String,
    #[serde(default)]
    pub(crate) searched: String,
}

impl ServicesForm {
    /// Whether the form was sent (not just opened).
    pub(crate) fn is_searched(&self) -> bool {
        !self.searched.is_empty()
    }

    /// Whether a filter beside the free text is set.
    pub(crate) fn has_filters(&self) -> bool {
        [
            &self.need,
            &self.municipality,
            &self.max_price,
            &self.voucher,
            &self.isee,
            &self.open_now,
        ]
        .iter()
        .any(|f| !f.trim().is_empty())
    }
}

/// A service as shown.
pub struct ServiceView {
    pub(crate) name: String,
    pub(crate) provider: String,
    pub(crate) description: String,
    pub(crate) cost: String,
    pub(crate) vouchers: String,
    pub(crate) hours: String,
    pub(crate) contacts: Vec<Contact>,
    pub(crate) place: String,
    /// The need categories it helps with, in the reader's words.
    pub(crate) needs: String,
    /// How to apply, as the partner wrote it.
    pub(crate) apply: String,
    /// The ages served, in words.
    pub(crate) ages: String,
    /// Places free (and people waiting) when the provider publishes them.
    pub(crate) places_free: String,
    /// Where an operator starts a referral to its provider (never on the
    /// public page).
    pub(crate) refer: Option<String>,
    /// The service's own page (on the public catalogue).
    pub(crate) page: Option<String>,
}

/// A refusal of one field of the search form, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's id in the form.
    pub(crate) field: &'static str,
    /// What is wrong and how to write it, in the reader's language.
    pub(crate) message: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    form: &'a ServicesForm,
    needs: Vec<(&'static str, bool)>,
    problem: Option<String>,
    searched: bool,
    total: u32,
    services: Vec<ServiceView>,
    facets: String,
    parts: Vec<String>,
    next: Option<String>,
}

/// `GET /services`: the form, and the results when searched.
pub async fn services(
    who: crate::operator::Operator,
    State(app): State<App>,
    Query(form): Query<ServicesForm>,
) -> Response {
    let t = who.t;
    let mut view = ServicesPage {
        t,
        organisation: &app.organisation,
        operator: Some(&who),
        csrf: who.csrf(),
        form: &form,
        needs: trama_proto::stats::NEEDS
            .iter()
            .map(|n| (*n, *n == form.need))
            .collect(),
        problem: None,
        searched: false,
        total: 0,
        services: Vec::new(),
        facets: String::new(),
        parts: Vec::new(),
        next: None,
    };
    if !form.is_searched() {
        return page(StatusCode::OK, &view);
    }
    let request = match request(&form, t) {
        Ok(r) => r,
        Err(problem) => {
            view.problem = Some(problem.message);
            return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    let mut call = tonic::Request::new(request);
    call.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    match client.search_services(call).await {
        Ok(answer) => {
            let a = answer.into_inner();
            view.searched = true;
            view.total = a.total;
            view.services = a
                .services
                .iter()
                .map(|s| ServiceView {
                    refer: Some(refer_link(s)),
                    ..service_view(s, t)
                })
                .collect();
            view.facets = a
                .by_need
                .iter()
                .map(|f| format!("{} ({})", crate::words::code(&f.value, "", t), f.count))
                .collect::<Vec<_>>()
                .join(", ");
            view.parts = a.sources.iter().map(|p| part(p, t)).collect();
            view.next = (!a.next_page_token.is_empty())
                .then(|| next_link("/services", &form, &a.next_page_token));
            page(StatusCode::OK, &view)
        }
        Err(status) => {
            view.problem = Some(crate::said::refusal(&status, t));
            page(refusal(status.code()), &view)
        }
    }
}

/// The referral form, filled in with the service's partner and id.
fn refer_link(s: &v1::Service) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("to", &s.organisation)
        .append_pair("service", &s.id)
        .finish();
    format!("/refer?{query}")
}

/// The form as a `SearchServices` request; a problem names the field, in
/// the reader's language.
pub(crate) fn request(
    form: &ServicesForm,
    t: &Texts,
) -> Result<v1::SearchServicesRequest, FieldProblem> {
    let on = |field: &'static str| move |message: String| FieldProblem { field, message };
    Ok(v1::SearchServicesRequest {
        text: form.text.trim().into(),
        needs: form
            .need
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect(),
        municipality: municipality(&form.municipality, t).map_err(on("municipality"))?,
        age: 0,
        max_price_cents: cents(t.services_max_price, &form.max_price, t)
            .map_err(on("max_price"))?,
        voucher: form.voucher.trim().into(),
        isee_cents: cents(t.services_isee, &form.isee, t).map_err(on("isee"))?,
        open_now: !form.open_now.is_empty(),
        page_size: 20,
        page_token: form.page_token.clone(),
        ..Default::default()
    })
}

/// Euros as an operator writes them (`12`, `12,50`) in exact cents; 0
/// when empty.
fn cents(field: &str, text: &str, t: &Texts) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    trama_client::money::parse_euro(text)
        .ok_or_else(|| format!("{field}: «{text}» {}", t.not_an_amount))
}

/// A municipality as people write it, by name (`Cremona`, `cantu` for
/// Cantù, whatever the case) or Belfiore code (`D150`): its code.
pub(crate) fn municipality(text: &str, t: &Texts) -> Result<String, String> {
    let text = text.trim();
    let code = text.to_uppercase();
    if text.is_empty() || trama_subject::belfiore::is_known(&code) {
        return Ok(if text.is_empty() { String::new() } else { code });
    }
    trama_subject::belfiore::municipality_named(text)
        .map(String::from)
        .ok_or_else(|| {
            format!(
                "{}: «{text}» {}",
                t.services_municipality, t.not_a_municipality
            )
        })
}

const WEEKDAYS: [&str; 7] = ["lun", "mar", "mer", "gio", "ven", "sab", "dom"];
const WEEKDAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A service as an operator or a citizen reads it.
pub(crate) fn service_view(s: &v1::Service, t: &Texts) -> ServiceView {
    let places: Vec<String> = s
        .municipalities
        .iter()
        .map(|code| place_name(code))
        .collect();
    let eligibility = s.eligibility.clone().unwrap_or_default();
    ServiceView {
        name: s.name.clone(),
        provider: if s.provider.is_empty() {
            s.organisation.clone()
        } else {
            s.provider.clone()
        },
        description: s.description.clone(),
        cost: cost(s, t),
        vouchers: s
            .vouchers
            .iter()
            .map(voucher)
            .collect::<Vec<_>>()
            .join(", "),
        hours: hours(s, t),
        contacts: contact::of(s, t),
        place: places.join(", "),
        needs: s
            .needs
            .iter()
            .map(|n| need_label(n, t))
            .collect::<Vec<_>>()
            .join(", "),
        apply: s.application_process.clone(),
        ages: ages(eligibility.minimum_age, eligibility.maximum_age, t),
        places_free: s
            .availability
            .as_ref()
            .filter(|a| a.known)
            .map(|a| places_free(a, t))
            .unwrap_or_default(),
        refer: None,
        page: None,
    }
}

/// What it costs as Italians write it (`18,50 € all'ora`), or free.
fn cost(s: &v1::Service, t: &Texts) -> String {
    match s
        .costs
        .first()
        .and_then(|c| c.amount.as_ref().map(|m| (m, &c.description)))
    {
        Some((m, d)) if m.cents > 0 => format!("{} € {d}", crate::record::money(m.cents))
            .trim()
            .to_string(),
        _ => t.public_free.into(),
    }
}

/// A voucher as read: its scheme in words (`voucher-conciliazione` →
/// `Voucher conciliazione`), with its issuer when known.
fn voucher(v: &v1::AcceptedVoucher) -> String {
    let words = v.scheme.replace(['-', '_'], " ");
    let mut chars = words.trim().chars();
    let scheme: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if v.issuer.trim().is_empty() {
        scheme
    } else {
        format!("{scheme} ({})", v.issuer.trim())
    }
}

/// The weekly hours, each day with its times (`lun 07:30-19:30`).
fn hours(s: &v1::Service, t: &Texts) -> String {
    let days = if t.code == "en" {
        WEEKDAYS_EN
    } else {
        WEEKDAYS
    };
    s.openings
        .iter()
        .map(|o| {
            let day = days
                .get(o.weekday.saturating_sub(1) as usize)
                .unwrap_or(&"?");
            format!(
                "{day} {:02}:{:02}-{:02}:{:02}",
                o.opens_at / 60,
                o.opens_at % 60,
                o.closes_at / 60,
                o.closes_at % 60
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ages served in words: `da 65 anni`, `fino a 12 anni`, `da 18 a 64
/// anni`, `tutte le età` (0 is "any").
pub(crate) fn ages(min: u32, max: u32, t: &Texts) -> String {
    match (min, max) {
        (0, 0) => t.public_age_any.into(),
        (min, 0) => format!("{} {min} {}", t.public_age_from, t.public_years),
        (0, max) => format!("{} {max} {}", t.public_age_up_to, t.public_years),
        (min, max) => format!(
            "{} {min} {} {max} {}",
            t.public_age_from, t.public_age_to, t.public_years
        ),
    }
}

/// Places free now, and people waiting if any.
fn places_free(a: &v1::Availability, t: &Texts) -> String {
    let free = if a.places_free == 0 {
        t.public_places_none.to_string()
    } else {
        a.places_free.to_string()
    };
    if a.waiting_list == 0 {
        free
    } else {
        format!("{free}; {} {}", a.waiting_list, t.public_waiting)
    }
}

/// A need category in the reader's words (its code if unknown).
pub(crate) fn need_label<'a>(code: &'a str, t: &'a Texts) -> &'a str {
    match code {
        "housing" => t.need_housing,
        "food" => t.need_food,
        "income" => t.need_income,
        "employment" => t.need_employment,
        "health" => t.need_health,
        "addiction" => t.need_addiction,
        "mental-health" => t.need_mental_health,
        "disability" => t.need_disability,
        "family" => t.need_family,
        "loneliness" => t.need_loneliness,
        "legal" => t.need_legal,
        "debt" => t.need_debt,
        "utilities" => t.need_utilities,
        other => other,
    }
}

/// The municipality's name today (its code when unknown).
pub(crate) fn place_name(code: &str) -> String {
    let places = trama_subject::belfiore::lookup(code);
    places
        .iter()
        .find(|p| p.valid_to.is_none())
        .or(places.last())
        .map_or_else(|| code.to_string(), |p| p.name.to_string())
}

fn part(p: &v1::CatalogueSource, t: &Texts) -> String {
    let stale = if p.stale {
        format!(
            " — {}: {}",
            lang::pick(t, "non aggiornato", "not refreshed"),
            p.problem
        )
    } else {
        String::new()
    };
    format!(
        "{}: {} {}, {} {} s {}{stale}",
        p.organisation,
        p.services,
        lang::pick(t, "servizi", "services"),
        lang::pick(t, "aggiornato", "refreshed"),
        p.age_seconds,
        lang::pick(t, "fa", "ago")
    )
}

/// The link to the next page of `path`: the same search, with the token.
pub(crate) fn next_link(path: &str, form: &ServicesForm, token: &str) -> String {
    let pairs = [
        ("text", form.text.as_str()),
        ("need", form.need.as_str()),
        ("municipality", form.municipality.as_str()),
        ("max_price", form.max_price.as_str()),
        ("voucher", form.voucher.as_str()),
        ("isee", form.isee.as_str()),
        ("open_now", form.open_now.as_str()),
        ("page_token", token),
        ("searched", "1"),
    ];
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_and_bad_ones_name_the_field() {
        let t = &crate::lang::IT;
        assert_eq!(cents("max_price", "12,5", t), Ok(1250));
        assert_eq!(cents("max_price", " 7 ", t), Ok(700));
        assert_eq!(cents("isee", "", t), Ok(0));
        let Err(problem) = cents("ISEE", "tanti", t) else {
            panic!("accepted")
        };
        assert!(
            problem.starts_with("ISEE: «tanti» non è un importo in euro"),
            "{problem}"
        );
    }

    #[test]
    fn every_need_and_age_reads_in_words() {
        for t in [&crate::lang::IT, &crate::lang::EN] {
            for need in trama_proto::stats::NEEDS {
                let label = need_label(need, t);
                assert!(label != *need && !label.contains('-'), "{need}: {label}");
            }
        }
        let t = &crate::lang::IT;
        assert_eq!(ages(65, 0, t), "da 65 anni");
        assert_eq!(ages(0, 12, t), "fino a 12 anni");
        assert_eq!(ages(18, 64, t), "da 18 a 64 anni");
        assert_eq!(ages(0, 0, t), "tutte le età");
        let s = v1::Service {
            costs: vec![v1::CostOption {
                amount: Some(v1::Money {
                    cents: 1250,
                    currency: "EUR".into(),
                }),
                description: "all'ora".into(),
            }],
            vouchers: vec![v1::AcceptedVoucher {
                scheme: "voucher-conciliazione".into(),
                issuer: "Comune di Cremona".into(),
                value: None,
            }],
            ..Default::default()
        };
        let shown = service_view(&s, t);
        assert_eq!(shown.cost, "12,50 € all'ora");
        assert_eq!(shown.vouchers, "Voucher conciliazione (Comune di Cremona)");
    }

    #[test]
    fn a_municipality_is_read_by_name_or_code() {
        let t = &crate::lang::IT;
        assert_eq!(municipality("Cremona", t).as_deref(), Ok("D150"));
        assert_eq!(municipality("CREMONA", t).as_deref(), Ok("D150"));
        assert_eq!(municipality("cantu", t), municipality("Cantù", t));
        assert!(municipality("Cantù", t).is_ok_and(|c| c.len() == 4));
        assert_eq!(municipality("forli", t), municipality("Forlì", t));
        assert!(municipality("sant angelo lodigiano", t).is_ok());
        assert_eq!(municipality("d150", t).as_deref(), Ok("D150"));
        assert_eq!(municipality("", t).as_deref(), Ok(""));
        let Err(problem) = municipality("Cremonaa", t) else {
            panic!("accepted")
        };
        assert!(
            problem.contains("«Cremonaa» non è un comune italiano"),
            "{problem}"
        );
    }
}
