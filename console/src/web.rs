//! The console's pages: sign-in, and finding a person across the
//! federation. Every response carries a strict Content-Security-Policy (no
//! inline script), `Cache-Control: no-store` and framing and referrer
//! protections; every value is escaped by the templates; every form that
//! changes something carries the session's CSRF token (the sign-in form a
//! token bound to the browser by a cookie); sign-in attempts are
//! rate-limited per username and per address. An operator whose session
//! expired while searching signs in again and finds the search as they
//! left it.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tonic::transport::Channel;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;

use crate::accounts::Accounts;
use crate::lang::{self, Texts};
use crate::operator::{Operator, Refused};
use crate::session::{self, Session, Sessions};

/// The address a request came from (set by the server for each
/// connection).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::IpAddr);

/// What every page handler shares.
#[derive(Clone)]
pub struct App {
    /// The organisation running the console.
    pub organisation: String,
    /// Operators' sessions.
    pub sessions: Sessions,
    /// Local accounts.
    pub accounts: Arc<Accounts>,
    /// The Federation client, with the organisation's certificate.
    pub client: FederationClient<Channel>,
    /// Recent sign-in attempts by username, and by address (`@` + it).
    attempts: moka::sync::Cache<String, u32>,
    /// The organisation's identity provider, if operators sign in there.
    pub oidc: Option<crate::oidc::Provider>,
    /// What each role may read for a purpose and case id, by source, for
    /// a short while (see `record::access`).
    pub(crate) offers: moka::sync::Cache<(String, String, String), Arc<Vec<v1::SourceInfo>>>,
    /// What each role may do, by role, for a few minutes (see
    /// `operator::ask_permissions`).
    roles: moka::sync::Cache<String, Arc<crate::operator::Permissions>>,
}

impl App {
    /// The console's state.
    pub fn new(
        organisation: String,
        sessions: Sessions,
        accounts: Accounts,
        client: FederationClient<Channel>,
    ) -> App {
        App {
            organisation,
            sessions,
            accounts: Arc::new(accounts),
            client,
            attempts: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            oidc: None,
            offers: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            roles: moka::sync::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(crate::operator::PERMISSIONS_FOR)
                .build(),
        }
    }

    /// What `s`'s role may do: asked of the gateway once per role every
    /// few minutes; not kept when the gateway cannot say.
    pub(crate) async fn permissions(&self, s: &Session) -> Arc<crate::operator::Permissions> {
        if let Some(known) = self.roles.get(&s.role) {
            return known;
        }
        match crate::operator::ask_permissions(self, s).await {
            Some(p) => {
                let p = Arc::new(p);
                self.roles.insert(s.role.clone(), p.clone());
                p
            }
            None => Arc::new(crate::operator::Permissions::default()),
        }
    }

    /// The console with operators signing in at `provider` too.
    pub fn with_provider(self, provider: Option<crate::oidc::Provider>) -> App {
        App {
            oidc: provider,
            ..self
        }
    }

    /// Counts one sign-in attempt for `key`; whether it is within `limit`.
    pub(crate) fn attempt(&self, key: String, limit: u32) -> bool {
        let tries = self.attempts.get(&key).unwrap_or(0) + 1;
        self.attempts.insert(key, tries);
        tries <= limit
    }

    /// The name of this console's cookie `what` (`session`, `login`,
    /// `oidc`).
    pub(crate) fn cookie(&self, what: &str) -> String {
        session::cookie_name(&self.organisation, what)
    }

    /// Forgets the attempts of a username that signed in.
    pub(crate) fn forget_attempts(&self, username: &str) {
        self.attempts.invalidate(username);
    }

    /// The session the request's cookie names, if still alive.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<(String, Arc<Session>)> {
        let id = cookie(headers, &self.cookie("session"))?;
        let s = self.sessions.get(&id)?;
        Some((id, s))
    }
}

/// The console's routes, with the security headers on every response.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route(
            "/login",
            get(crate::signin::login_page).post(crate::signin::login),
        )
        .route("/lang/{code}", get(language))
        .route("/oidc/start", get(crate::signin::oidc_start))
        .route("/oidc/callback", get(crate::signin::oidc_callback))
        .route("/logout", post(logout))
        .route("/find", get(find_page).post(find))
        .route(
            "/record",
            get(crate::record::record_page).post(crate::record::record),
        )
        .route(
            "/stats",
            get(crate::stats::stats_page).post(crate::stats::stats),
        )
        .route(
            "/access",
            get(crate::access::access_page).post(crate::access::access),
        )
        .route("/access.csv", get(crate::access::access_csv))
        .route("/record/sections", get(crate::record::sections_part))
        .route("/services", get(crate::services::services))
        .route("/referrals", get(crate::referrals::boxes))
        .route(
            "/referrals/{id}",
            get(crate::referrals::show).post(crate::referrals::change),
        )
        .route(
            "/refer",
            get(crate::referrals::refer_form).post(crate::referrals::send),
        )
        .route("/sources", get(crate::oversight::sources))
        .route("/sources/table", get(crate::oversight::sources_table))
        .route("/assets/{*path}", get(asset))
        .layer(axum::middleware::map_response(secure_headers))
        .layer(axum::middleware::from_fn(server_timing))
        .with_state(app)
}

