//! Finding a person across the federation: the search form, the groups
//! of candidates the gateway found with what matched, and each partner's
//! outcome. An operator whose session expired while searching signs in
//! again and finds the search as they left it.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trama_proto::v1;

use crate::app::{App, page, refusal};
use crate::lang::{self, Texts};
use crate::operator::{Operator, PurposeOption, Refused, purposes};
use crate::said::outcome_line;
use crate::session::{self, Session};

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
pub(crate) async fn home(who: Operator) -> Redirect {
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

pub(crate) async fn find_page(who: Operator, State(app): State<App>) -> Response {
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

pub(crate) async fn find(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<FindForm>,
) -> Response {
    let who = match Operator::of(&app, &headers).await {
        Ok(who) => who,
        Err(Refused::SignIn { .. }) => {
            // The session expired while the operator searched: sign in
            // again, with the search kept in the page (not on the server).
            let t = lang::of(&headers);
            let resume = serde_urlencoded::to_string(&form).unwrap_or_default();
            return crate::login::login_with(
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
