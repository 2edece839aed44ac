//! The referral screens: the organisation's inbox and outbox (overdue
//! referrals marked), one referral with its history and the steps its
//! party may take, and the form that sends one (reached from a service
//! found, with the partner and the service filled in). A referral's
//! content is shown only in the form that sends it: the gateway keeps no
//! content once delivered, and the console keeps none at all.

use std::time::Duration;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trama_proto::v1;

use crate::lang::{self, Texts};
use crate::session::Session;
use crate::web::{App, page, refusal, stale_form};

/// The purpose every referral call of the console states.
const PURPOSE: &str = "segnalazione";

/// A referral as a row of a box.
pub struct Row {
    id: String,
    sent: String,
    other: String,
    urgency: String,
    status: String,
    delivery: String,
    due: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "referrals.html")]
struct BoxesPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    boxes: Vec<BoxView>,
    overdue: u32,
    problem: Option<String>,
}

/// The inbox or the outbox, as shown.
pub struct BoxView {
    title: &'static str,
    rows: Vec<Row>,
    inbox: bool,
}

fn row(r: &v1::Referral, inbox: bool, t: &Texts) -> Row {
    use trama_client::render::when;
    Row {
        id: r.id.clone(),
        sent: when(r.created.as_ref()),
        other: if inbox {
            r.sender.clone()
        } else {
            r.target.clone()
        },
        urgency: urgency_words(r.urgency, t).into(),
        status: status_words(r.status, t).into(),
        delivery: delivery_words(r, t),
        due: when(r.due.as_ref()),
        overdue: r.overdue,
    }
}

async fn boxed(
    app: &App,
    s: &Session,
    which: v1::ReferralBox,
) -> Result<v1::ListReferralsResponse, tonic::Status> {
    let mut call = tonic::Request::new(v1::ListReferralsRequest {
        context: Some(s.context(PURPOSE, "")),
        r#box: which as i32,
        page_size: 100,
        ..Default::default()
    });
    call.set_timeout(Duration::from_secs(5));
    app.client
        .clone()
        .list_referrals(call)
        .await
        .map(|r| r.into_inner())
}

/// `GET /referrals`: the inbox and the outbox.
pub async fn boxes(State(app): State<App>, headers: HeaderMap) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let mut view = BoxesPage {
        t,
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        boxes: Vec::new(),
        overdue: 0,
        problem: None,
    };
    let (inbox, outbox) = tokio::join!(
        boxed(&app, &s, v1::ReferralBox::Inbox),
        boxed(&app, &s, v1::ReferralBox::Outbox)
    );
    match (inbox, outbox) {
        (Ok(i), Ok(o)) => {
            view.overdue = i.overdue;
            view.boxes = vec![
                BoxView {
                    title: t.referrals_inbox,
                    rows: i.referrals.iter().map(|r| row(r, true, t)).collect(),
                    inbox: true,
                },
                BoxView {
                    title: t.referrals_outbox,
                    rows: o.referrals.iter().map(|r| row(r, false, t)).collect(),
                    inbox: false,
                },
            ];
            page(StatusCode::OK, &view)
        }
        (Err(e), _) | (_, Err(e)) => {
            view.problem = Some(e.message().to_string());
            page(refusal(e.code()), &view)
        }
    }
}

/// One change the viewer may make: the status and its label.
pub struct Step {
    status: &'static str,
    label: &'static str,
    needs_reason: bool,
}

#[derive(Template)]
#[template(path = "referral.html")]
struct OnePage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    shown: Option<Shown>,
    id: String,
    steps: Vec<Step>,
    problem: Option<String>,
}

/// A referral as an operator reads it.
pub struct Shown {
    sender: String,
    target: String,
    service: String,
    urgency: String,
    status: String,
    status_reason: String,
    overdue: bool,
    delivery: String,
    sent: String,
    by: String,
    due: String,
    history: Vec<EventView>,
}

/// One status change as shown.
pub struct EventView {
    when: String,
    status: String,
    who: String,
    via: String,
    reason: String,
}

/// A status in the operator's words.
pub(crate) fn status_words(status: i32, t: &Texts) -> &'static str {
    use v1::ReferralStatus::*;
    let (it, en) = match v1::ReferralStatus::try_from(status).unwrap_or(Unspecified) {
        Requested => ("in attesa di risposta", "waiting for an answer"),
        Accepted => ("presa in carico", "accepted"),
        Rejected => ("rifiutata", "rejected"),
        InProgress => ("in corso", "in progress"),
        Completed => ("completata", "completed"),
        Failed => ("non riuscita", "failed"),
        Cancelled => ("annullata", "cancelled"),
        Unspecified => ("-", "-"),
    };
    lang::pick(t, it, en)
}

