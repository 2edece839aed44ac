//! The public catalogue of services, on a listener of its own: for
//! citizens a read-only search page (`/`) and a page for each service
//! (`/servizi/{id}`), for portals such as WelfareX an HSDS 3.0 compatible
//! JSON API (`GET /services`, `GET /services/{id}`, always JSON; the API's
//! root at `/` for `Accept: application/json`). No sign-in, no client
//! certificate, no cookie, no personal data: it asks the gateway's
//! `SearchServices` with the organisation's certificate and nothing else.
//! Each address has a number of requests a minute; past it, 429. A refusal
//! reaches a browser (`Accept: text/html`) as a page in its reader's
//! language saying what happened and when to retry, an API client as
//! `application/problem+json`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;

use crate::app::{Peer, page};
use crate::hsds;
use crate::lang::{self, Texts};
use crate::services::{FieldProblem, ServiceView, ServicesForm};

/// Most services an HSDS page holds.
pub const MAX_PER_PAGE: u32 = 100;
/// Seconds an address over its limit waits (the limit counts a minute).
const RETRY_AFTER: u32 = 60;

/// What the public listener shares.
#[derive(Clone)]
pub struct PublicApp {
    client: FederationClient<tonic::transport::Channel>,
    hits: moka::sync::Cache<IpAddr, Arc<std::sync::atomic::AtomicU32>>,
    per_minute: u32,
}

impl PublicApp {
    /// The public catalogue, asking through `client`, allowing each
    /// address `per_minute` requests a minute.
    pub fn new(client: FederationClient<tonic::transport::Channel>, per_minute: u32) -> PublicApp {
        PublicApp {
            client,
            hits: moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(60))
                .max_capacity(100_000)
                .build(),
            per_minute,
        }
    }

    /// Counts a request from `address`; false past the limit.
    fn admit(&self, address: IpAddr) -> bool {
        let count = self
            .hits
            .get_with(address, || Arc::new(std::sync::atomic::AtomicU32::new(0)));
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < self.per_minute
    }

    async fn search(
        &self,
        request: v1::SearchServicesRequest,
    ) -> Result<v1::SearchServicesResponse, tonic::Status> {
        let mut call = tonic::Request::new(request);
        call.set_timeout(Duration::from_secs(5));
        let mut client = self.client.clone();
        client
            .search_services(call)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// The public routes.
pub fn router(app: PublicApp) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/services", get(list))
        .route("/services/{id}", get(one))
        .route("/servizi/{id}", get(service_page))
        .layer(middleware::from_fn_with_state(app.clone(), limited))
        // The stylesheet and fonts ask nothing of the federation: outside
        // the limit, so that a refusal page is drawn as every other page.
        .route("/assets/{*path}", get(crate::web::asset))
        .layer(middleware::map_response(public_headers))
        .layer(middleware::from_fn_with_state(
            "public",
            crate::readiness::measure,
        ))
        .with_state(app)
}

/// Refuses an address past its requests a minute.
async fn limited(
    State(app): State<PublicApp>,
    Extension(Peer(address)): Extension<Peer>,
    request: Request,
    next: Next,
) -> Response {
    if !app.admit(address) {
        tracing::warn!("public catalogue requests over the limit");
        return answer_problem(
            request.headers(),
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests: try again in a minute",
        );
    }
    next.run(request).await
}

/// Public data: cacheable for a minute, readable by any portal's page,
/// with the console's content policy.
async fn public_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    // Pages and refusals follow the reader's Accept and language.
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Language"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// `value` as a JSON response.
fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a catalogue answer could not be written");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A problem (RFC 9457) naming what to fix, for API clients; a 429 says
/// when to retry.
fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut r = json(status, &body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    with_retry(r)
}

/// `r` with `Retry-After` when it refuses for too many requests.
fn with_retry(mut r: Response) -> Response {
    if r.status() == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER));
    }
    r
}

/// Whether the caller is a browser asking for a page.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A refusal as the caller reads it: a page for a browser, a problem for
/// an API client.
fn answer_problem(headers: &HeaderMap, status: StatusCode, detail: &str) -> Response {
    if wants_html(headers) {
        problem_page(lang::of(headers), status, detail)
    } else {
        problem(status, detail)
    }
}

/// The gateway's refusal as an HTTP status and a detail for API clients.
fn refusal_of(status: &tonic::Status) -> (StatusCode, &str) {
    match status.code() {
        tonic::Code::InvalidArgument => (StatusCode::BAD_REQUEST, status.message()),
        tonic::Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, status.message()),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the catalogue is not reachable now: try again shortly",
        ),
    }
}

fn refused(headers: &HeaderMap, status: &tonic::Status) -> Response {
    let (code, detail) = refusal_of(status);
    answer_problem(headers, code, detail)
}