/// `Server-Timing: app;dur=…`: how long the console took to answer, in
/// milliseconds (the browser's developer tools and the console benchmark
/// read it; it says nothing about what was asked).
async fn server_timing(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let took = format!("app;dur={:.2}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(value) = HeaderValue::from_str(&took) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("server-timing"), value);
    }
    response
}

/// `GET /lang/{it|en}`: keeps the operator's choice of language, then on
/// to the search (or the sign-in).
async fn language(axum::extract::Path(code): axum::extract::Path<String>) -> Response {
    let code = if code == "en" { "en" } else { "it" };
    let keep = session::set_cookie(
        lang::COOKIE.to_string(),
        code.to_string(),
        session::SameSite::Lax,
        Some(31_536_000),
    );
    ([(header::SET_COOKIE, keep)], Redirect::to("/find")).into_response()
}

/// The headers every response carries.
async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; \
         script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    response
}

/// The files the console serves itself (no CDN): its own stylesheet and
/// Designers Italia's Bootstrap Italia with the Titillium Web fonts,
/// vendored by `console/assets/vendor.sh`.
const ASSETS: [(&str, &str, &[u8]); 8] = [
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/htmx/htmx.min.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/console.css"),
    ),
    (
        "bootstrap-italia.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/bootstrap-italia/css/bootstrap-italia.min.css"),
    ),
    (
        "fonts/titillium-web-regular.woff2",
        "font/woff2",
        include_bytes!(
            "../assets/vendor/bootstrap-italia/fonts/titillium-web-v10-latin-ext_latin-regular.woff2"
        ),
    ),
    (
        "fonts/titillium-web-italic.woff2",
        "font/woff2",
        include_bytes!(
            "../assets/vendor/bootstrap-italia/fonts/titillium-web-v10-latin-ext_latin-italic.woff2"
        ),
    ),
    (
        "fonts/titillium-web-300.woff2",
        "font/woff2",
        include_bytes!(
            "../assets/vendor/bootstrap-italia/fonts/titillium-web-v10-latin-ext_latin-300.woff2"
        ),
    ),
    (
        "fonts/titillium-web-600.woff2",
        "font/woff2",
        include_bytes!(
            "../assets/vendor/bootstrap-italia/fonts/titillium-web-v10-latin-ext_latin-600.woff2"
        ),
    ),
    (
        "fonts/titillium-web-700.woff2",
        "font/woff2",
        include_bytes!(
            "../assets/vendor/bootstrap-italia/fonts/titillium-web-v10-latin-ext_latin-700.woff2"
        ),
    ),
];

pub(crate) async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, kind, bytes)) => ([(header::CONTENT_TYPE, *kind)], *bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The page status of a call the gateway refused: the caller's input
/// (`422`), the policy (`403`), or the federation failing (`502`).
pub(crate) fn refusal(code: tonic::Code) -> StatusCode {
    match code {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// A rendered page with `status`; a template that fails to render is a
/// plain error, never a stack trace.
pub(crate) fn page<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
                .into_response()
        }
    }
}

/// A form that carries only the CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    csrf: String,
}

async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Some((id, s)) = app.session(&headers) {
        if !session::same_token(&s.csrf, &form.csrf) {
            return Refused::StaleForm(lang::of(&headers)).into_response();
        }
        app.sessions.end(&id);
    }
    let gone = session::set_cookie(
        app.cookie("session"),
        String::new(),
        session::SameSite::Strict,
        Some(0),
    );
    ([(header::SET_COOKIE, gone)], Redirect::to("/login")).into_response()
}

