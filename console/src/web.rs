//! The console's routes, and what every response gets: a strict
//! Content-Security-Policy (no inline script), `Cache-Control: no-store`,
//! framing and referrer protections and a `Server-Timing` header; the
//! language choice, signing out and the static assets. Every value is
//! escaped by the templates; every form that changes something carries the
//! session's CSRF token.

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub use crate::app::{App, Peer};
use crate::lang;
use crate::operator::Refused;
use crate::session;

/// The console's routes, with the security headers on every response.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(crate::find::home))
        .route(
            "/login",
            get(crate::signin::login_page).post(crate::signin::login),
        )
        .route("/lang/{code}", get(language))
        .route("/oidc/start", get(crate::signin::oidc_start))
        .route("/oidc/callback", get(crate::signin::oidc_callback))
        .route("/logout", post(logout))
        .route("/find", get(crate::find::find_page).post(crate::find::find))
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
        .layer(axum::middleware::from_fn_with_state(
            "operators",
            crate::readiness::measure,
        ))
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
    if let Some((id, s)) = app.session(&headers).await {
        if !session::same_token(&s.csrf, &form.csrf) {
            return Refused::StaleForm(lang::of(&headers)).into_response();
        }
        app.sessions.end(&id).await;
    }
    let gone = session::set_cookie(
        app.cookie("session"),
        String::new(),
        session::SameSite::Strict,
        Some(0),
    );
    ([(header::SET_COOKIE, gone)], Redirect::to("/login")).into_response()
}

crate::operator::token_bearing!(TokenForm);