#[derive(Template)]
#[template(path = "public_problem.html")]
struct ProblemPage<'a> {
    t: &'static Texts,
    title: &'static str,
    message: &'static str,
    /// The technical detail, only for a request a person cannot have typed
    /// in the search form (an API parameter).
    detail: Option<&'a str>,
    retry_after: Option<u32>,
}

/// A refusal as a page in the reader's language: what happened, and when
/// to retry.
fn problem_page(t: &'static Texts, status: StatusCode, detail: &str) -> Response {
    let (title, message, detail) = match status {
        StatusCode::TOO_MANY_REQUESTS => (t.public_too_many_title, t.public_too_many, None),
        StatusCode::NOT_FOUND => (t.public_not_found_title, t.public_not_found, None),
        StatusCode::BAD_REQUEST => (t.public_bad_request_title, "", Some(detail)),
        _ => (t.public_unavailable_title, t.public_unavailable, None),
    };
    let view = ProblemPage {
        t,
        title,
        message,
        detail,
        retry_after: (status == StatusCode::TOO_MANY_REQUESTS).then_some(RETRY_AFTER),
    };
    with_retry(page(status, &view))
}

/// HSDS query parameters, and the Italian filters beside them.
#[derive(Debug, Default, Deserialize)]
pub struct HsdsQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
    #[serde(default)]
    taxonomy_term_id: String,
    #[serde(default)]
    taxonomy_id: String,
    #[serde(default)]
    organization_id: String,
    #[serde(default)]
    modified_after: String,
    #[serde(default)]
    minimal: String,
    #[serde(default)]
    full: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    municipality: String,
    #[serde(default)]
    voucher: String,
}

fn number(field: &str, text: Option<&str>, default: u32) -> Result<u32, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(default),
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{field}: `{t}` is not a whole number from 1")),
    }
}

fn flag(text: &str) -> bool {
    matches!(text.trim(), "true" | "1" | "yes")
}

/// `GET /services`: a page of services, HSDS's envelope.
async fn list(
    State(app): State<PublicApp>,
    headers: HeaderMap,
    Query(q): Query<HsdsQuery>,
) -> Response {
    match list_request(&app, &q).await {
        Ok(Some((request, page_number, per_page))) => match app.search(request).await {
            Ok(found) => {
                let full = flag(&q.full);
                if flag(&q.minimal) {
                    let items = found.services.iter().map(hsds::minimal).collect();
                    return json(
                        StatusCode::OK,
                        &hsds::Page::new(found.total, page_number, per_page, items),
                    );
                }
                let items = found
                    .services
                    .iter()
                    .map(|s| hsds::service(s, full))
                    .collect();
                json(
                    StatusCode::OK,
                    &hsds::Page::new(found.total, page_number, per_page, items),
                )
            }
            Err(status) => refused(&headers, &status),
        },
        Ok(None) => json(
            StatusCode::OK,
            &hsds::Page::<hsds::Minimal>::new(0, 1, 20, Vec::new()),
        ),
        Err(detail) => answer_problem(&headers, StatusCode::BAD_REQUEST, &detail),
    }
}

/// The HSDS query as a search; `None` when nothing can match (a
/// taxonomy or organisation not held).
async fn list_request(
    app: &PublicApp,
    q: &HsdsQuery,
) -> Result<Option<(v1::SearchServicesRequest, u32, u32)>, String> {
    let page_number = number("page", q.page.as_deref(), 1)?;
    let per_page = number("per_page", q.per_page.as_deref(), 20)?;
    if per_page > MAX_PER_PAGE {
        return Err(format!("per_page: at most {MAX_PER_PAGE}"));
    }
    if !matches!(q.format.trim(), "" | "json") {
        return Err("format: only json is served".into());
    }
    let taxonomy = q.taxonomy_id.trim();
    if !taxonomy.is_empty()
        && taxonomy != hsds::NEEDS_SYSTEM
        && taxonomy != trama_proto::ids::term("taxonomy", hsds::NEEDS_SYSTEM)
    {
        return Ok(None);
    }
    let term = q.taxonomy_term_id.trim();
    let needs = if term.is_empty() {
        Vec::new()
    } else {
        let need = hsds::need_of_term(term).ok_or_else(|| {
            format!("taxonomy_term_id: `{term}` is not a need category's id or code")
        })?;
        vec![need.to_string()]
    };
    let providers = match q.organization_id.trim() {
        "" => Vec::new(),
        id => match provider_named(app, id).await? {
            Some(name) => vec![name],
            None => return Ok(None),
        },
    };
    Ok(Some((
        v1::SearchServicesRequest {
            text: q.search.trim().into(),
            needs,
            providers,
            municipality: crate::services::municipality(&q.municipality, &lang::EN).map_err(
                |_| {
                    format!(
                        "municipality: `{}` is not an Italian municipality: give its name or Belfiore code",
                        q.municipality.trim()
                    )
                },
            )?,
            voucher: q.voucher.trim().into(),
            modified_after: q.modified_after.trim().into(),
            page: page_number,
            page_size: per_page,
            ..Default::default()
        },
        page_number,
        per_page,
    )))
}

