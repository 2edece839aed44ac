//! Signing in: the sign-in page (the identity provider's button, the local
//! accounts form, or both), the local form's check (a CSRF token bound to
//! the browser by a cookie, attempts limited per username and per
//! address, Argon2 verification off the async threads), and the OpenID
//! Connect flow's two ends. A sign-in that interrupted a search (the
//! session expired) gives the search back as it was, not yet run.

use std::time::Duration;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::{App, Peer};
use crate::find::FindForm;
use crate::lang::{self, Texts};
use crate::login::login_with;
use crate::session::cookie;
use crate::session::{SameSite, same_token, set_cookie};

/// Sign-in attempts allowed per username per minute.
const PER_USERNAME: u32 = 5;

/// Sign-in attempts allowed per address per minute (an office behind one
/// address signs in many operators).
const PER_ADDRESS: u32 = 30;

/// `GET /login`.
pub async fn login_page(State(app): State<App>, headers: HeaderMap) -> Response {
    login_with(&app, lang::of(&headers), StatusCode::OK, "", None, "")
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    resume: String,
}

/// `POST /login`: a local account signs in.
pub async fn login(
    State(app): State<App>,
    Extension(Peer(address)): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = lang::of(&headers);
    let refused = |status, problem: &str| {
        login_with(&app, t, status, &form.username, Some(problem), &form.resume)
    };
    let bound = cookie(&headers, &app.cookie("login")).unwrap_or_default();
    if form.csrf.is_empty() || !same_token(&bound, &form.csrf) {
        return refused(StatusCode::FORBIDDEN, t.form_stale);
    }
    let by_user = app.attempt(form.username.clone(), PER_USERNAME);
    let by_address = app.attempt(format!("@{address}"), PER_ADDRESS);
    if !(by_user && by_address) {
        tracing::warn!("sign-in attempts over the limit");
        return refused(StatusCode::TOO_MANY_REQUESTS, t.too_many);
    }
    let accounts = app.accounts.clone();
    let (user, pass) = (form.username.clone(), form.password.clone());
    let found = tokio::task::spawn_blocking(move || accounts.verify(&user, &pass).cloned())
        .await
        .ok()
        .flatten();
    let Some(account) = found else {
        return refused(StatusCode::UNAUTHORIZED, t.bad_password);
    };
    app.forget_attempts(&form.username);
    tracing::info!(role = %account.role, "operator signed in with a local account");
    signed_in(
        &app,
        t,
        &account.username,
        &account.name,
        &account.role,
        &form.resume,
        false,
    )
    .await
}

/// Starts the operator's session: on to the search, or the interrupted
/// search given back. `from_provider`: the browser comes from the
/// provider's site, so the `Strict` session cookie would not be sent on a
/// redirect; a page that moves on by itself is sent instead.
async fn signed_in(
    app: &App,
    t: &'static Texts,
    operator: &str,
    name: &str,
    role: &str,
    resume: &str,
    from_provider: bool,
) -> Response {
    let Some(id) = app.sessions.start(operator, name, role).await else {
        return login_with(
            app,
            t,
            StatusCode::SERVICE_UNAVAILABLE,
            "",
            Some(t.unavailable),
            "",
        );
    };
    let session = set_cookie(
        app.cookie("session"),
        id.to_string(),
        SameSite::Strict,
        None,
    );
    let headers = AppendHeaders([(header::SET_COOKIE, session)]);
    if let Some(form) = serde_urlencoded::from_str::<FindForm>(resume)
        .ok()
        .filter(|_| !resume.is_empty())
        && let Some(s) = app.sessions.get(&id).await
    {
        let page = crate::find::resumed_search(app, id, s, &form, t).await;
        return (headers, page).into_response();
    }
    if from_provider {
        return (headers, Html(MOVE_ON)).into_response();
    }
    (headers, Redirect::to("/")).into_response()
}

/// The page the provider's redirect lands on: on to the search by itself
/// (no script: a refresh the console's own page starts).
const MOVE_ON: &str = "<!DOCTYPE html><html lang=\"it\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"0;url=/\"><title>Accesso eseguito</title></head>\
<body><main><p>Accesso eseguito. <a href=\"/\">Continua</a></p></main></body></html>";

/// What `GET /oidc/start` may carry: a search to give back afterwards.
#[derive(Debug, Deserialize)]
pub struct Start {
    #[serde(default)]
    resume: String,
}

/// `GET /oidc/start`: on to the identity provider.
pub async fn oidc_start(State(app): State<App>, Query(start): Query<Start>) -> Response {
    let Some(provider) = &app.oidc else {
        return (StatusCode::NOT_FOUND, "no identity provider is configured").into_response();
    };
    let (url, state) = match provider.start(start.resume).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, "a sign-in could not be started");
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
        }
    };
    let bound = set_cookie(
        app.cookie("oidc"),
        state.to_string(),
        SameSite::Lax,
        Some(600),
    );
    (
        AppendHeaders([(header::SET_COOKIE, bound)]),
        Redirect::to(&url),
    )
        .into_response()
}

/// What the provider sends the browser back with.
#[derive(Debug, Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `GET /oidc/callback`: finishes the sign-in the browser started here.
pub async fn oidc_callback(
    State(app): State<App>,
    headers: HeaderMap,
    Query(back): Query<Callback>,
) -> Response {
    let Some(provider) = &app.oidc else {
        return (StatusCode::NOT_FOUND, "no identity provider is configured").into_response();
    };
    let t = lang::of(&headers);
    let refused = |status, problem: &str| login_with(&app, t, status, "", Some(problem), "");
    if !back.error.is_empty() {
        tracing::info!(error = %back.error, "the identity provider refused a sign-in");
        let problem = format!(
            "{} {} {}",
            t.provider_refused, back.error, back.error_description
        );
        return refused(StatusCode::UNAUTHORIZED, problem.trim());
    }
    let bound = cookie(&headers, &app.cookie("oidc")).unwrap_or_default();
    if back.state.is_empty() || !same_token(&bound, &back.state) {
        return refused(StatusCode::FORBIDDEN, t.not_this_browser);
    }
    let done = tokio::time::timeout(
        Duration::from_secs(20),
        provider.finish(&back.state, &back.code),
    )
    .await;
    let cleared = set_cookie(app.cookie("oidc"), String::new(), SameSite::Lax, Some(0));
    let response = match done {
        Ok(Ok((who, resume))) => {
            tracing::info!(role = %who.role, "operator signed in through the identity provider");
            signed_in(&app, t, &who.operator, &who.name, &who.role, &resume, true).await
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a sign-in through the identity provider failed");
            refused(StatusCode::FORBIDDEN, &e.to_string())
        }
        Err(_) => refused(StatusCode::GATEWAY_TIMEOUT, t.provider_slow),
    };
    (AppendHeaders([(header::SET_COOKIE, cleared)]), response).into_response()
}
