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

use crate::lang::{self, Texts};
use crate::web::{App, page, refusal};

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
}

/// A service as shown.
pub struct ServiceView {
    pub(crate) name: String,
    pub(crate) provider: String,
    pub(crate) description: String,
    pub(crate) cost: String,
    pub(crate) vouchers: String,
    pub(crate) hours: String,
    pub(crate) contact: String,
    pub(crate) place: String,
    /// Where an operator starts a referral to its provider (never on the
    /// public page).
    pub(crate) refer: Option<String>,
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
            view.problem = Some(problem);
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
                .map(|f| format!("{} ({})", f.value, f.count))
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
pub(crate) fn request(form: &ServicesForm, t: &Texts) -> Result<v1::SearchServicesRequest, String> {
    Ok(v1::SearchServicesRequest {
        text: form.text.trim().into(),
        needs: form
            .need
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect(),
        municipality: municipality(&form.municipality, t)?,
        age: 0,
        max_price_cents: cents(t.services_max_price, &form.max_price, t)?,
        voucher: form.voucher.trim().into(),
        isee_cents: cents(t.services_isee, &form.isee, t)?,
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

/// A municipality as people write it, by name (`Cremona`) or Belfiore
/// code (`D150`): its code.
fn municipality(text: &str, t: &Texts) -> Result<String, String> {
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
    let cost = match s
        .costs
        .first()
        .and_then(|c| c.amount.as_ref().map(|m| (m, &c.description)))
    {
        Some((m, d)) => format!("€ {} {d}", crate::record::money(m.cents))
            .trim()
            .to_string(),
        None => lang::pick(t, "gratuito", "free").into(),
    };
    let days = if t.code == "en" {
        WEEKDAYS_EN
    } else {
        WEEKDAYS
    };
    let hours = s
        .openings
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
        .join(", ");
    let places: Vec<String> = s
        .municipalities
        .iter()
        .map(|code| place_name(code))
        .collect();
    ServiceView {
        name: s.name.clone(),
        provider: if s.provider.is_empty() {
            s.organisation.clone()
        } else {
            s.provider.clone()
        },
        description: s.description.clone(),
        cost,
        vouchers: s
            .vouchers
            .iter()
            .map(|v| v.scheme.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        hours,
        contact: [s.phone.as_str(), s.email.as_str(), s.url.as_str()]
            .iter()
            .filter(|c| !c.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" · "),
        place: places.join(", "),
        refer: None,
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
    fn a_municipality_is_read_by_name_or_code() {
        let t = &crate::lang::IT;
        assert_eq!(municipality("Cremona", t).as_deref(), Ok("D150"));
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