/// The provider whose organisation UUID is `id`, from the providers held.
async fn provider_named(app: &PublicApp, id: &str) -> Result<Option<String>, String> {
    let all = app
        .search(v1::SearchServicesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .map_err(|s| s.message().to_string())?;
    Ok(all
        .by_provider
        .into_iter()
        .map(|f| f.value)
        .find(|name| trama_proto::ids::organization(name) == id))
}

/// The service `id` (its Trama id or UUID), if offered now.
async fn find_one(app: &PublicApp, id: &str) -> Result<Option<v1::Service>, tonic::Status> {
    let request = v1::SearchServicesRequest {
        ids: vec![id.to_string()],
        page_size: 1,
        ..Default::default()
    };
    let found = app.search(request).await?;
    Ok(found.services.into_iter().next())
}

/// `GET /services/{id}`: one service, in full, as HSDS JSON whatever the
/// `Accept` (portals link and cache it).
async fn one(State(app): State<PublicApp>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match find_one(&app, &id).await {
        Ok(Some(s)) => json(StatusCode::OK, &hsds::service(&s, true)),
        Ok(None) => answer_problem(
            &headers,
            StatusCode::NOT_FOUND,
            &format!("no service `{id}` is offered now"),
        ),
        Err(status) => refused(&headers, &status),
    }
}

#[derive(Template)]
#[template(path = "public_service.html")]
struct ServicePage {
    t: &'static Texts,
    s: ServiceView,
}

/// `GET /servizi/{id}`: the page of one service, for citizens.
async fn service_page(
    State(app): State<PublicApp>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let t = lang::of(&headers);
    match find_one(&app, &id).await {
        Ok(Some(s)) => {
            let view = ServicePage {
                t,
                s: crate::services::service_view(&s, t),
            };
            page(StatusCode::OK, &view)
        }
        Ok(None) => problem_page(t, StatusCode::NOT_FOUND, ""),
        Err(status) => {
            let (code, detail) = refusal_of(&status);
            problem_page(t, code, detail)
        }
    }
}

/// The address of `s`'s page.
fn page_of(s: &v1::Service) -> String {
    let id = if s.uuid.is_empty() { &s.id } else { &s.uuid };
    let encoded: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/servizi/{encoded}")
}

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage<'a> {
    t: &'static Texts,
    form: &'a ServicesForm,
    needs: Vec<(&'static str, &'static str, bool)>,
    problem: Option<String>,
    /// A field refused, shown next to it.
    refused: Option<FieldProblem>,
    /// What to try when nothing was found.
    suggestion: &'static str,
    searched: bool,
    total: u32,
    services: Vec<ServiceView>,
    next: Option<String>,
}

/// `GET /`: the search page, or the API's root for JSON clients.
async fn home(
    State(app): State<PublicApp>,
    headers: HeaderMap,
    Query(form): Query<ServicesForm>,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
    if wants_json {
        return json(
            StatusCode::OK,
            &serde_json::json!({
                "version": hsds::VERSION,
                "profile": "https://openreferral.org/",
                "openapi_url": "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json",
            }),
        );
    }
    let t = lang::of(&headers);
    let mut view = PublicPage {
        t,
        form: &form,
        needs: trama_proto::stats::NEEDS
            .iter()
            .map(|n| (*n, crate::services::need_label(n, t), *n == form.need))
            .collect(),
        problem: None,
        refused: None,
        suggestion: if form.has_filters() {
            t.public_none_filters
        } else {
            t.public_none_words
        },
        searched: false,
        total: 0,
        services: Vec::new(),
        next: None,
    };
    if !form.is_searched() {
        return page(StatusCode::OK, &view);
    }
    let request = match crate::services::request(&form, t) {
        Ok(r) => r,
        Err(problem) => {
            view.refused = Some(problem);
            return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
        }
    };
    match app.search(request).await {
        Ok(found) => {
            view.searched = true;
            view.total = found.total;
            view.services = found
                .services
                .iter()
                .map(|s| ServiceView {
                    page: Some(page_of(s)),
                    ..crate::services::service_view(s, t)
                })
                .collect();
            view.next = (!found.next_page_token.is_empty())
                .then(|| crate::services::next_link("/", &form, &found.next_page_token));
            page(StatusCode::OK, &view)
        }
        Err(status) if status.code() == tonic::Code::ResourceExhausted => {
            problem_page(t, StatusCode::TOO_MANY_REQUESTS, "")
        }
        Err(status) => {
            view.problem = Some(crate::said::refusal(&status, t));
            page(crate::app::refusal(status.code()), &view)
        }
    }
}
