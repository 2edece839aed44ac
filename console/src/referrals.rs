//! The referral screens: the organisation's inbox and outbox (overdue
//! referrals marked), one referral with its history and the steps its
//! party may take, and the form that sends one (reached from a service
//! found, with the partner and the service filled in). A referral's
//! content is shown only in the form that sends it: the gateway keeps no
//! content once delivered, and the console keeps none at all.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trama_proto::v1;

use crate::app::{App, page, refusal};
use crate::lang::{self, Texts};
use crate::operator::{Operator, Posted};
use crate::session::Session;

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
    operator: Option<&'a crate::operator::Operator>,
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

/// A referral's time, in Europe/Rome.
fn when(at: Option<&prost_types::Timestamp>) -> String {
    crate::when::stamp(at.map(|t| t.seconds))
}

fn row(r: &v1::Referral, inbox: bool, t: &Texts) -> Row {
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
pub async fn boxes(who: Operator, State(app): State<App>) -> Response {
    let (t, s) = (who.t, &who.session);
    let mut view = BoxesPage {
        t,
        organisation: &app.organisation,
        operator: Some(&who),
        csrf: who.csrf(),
        boxes: Vec::new(),
        overdue: 0,
        problem: None,
    };
    let (inbox, outbox) = tokio::join!(
        boxed(&app, s, v1::ReferralBox::Inbox),
        boxed(&app, s, v1::ReferralBox::Outbox)
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
            view.problem = Some(crate::said::refusal(&e, t));
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
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    shown: Option<Shown>,
    /// The referral was just sent: to whom, in words.
    confirmed: Option<String>,
    id: String,
    steps: Vec<Step>,
    problem: Option<String>,
}

/// A referral as an operator reads it.
pub struct Shown {
    sender: String,
    target: String,
    service: String,
    /// The sender's own case number.
    case_id: String,
    /// Whom it is about, for the target (read from its own table).
    person: String,
    /// Why, in words.
    reasons: String,
    /// The sender's message.
    message: String,
    purpose: String,
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

fn shown(r: &v1::Referral, service: Option<String>, t: &Texts) -> Shown {
    Shown {
        sender: r.sender.clone(),
        target: r.target.clone(),
        service: service.unwrap_or_else(|| r.target_service.clone()),
        case_id: r.case_id.clone(),
        person: r.content.as_ref().map(person_line).unwrap_or_default(),
        reasons: r
            .content
            .as_ref()
            .map(|c| {
                c.reasons
                    .iter()
                    .map(|code| crate::words::code(code, "", t))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        message: r
            .content
            .as_ref()
            .map(|c| c.message.clone())
            .unwrap_or_default(),
        purpose: crate::words::purpose(&r.purpose, t),
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
                via: match e.via.as_str() {
                    "partner-system" => lang::pick(
                        t,
                        "dal gestionale dell'ente",
                        "from the partner's own software",
                    )
                    .into(),
                    "inferred" => lang::pick(
                        t,
                        "dedotto dal gestionale dell'ente (passaggio non letto)",
                        "inferred from the partner's software (a step not read)",
                    )
                    .into(),
                    _ => "Trama".into(),
                },
                reason: e.reason.clone(),
            })
            .collect(),
    }
}

/// An urgency named as the form sends it (`routine`, `urgent`…), in
/// words.
pub fn urgency_named(code: &str, t: &Texts) -> &'static str {
    let urgency = v1::Urgency::from_str_name(&format!("URGENCY_{}", code.to_ascii_uppercase()))
        .unwrap_or(v1::Urgency::Routine);
    urgency_words(urgency as i32, t)
}

/// The person a referral is about: name, birth date, tax code, as the
/// target's table holds them.
fn person_line(c: &v1::ReferralContent) -> String {
    let Some(p) = &c.person else {
        return String::new();
    };
    let mut parts = vec![
        format!("{} {}", p.family_name, p.given_name)
            .trim()
            .to_string(),
    ];
    if let Some(born) = &p.birth_date {
        parts.push(crate::when::date(born));
    }
    if !p.tax_code.is_empty() {
        parts.push(p.tax_code.clone());
    }
    parts.retain(|x| !x.is_empty());
    parts.join(", ")
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

/// The name of the service `id` of the federation's offer, if it is
/// offered now.
async fn service_name(app: &App, id: &str) -> Option<String> {
    if id.is_empty() {
        return None;
    }
    let mut call = tonic::Request::new(v1::SearchServicesRequest {
        ids: vec![id.to_string()],
        page_size: 1,
        ..Default::default()
    });
    call.set_timeout(Duration::from_secs(5));
    let found = app.client.clone().search_services(call).await.ok()?;
    found
        .into_inner()
        .services
        .into_iter()
        .next()
        .map(|s| s.name)
}

/// The page of one referral (`r`, if it could be read), its service
/// named.
async fn one_page<'a>(
    app: &'a App,
    who: &'a Operator,
    r: Option<&v1::Referral>,
    id: &str,
    problem: Option<String>,
) -> OnePage<'a> {
    let service = match r {
        Some(r) => service_name(app, &r.target_service).await,
        None => None,
    };
    let t = who.t;
    OnePage {
        t,
        organisation: &app.organisation,
        operator: Some(who),
        csrf: who.csrf(),
        confirmed: None,
        shown: r.map(|r| shown(r, service, t)),
        id: id.to_string(),
        steps: r
            .map(|r| steps(r, &app.organisation, t))
            .unwrap_or_default(),
        problem,
    }
}

/// What the page of one referral may be told: that it was just sent.
#[derive(Debug, Default, Deserialize)]
pub struct JustDone {
    #[serde(default)]
    sent: String,
}

/// `GET /referrals/{id}`: one referral, its history and the steps open;
/// `?sent=1` right after sending it, which the page confirms.
pub async fn show(
    who: Operator,
    State(app): State<App>,
    Path(id): Path<String>,
    Query(just): Query<JustDone>,
) -> Response {
    let t = who.t;
    match one(&app, &who.session, &id).await {
        Ok(r) => {
            let mut view = one_page(&app, &who, Some(&r), &id, None).await;
            if just.sent == "1" {
                view.confirmed = Some(format!("{} {}.", t.referral_confirmed, r.target));
            }
            page(StatusCode::OK, &view)
        }
        Err(e) => {
            let view = one_page(&app, &who, None, &id, Some(crate::said::refusal(&e, t))).await;
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
    Path(id): Path<String>,
    posted: Posted<ChangeForm>,
) -> Response {
    let Posted { who, form } = posted;
    let (t, s) = (who.t, &who.session);
    let Some(status) = trama_proto::referrals::parse(&form.status) else {
        let view = one_page(&app, &who, None, &id, Some(t.not_a_step.to_string())).await;
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
            let now = one(&app, s, &id).await.ok();
            let problem = crate::said::refusal(&e, t);
            let view = one_page(&app, &who, now.as_ref(), &id, Some(problem)).await;
            page(refusal(e.code()), &view)
        }
    }
}

crate::operator::token_bearing!(ChangeForm, ReferForm);

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
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    form: &'a ReferForm,
    key: String,
    needs: Vec<(&'static str, bool)>,
    urgencies: Vec<(&'static str, bool)>,
    problem: Option<String>,
}

fn refer_page<'a>(
    app: &'a App,
    who: &'a Operator,
    form: &'a ReferForm,
    problem: Option<String>,
) -> ReferPage<'a> {
    let t = who.t;
    // A key per form shown: sending the same form twice sends one referral.
    let key = if form.key.is_empty() {
        app.sessions.token().unwrap_or_default()
    } else {
        form.key.clone()
    };
    ReferPage {
        t,
        organisation: &app.organisation,
        operator: Some(who),
        csrf: who.csrf(),
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
    who: Operator,
    State(app): State<App>,
    Query(form): Query<ReferForm>,
) -> Response {
    if let Some(refused) = who.refused_unless(&app, who.screens.refer) {
        return refused;
    }
    page(StatusCode::OK, &refer_page(&app, &who, &form, None))
}

/// The form as a `SendReferralRequest`; a problem names the field.
fn request(s: &Session, f: &ReferForm, t: &Texts) -> Result<v1::SendReferralRequest, String> {
    let birth_date = crate::find::parse_date(&f.birth_date)
        .map_err(|_| format!("{}: {}", t.birth_date, t.not_a_date))?;
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

/// `POST /refer`: sends the referral; on to the referral stored, which
/// confirms it was sent.
pub async fn send(State(app): State<App>, posted: Posted<ReferForm>) -> Response {
    let Posted { who, form } = posted;
    let t = who.t;
    let request = match request(&who.session, &form, t) {
        Ok(r) => r,
        Err(problem) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &refer_page(&app, &who, &form, Some(problem)),
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
            Redirect::to(&format!("/referrals/{id}?sent=1")).into_response()
        }
        Err(e) => {
            let problem = crate::said::refusal(&e, t);
            page(
                refusal(e.code()),
                &refer_page(&app, &who, &form, Some(problem)),
            )
        }
    }
}