fn delivery_words(r: &v1::Referral, t: &Texts) -> String {
    match v1::Delivery::try_from(r.delivery).unwrap_or(v1::Delivery::Unspecified) {
        v1::Delivery::Delivered => lang::pick(t, "consegnata", "delivered").into(),
        v1::Delivery::Refused => lang::pick(
            t,
            "non accettata dalle regole dell'ente",
            "refused by the partner's rules",
        )
        .into(),
        _ if r.delivery_attempts > 0 => format!(
            "{} ({} {}: {})",
            lang::pick(t, "in consegna", "being delivered"),
            r.delivery_attempts,
            lang::pick(t, "tentativi", "attempts"),
            r.delivery_problem
        ),
        _ => lang::pick(t, "in consegna", "being delivered").into(),
    }
}

fn shown(r: &v1::Referral, t: &Texts) -> Shown {
    use trama_client::render::when;
    Shown {
        sender: r.sender.clone(),
        target: r.target.clone(),
        service: r.target_service.clone(),
        urgency: urgency_words(r.urgency, t).into(),
        status: status_words(r.status, t).into(),
        status_reason: r.status_reason.clone(),
        overdue: r.overdue,
        delivery: delivery_words(r, t),
        sent: when(r.created.as_ref()),
        by: r.sender_operator.clone(),
        due: when(r.due.as_ref()),
        history: r
            .history
            .iter()
            .map(|e| EventView {
                when: when(e.at.as_ref()),
                status: status_words(e.status, t).into(),
                who: format!("{} {}", e.organisation, e.operator_id)
                    .trim()
                    .to_string(),
                via: if e.via == "partner-system" {
                    lang::pick(
                        t,
                        "dal gestionale dell'ente",
                        "from the partner's own software",
                    )
                    .into()
                } else {
                    "Trama".into()
                },
                reason: e.reason.clone(),
            })
            .collect(),
    }
}

fn urgency_words(urgency: i32, t: &Texts) -> &'static str {
    let (it, en) = match v1::Urgency::try_from(urgency).unwrap_or(v1::Urgency::Routine) {
        v1::Urgency::Urgent => ("urgente", "urgent"),
        v1::Urgency::Asap => ("appena possibile", "as soon as possible"),
        v1::Urgency::Stat => ("immediata", "immediate"),
        _ => ("ordinaria", "routine"),
    };
    lang::pick(t, it, en)
}

/// The steps `organisation` may take on `r`.
fn steps(r: &v1::Referral, organisation: &str, t: &Texts) -> Vec<Step> {
    use v1::ReferralStatus::*;
    let status = v1::ReferralStatus::try_from(r.status).unwrap_or(Unspecified);
    let step = |status, it, en, needs_reason| Step {
        status,
        label: lang::pick(t, it, en),
        needs_reason,
    };
    let mut out = Vec::new();
    if r.target == organisation {
        match status {
            Requested => {
                out.push(step("accepted", "Prendi in carico", "Accept", false));
                out.push(step("rejected", "Rifiuta", "Reject", true));
            }
            Accepted => {
                out.push(step("in_progress", "Avvia", "Start", false));
                out.push(step("completed", "Chiudi: completata", "Complete", false));
                out.push(step("failed", "Chiudi: non riuscita", "Fail", true));
            }
            InProgress => {
                out.push(step("completed", "Chiudi: completata", "Complete", false));
                out.push(step("failed", "Chiudi: non riuscita", "Fail", true));
            }
            _ => {}
        }
    }
    if r.sender == organisation && matches!(status, Requested | Accepted | InProgress) {
        out.push(step(
            "cancelled",
            "Ritira la segnalazione",
            "Withdraw the referral",
            true,
        ));
    }
    out
}

async fn one(app: &App, s: &Session, id: &str) -> Result<v1::Referral, tonic::Status> {
    let mut call = tonic::Request::new(v1::GetReferralRequest {
        context: Some(s.context(PURPOSE, "")),
        id: id.to_string(),
    });
    call.set_timeout(Duration::from_secs(5));
    let r = app.client.clone().get_referral(call).await?;
    Ok(r.into_inner().referral.unwrap_or_default())
}

fn one_page<'a>(
    app: &'a App,
    s: &'a Session,
    t: &'static Texts,
    r: Option<&v1::Referral>,
    id: &str,
    problem: Option<String>,
) -> OnePage<'a> {
    OnePage {
        t,
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        shown: r.map(|r| shown(r, t)),
        id: id.to_string(),
        steps: r
            .map(|r| steps(r, &app.organisation, t))
            .unwrap_or_default(),
        problem,
    }
}

/// `GET /referrals/{id}`: one referral, its history and the steps open.
pub async fn show(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    match one(&app, &s, &id).await {
        Ok(r) => page(StatusCode::OK, &one_page(&app, &s, t, Some(&r), &id, None)),
        Err(e) => {
            let view = one_page(&app, &s, t, None, &id, Some(e.message().to_string()));
            let code = if e.code() == tonic::Code::NotFound {
                StatusCode::NOT_FOUND
            } else {
                refusal(e.code())
            };
            page(code, &view)
        }
    }
}

