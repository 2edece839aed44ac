//! The signed-in operator every page handler receives, and the one error
//! type a handler's prologue can fail with. [`Operator`] reads the session
//! cookie, the operator's language and what the federation's policy lets
//! their role do (which purposes, which screens); [`Posted`] adds a form
//! whose CSRF token must be the session's. A handler that fails either
//! answers with [`Refused`]: sign in again, a form that expired, or a
//! screen the role cannot use, each said in the operator's language.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use trama_proto::v1;

use crate::app::App;
use crate::lang::{self, Texts};
use crate::session::{self, Session};
use crate::words::PURPOSES;

pub use crate::permissions::{Permissions, Screens};

/// A signed-in operator, with their language.
#[derive(Clone)]
pub struct Operator {
    /// The session's id (the cookie's value).
    pub id: String,
    /// Who they are.
    pub session: Arc<Session>,
    /// Their language.
    pub t: &'static Texts,
    /// What their role may do.
    pub may: Arc<Permissions>,
    /// The screens of the menu.
    pub screens: Screens,
}

impl Operator {
    /// The operator's name, as the header shows it.
    pub fn name(&self) -> &str {
        &self.session.name
    }

    /// The session's CSRF token, for the page's forms.
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

/// Why a handler's prologue refused the request.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No live session: sign in (a page), or `401` (a part of a page).
    #[error("not signed in")]
    SignIn {
        /// Whether the request was for a part of a page (htmx).
        part: bool,
    },
    /// The form's CSRF token is not the session's.
    #[error("the form expired")]
    StaleForm(&'static Texts),
    /// The request's body could not be read.
    #[error("the form could not be read")]
    Unreadable(&'static Texts),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn { part: true } => StatusCode::UNAUTHORIZED.into_response(),
            Refused::SignIn { part: false } => Redirect::to("/login").into_response(),
            Refused::StaleForm(t) => (StatusCode::FORBIDDEN, t.form_expired).into_response(),
            Refused::Unreadable(t) => (StatusCode::BAD_REQUEST, t.form_unreadable).into_response(),
        }
    }
}

impl FromRequestParts<App> for Operator {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Operator, Refused> {
        Operator::of(app, &parts.headers).await
    }
}

impl Operator {
    /// The operator the request's session cookie names.
    pub async fn of(app: &App, headers: &HeaderMap) -> Result<Operator, Refused> {
        let t = lang::of(headers);
        let part = headers.contains_key("hx-request");
        let (id, session) = app.session(headers).await.ok_or(Refused::SignIn { part })?;
        Ok(Operator::signed_in(app, id, session, t).await)
    }

    /// The operator of session `id`.
    pub async fn signed_in(
        app: &App,
        id: String,
        session: Arc<Session>,
        t: &'static Texts,
    ) -> Operator {
        let may = app.permissions(&session).await;
        let screens = may.screens();
        Operator {
            id,
            session,
            t,
            may,
            screens,
        }
    }

    /// `None` when the role can use a screen, else the page that says how
    /// to get access.
    pub fn refused_unless(&self, app: &App, screen: bool) -> Option<Response> {
        if screen {
            return None;
        }
        let notice = Notice {
            t: self.t,
            organisation: &app.organisation,
            operator: Some(self),
            csrf: self.csrf(),
            title: self.t.not_for_role_title,
            text: self.t.not_for_role,
        };
        Some(crate::app::page(StatusCode::FORBIDDEN, &notice))
    }
}

/// A page that only says something (a screen the role cannot use).
#[derive(askama::Template)]
#[template(path = "notice.html")]
struct Notice<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a Operator>,
    csrf: &'a str,
    title: &'static str,
    text: &'static str,
}

/// A form the browser sent, with its CSRF token.
pub trait TokenBearing: Sized {
    /// Reads the form from the request's body.
    fn read(body: &[u8]) -> Option<Self>;
    /// The CSRF token it carries.
    fn token(&self) -> &str;
}

/// A signed-in operator's form, its CSRF token checked.
pub struct Posted<F> {
    /// Who sent it.
    pub who: Operator,
    /// What they sent.
    pub form: F,
}

impl<F: TokenBearing + Send> FromRequest<App> for Posted<F> {
    type Rejection = Refused;

    async fn from_request(request: Request, app: &App) -> Result<Posted<F>, Refused> {
        let (mut parts, body) = request.into_parts();
        let who = Operator::from_request_parts(&mut parts, app).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| Refused::Unreadable(who.t))?;
        let form = F::read(&bytes).ok_or(Refused::Unreadable(who.t))?;
        if !session::same_token(&who.session.csrf, form.token()) {
            return Err(Refused::StaleForm(who.t));
        }
        Ok(Posted { who, form })
    }
}

/// The largest form body read (a referral's message is the longest field).
const MAX_FORM: usize = 64 * 1024;

/// Asks the gateway what `s`'s role may do with each purpose the console
/// knows.
pub(crate) async fn ask_permissions(app: &App, s: &Session) -> Option<Permissions> {
    let mut request = tonic::Request::new(v1::ListSourcesRequest {
        context: Some(s.context("orientamento", "")),
        purposes: PURPOSES.iter().map(|(p, _, _)| (*p).to_string()).collect(),
    });
    request.set_timeout(Duration::from_secs(5));
    let answer = app.client.clone().list_sources(request).await;
    match answer {
        Ok(answer) => Some(Permissions {
            known: true,
            purposes: answer
                .into_inner()
                .purposes
                .into_iter()
                .filter(|p| !p.actions.is_empty())
                .collect(),
        }),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "what the role may do is not known");
            None
        }
    }
}

impl App {
    /// What `s`'s role may do: asked of the gateway once per role every
    /// few minutes; not kept when the gateway cannot say.
    pub(crate) async fn permissions(&self, s: &Session) -> Arc<Permissions> {
        if let Some(known) = self.roles.get(&s.role) {
            return known;
        }
        match ask_permissions(self, s).await {
            Some(p) => {
                let p = Arc::new(p);
                self.roles.insert(s.role.clone(), p.clone());
                p
            }
            None => Arc::new(Permissions::default()),
        }
    }
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
