//! The sign-in page: the identity provider's button, the local accounts
//! form, or both, with a fresh form token bound to the browser by a
//! cookie, and a search to give back once signed in. Both the sign-in
//! flow ([`crate::signin`]) and a search whose session expired
//! ([`crate::find`]) show it.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};

use crate::app::{App, page};
use crate::lang::Texts;
use crate::session::{SameSite, set_cookie};

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    username: &'a str,
    problem: Option<&'a str>,
    /// The identity provider's button label, if there is one.
    provider: Option<&'a str>,
    /// Whether local accounts can sign in.
    local: bool,
    /// A search to give back after signing in (URL-encoded).
    resume: &'a str,
}

/// The sign-in page with a fresh form token (and its cookie), `status`,
/// carrying `resume` and showing `problem`.
pub(crate) fn login_with(
    app: &App,
    t: &'static Texts,
    status: StatusCode,
    username: &str,
    problem: Option<&str>,
    resume: &str,
) -> Response {
    let Some(token) = app.sessions.token() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "sign-in is not available").into_response();
    };
    let view = LoginPage {
        t,
        organisation: &app.organisation,
        operator: None,
        csrf: &token,
        username,
        problem,
        provider: app.oidc.as_ref().map(crate::oidc::Provider::label),
        local: !app.accounts.is_empty(),
        resume,
    };
    let bound = set_cookie(
        app.cookie("login"),
        token.clone(),
        SameSite::Strict,
        Some(3600),
    );
    (
        AppendHeaders([(header::SET_COOKIE, bound)]),
        page(status, &view),
    )
        .into_response()
}