/// A status change as sent by the form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChangeForm {
    csrf: String,
    status: String,
    #[serde(default)]
    reason: String,
}

/// `POST /referrals/{id}`: a status change.
pub async fn change(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if let Some(stale) = stale_form(&s, &form.csrf, t) {
        return stale;
    }
    let Some(status) = trama_proto::referrals::parse(&form.status) else {
        let view = one_page(
            &app,
            &s,
            t,
            None,
            &id,
            Some(format!("status: `{}` is not a step", form.status)),
        );
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    };
    let mut call = tonic::Request::new(v1::UpdateReferralRequest {
        context: Some(s.context(PURPOSE, "")),
        id: id.clone(),
        status: status as i32,
        reason: form.reason.trim().to_string(),
    });
    call.set_timeout(Duration::from_secs(5));
    match app.client.clone().update_referral(call).await {
        Ok(_) => Redirect::to(&format!("/referrals/{id}")).into_response(),
        Err(e) => {
            let now = one(&app, &s, &id).await.ok();
            let view = one_page(
                &app,
                &s,
                t,
                now.as_ref(),
                &id,
                Some(e.message().to_string()),
            );
            page(refusal(e.code()), &view)
        }
    }
}

/// The referral form, as filled in (and the links that open it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReferForm {
    csrf: String,
    key: String,
    to: String,
    service: String,
    tax_code: String,
    family_name: String,
    given_name: String,
    birth_date: String,
    reason: String,
    urgency: String,
    message: String,
    case_id: String,
}

#[derive(Template)]
#[template(path = "refer.html")]
struct ReferPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    form: &'a ReferForm,
    key: String,
    needs: Vec<(&'static str, bool)>,
    urgencies: Vec<(&'static str, bool)>,
    problem: Option<String>,
}

fn refer_page<'a>(
    app: &'a App,
    s: &'a Session,
    t: &'static Texts,
    form: &'a ReferForm,
    problem: Option<String>,
) -> ReferPage<'a> {
    // A key per form shown: sending the same form twice sends one referral.
    let key = if form.key.is_empty() {
        app.sessions.token().unwrap_or_default()
    } else {
        form.key.clone()
    };
    ReferPage {
        t,
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        form,
        key,
        needs: trama_proto::stats::NEEDS
            .iter()
            .map(|n| (*n, *n == form.reason))
            .collect(),
        urgencies: ["routine", "urgent", "asap", "stat"]
            .into_iter()
            .map(|u| {
                (
                    u,
                    u == form.urgency || (form.urgency.is_empty() && u == "routine"),
                )
            })
            .collect(),
        problem,
    }
}

/// `GET /refer?to=&service=`: the form, filled in from a service found.
pub async fn refer_form(
    State(app): State<App>,
    headers: HeaderMap,
    Query(form): Query<ReferForm>,
) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    page(StatusCode::OK, &refer_page(&app, &s, t, &form, None))
}

/// The form as a `SendReferralRequest`; a problem names the field.
fn request(s: &Session, f: &ReferForm) -> Result<v1::SendReferralRequest, String> {
    let birth_date = crate::web::parse_date(&f.birth_date)
        .map_err(|problem| format!("birth_date: {problem}"))?;
    let urgency = v1::Urgency::from_str_name(&format!(
        "URGENCY_{}",
        f.urgency.trim().to_ascii_uppercase()
    ))
    .unwrap_or(v1::Urgency::Routine);
    Ok(v1::SendReferralRequest {
        context: Some(s.context(PURPOSE, f.case_id.trim())),
        idempotency_key: f.key.clone(),
        target: f.to.trim().to_string(),
        target_service: f.service.trim().to_string(),
        content: Some(v1::ReferralContent {
            person: Some(v1::ReferredPerson {
                tax_code: f.tax_code.trim().to_uppercase(),
                given_name: f.given_name.trim().to_string(),
                family_name: f.family_name.trim().to_string(),
                birth_date,
                birthplace_code: String::new(),
            }),
            reasons: f
                .reason
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect(),
            message: f.message.clone(),
        }),
        urgency: urgency as i32,
    })
}

/// `POST /refer`: sends the referral; the page of the referral stored.
pub async fn send(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<ReferForm>,
) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if let Some(stale) = stale_form(&s, &form.csrf, t) {
        return stale;
    }
    let request = match request(&s, &form) {
        Ok(r) => r,
        Err(problem) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &refer_page(&app, &s, t, &form, Some(problem)),
            );
        }
    };
    let mut call = tonic::Request::new(request);
    call.set_timeout(Duration::from_secs(5));
    match app.client.clone().send_referral(call).await {
        Ok(answer) => {
            let id = answer
                .into_inner()
                .referral
                .map(|r| r.id)
                .unwrap_or_default();
            Redirect::to(&format!("/referrals/{id}")).into_response()
        }
        Err(e) => page(
            refusal(e.code()),
            &refer_page(&app, &s, t, &form, Some(e.message().to_string())),
        ),
    }
}