/// Forms read with serde carry their token in `csrf`.
macro_rules! token_bearing {
    ($($form:ty),*) => {$(
        impl $crate::operator::TokenBearing for $form {
            fn read(body: &[u8]) -> Option<Self> {
                serde_urlencoded::from_bytes(body).ok()
            }
            fn token(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
pub(crate) use token_bearing;
token_bearing!(TokenForm);

/// The search form.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct FindForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    case_id: String,
    #[serde(default)]
    tax_code: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    birth_date: String,
}

/// A purpose in the form's list.
pub struct PurposeOption {
    pub(crate) code: &'static str,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// The purposes the operator's role may find and read a person for,
/// `selected` marked (the first when none is).
pub(crate) fn purposes(who: &Operator, selected: &str) -> Vec<PurposeOption> {
    let codes = who.may.person_purposes();
    let chosen = if codes.contains(&selected) {
        selected
    } else {
        codes.first().copied().unwrap_or_default()
    };
    codes
        .into_iter()
        .map(|code| PurposeOption {
            code,
            label: if who.may.needs_case(code) {
                format!(
                    "{} ({})",
                    crate::words::purpose(code, who.t),
                    who.t.with_case
                )
            } else {
                crate::words::purpose(code, who.t)
            },
            selected: code == chosen,
        })
        .collect()
}

/// A group of candidates as shown.
pub struct GroupView {
    title: String,
    /// The record page for every identity of the group, with the find's
    /// purpose and case.
    href: String,
    tie: bool,
    candidates: Vec<CandidateView>,
}

/// A candidate as shown.
pub struct CandidateView {
    source: String,
    name: String,
    birth: String,
    score: String,
    matched: String,
}

#[derive(Template)]
#[template(path = "find.html")]
struct FindPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    purposes: Vec<PurposeOption>,
    form: &'a FindForm,
    problem: Option<String>,
    searched: bool,
    groups: Vec<GroupView>,
    outcomes: Vec<String>,
    partial: bool,
}

/// `GET /`: the first screen the operator's role can use.
async fn home(who: Operator) -> Redirect {
    let s = who.screens;
    Redirect::to(if s.find {
        "/find"
    } else if s.stats {
        "/stats"
    } else if s.access {
        "/access"
    } else {
        "/services"
    })
}

async fn find_page(who: Operator, State(app): State<App>) -> Response {
    if let Some(refused) = who.refused_unless(&app, who.screens.find) {
        return refused;
    }
    let form = FindForm::default();
    page(StatusCode::OK, &find_view(&app, &who, &form))
}

fn find_view<'a>(app: &'a App, who: &'a Operator, form: &'a FindForm) -> FindPage<'a> {
    FindPage {
        t: who.t,
        organisation: &app.organisation,
        operator: Some(who),
        csrf: who.csrf(),
        purposes: purposes(who, &form.purpose),
        form,
        problem: None,
        searched: false,
        groups: Vec::new(),
        outcomes: Vec::new(),
        partial: false,
    }
}

/// The search given back after signing in again: the form as the
/// operator left it, not yet run.
pub(crate) async fn resumed_search(
    app: &App,
    id: String,
    s: Arc<Session>,
    form: &FindForm,
    t: &'static Texts,
) -> Response {
    let who = Operator::signed_in(app, id, s, t).await;
    let mut view = find_view(app, &who, form);
    view.problem = Some(t.search_resumed.into());
    page(StatusCode::OK, &view)
}

async fn find(State(app): State<App>, headers: HeaderMap, Form(form): Form<FindForm>) -> Response {
    let who = match Operator::of(&app, &headers).await {
        Ok(who) => who,
        Err(Refused::SignIn { .. }) => {
            // The session expired while the operator searched: sign in
            // again, with the search kept in the page (not on the server).
            let t = lang::of(&headers);
            let resume = serde_urlencoded::to_string(&form).unwrap_or_default();
            return crate::signin::login_with(
                &app,
                t,
                StatusCode::UNAUTHORIZED,
                "",
                Some(t.session_expired),
                &resume,
            );
        }
        Err(refused) => return refused.into_response(),
    };
    if !session::same_token(who.csrf(), &form.csrf) {
        return Refused::StaleForm(who.t).into_response();
    }
    let t = who.t;
    let mut view = find_view(&app, &who, &form);
    if let Some(problem) = too_long(&form, t) {
        view.problem = Some(problem);
        return page(StatusCode::BAD_REQUEST, &view);
    }
    match ask_find(&app, &who.session, &form).await {
        Ok(answer) => {
            view.searched = true;
            view.partial = answer.partial;
            view.outcomes = answer.outcomes.iter().map(|o| outcome_line(o, t)).collect();
            view.groups = answer
                .groups
                .iter()
                .map(|g| group_view(g, &form, t))
                .collect();
            page(StatusCode::OK, &view)
        }
        Err(status) => {
            view.problem = Some(crate::said::refusal(&status, t));
            page(refusal(status.code()), &view)
        }
    }
}

/// Longest name the find form takes (the gateway's own limit).
pub(crate) const MAX_NAME: usize = 100;

/// A name longer than any person's, said in the operator's language.
fn too_long(form: &FindForm, t: &Texts) -> Option<String> {
    [
        (t.family_name, &form.family_name),
        (t.given_name, &form.given_name),
    ]
    .into_iter()
    .find(|(_, v)| v.chars().count() > MAX_NAME)
    .map(|(label, _)| format!("{label}: {} {MAX_NAME}", t.at_most_characters))
}

/// `FindSubject` on the operator's behalf: their id and role in the
/// context, as the organisation vouches for them.
async fn ask_find(
    app: &App,
    s: &Session,
    form: &FindForm,
) -> Result<v1::FindSubjectResponse, tonic::Status> {
    let code = form.tax_code.trim().to_uppercase();
    let (tax_code, fragment) = if code.len() == 16 {
        (code, String::new())
    } else {
        (String::new(), code)
    };
    let birth_date = parse_date(&form.birth_date)
        .map_err(|m| tonic::Status::invalid_argument(format!("query.birth_date: {m}")))?;
    let mut request = tonic::Request::new(v1::FindSubjectRequest {
        context: Some(s.context(&form.purpose, form.case_id.trim())),
        query: Some(v1::SubjectQuery {
            tax_code,
            tax_code_fragment: fragment,
            family_name: form.family_name.trim().into(),
            given_name: form.given_name.trim().into(),
            birth_date,
            ..v1::SubjectQuery::default()
        }),
        max_candidates: 10,
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    Ok(client.find_subject(request).await?.into_inner())
}

/// `YYYY-MM-DD`, or nothing.
pub(crate) fn parse_date(text: &str) -> Result<Option<v1::Date>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match trama_client::dates::parse_iso(text) {
        Some(date) => Ok(Some(date)),
        None => Err(format!("`{text}` is not a date: write YYYY-MM-DD")),
    }
}

fn group_view(g: &v1::CandidateGroup, form: &FindForm, t: &Texts) -> GroupView {
    let candidates: Vec<CandidateView> =
        g.candidates.iter().map(|c| candidate_view(c, t)).collect();
    let tie = g
        .candidates
        .iter()
        .any(|c| c.matched_fields.iter().any(|m| m == "ambiguous"));
    GroupView {
        href: record_href(g, form),
        title: if g.tax_code.is_empty() {
            t.no_tax_code.into()
        } else {
            g.tax_code.clone()
        },
        tie,
        candidates,
    }
}

/// The record page of a group found: its tax code and every partner's
/// local id, so that a partner that holds the person without a tax code is
/// asked too, with the purpose and case the find was made for.
fn record_href(g: &v1::CandidateGroup, form: &FindForm) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !g.tax_code.is_empty() {
        query.append_pair("tax_code", &g.tax_code);
    }
    for local in g
        .candidates
        .iter()
        .filter_map(|c| c.identity.as_ref()?.local_id.as_ref())
    {
        query.append_pair("local", &format!("{}:{}", local.organisation, local.id));
    }
    query.append_pair("purpose", &form.purpose);
    if !form.case_id.trim().is_empty() {
        query.append_pair("case_id", form.case_id.trim());
    }
    format!("/record?{}", query.finish())
}

fn candidate_view(c: &v1::Candidate, t: &Texts) -> CandidateView {
    let identity = c.identity.clone().unwrap_or_default();
    let source = identity
        .local_id
        .as_ref()
        .map(|l| l.organisation.clone())
        .unwrap_or_default();
    let birth = identity
        .birth_date
        .map(|d| crate::when::date(&d))
        .unwrap_or_default();
    CandidateView {
        source,
        name: format!("{} {}", identity.family_name, identity.given_name),
        birth,
        score: format!("{:.0}%", c.score * 100.0),
        matched: c
            .matched_fields
            .iter()
            .filter_map(|f| crate::words::matched(f, t))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One partner's outcome, in words.
pub(crate) fn outcome_line(o: &v1::SourceOutcome, t: &Texts) -> String {
    let status = match v1::OutcomeStatus::try_from(o.status) {
        Ok(v1::OutcomeStatus::Ok) => t.answered,
        Ok(v1::OutcomeStatus::NotFound) => t.not_known,
        Ok(v1::OutcomeStatus::Denied) => t.denied,
        Ok(v1::OutcomeStatus::Timeout) => t.timeout,
        Ok(v1::OutcomeStatus::Unavailable) => t.down,
        _ => t.error,
    };
    let denied = o.status == v1::OutcomeStatus::Denied as i32;
    match crate::said::rule(&o.rule, t) {
        Some(words) if denied => format!("{}: {status}: {words}", o.organisation),
        None if denied && o.rule.is_empty() => {
            format!("{}: {status} ({})", o.organisation, t.denied_by_partner)
        }
        None if denied => format!("{}: {status} ({})", o.organisation, t.denied_by_federation),
        _ => format!("{}: {status}", o.organisation),
    }
}
