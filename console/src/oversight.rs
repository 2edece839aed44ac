//! The screens that watch rather than read a record: the access log (who
//! read a person's data, when and why: for the data-protection officer,
//! whose role the gateway's policy checks) and the federation (the
//! partners, their health, circuits and calls in flight).

use std::time::Duration;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trama_proto::v1;

use crate::session::Session;
use crate::web::{App, page, refusal, stale_form};

/// One access as shown.
pub struct AccessView {
    seq: u64,
    time: String,
    call: String,
    organisation: String,
    operator: String,
    purpose: String,
    case_id: String,
    sections: String,
    decision: String,
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage<'a> {
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    tax_code: &'a str,
    problem: Option<String>,
    searched: bool,
    entries: Vec<AccessView>,
}

/// The access-log form.
#[derive(Debug, Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tax_code: String,
}

fn access_view<'a>(app: &'a App, s: &'a Session, tax_code: &'a str) -> AccessPage<'a> {
    AccessPage {
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        tax_code,
        problem: None,
        searched: false,
        entries: Vec::new(),
    }
}

/// `GET /access`: the form.
pub async fn access_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    page(StatusCode::OK, &access_view(&app, &s, ""))
}

/// `POST /access`: the accesses to one person's data, newest first.
pub async fn access(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<AccessForm>,
) -> Response {
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if let Some(stale) = stale_form(&s, &form.csrf) {
        return stale;
    }
    let tax_code = form.tax_code.trim().to_uppercase();
    let mut view = access_view(&app, &s, &tax_code);
    let mut request = tonic::Request::new(v1::AccessLogRequest {
        context: Some(s.context("controllo_accessi", "")),
        subject: Some(v1::SubjectKey {
            tax_code: tax_code.clone(),
            local_ids: Vec::new(),
        }),
        limit: 200,
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    match client.access_log(request).await {
        Ok(answer) => {
            view.searched = true;
            view.entries = answer.into_inner().entries.iter().map(entry).collect();
            page(StatusCode::OK, &view)
        }
        Err(status) => {
            view.problem = Some(status.message().to_string());
            page(refusal(status.code()), &view)
        }
    }
}

fn entry(e: &v1::AccessEntry) -> AccessView {
    let operator = e
        .operator
        .as_ref()
        .map(|o| format!("{} ({})", o.id, o.role))
        .unwrap_or_default();
    let sections: Vec<&str> = e
        .sections_returned
        .iter()
        .filter_map(|s| v1::Section::try_from(*s).ok())
        .map(trama_proto::sections::name)
        .collect();
    let decision = if e.reason.is_empty() {
        e.decision.clone()
    } else {
        format!("{}: {}", e.decision, e.reason)
    };
    AccessView {
        seq: e.seq,
        time: e.time.clone(),
        call: e.call.clone(),
        organisation: e.organisation.clone(),
        operator,
        purpose: e.purpose.clone(),
        case_id: e.case_id.clone(),
        sections: sections.join(", "),
        decision,
    }
}

/// One partner as shown.
pub struct SourceView {
    organisation: String,
    system: String,
    health: &'static str,
    circuit: String,
    in_flight: String,
    sections: String,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage<'a> {
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    sources: Vec<SourceView>,
    problem: Option<String>,
}

/// `GET /sources`: the federation's partners as the gateway sees them now.
pub async fn sources(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let mut view = SourcesPage {
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        sources: Vec::new(),
        problem: None,
    };
    let mut request = tonic::Request::new(v1::ListSourcesRequest {});
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    match client.list_sources(request).await {
        Ok(answer) => {
            view.sources = answer.into_inner().sources.iter().map(source).collect();
            page(StatusCode::OK, &view)
        }
        Err(status) => {
            view.problem = Some(format!(
                "La federazione non risponde ora: {}",
                status.message()
            ));
            page(StatusCode::BAD_GATEWAY, &view)
        }
    }
}

fn source(s: &v1::SourceInfo) -> SourceView {
    let health = match v1::SourceHealth::try_from(s.health) {
        Ok(v1::SourceHealth::Serving) => "in servizio",
        Ok(v1::SourceHealth::NotServing) => "non in servizio",
        Ok(v1::SourceHealth::Unreachable) => "non raggiungibile",
        _ => "sconosciuto",
    };
    let sections: Vec<&str> = s
        .sections
        .iter()
        .filter_map(|x| v1::Section::try_from(*x).ok())
        .map(trama_proto::sections::name)
        .collect();
    SourceView {
        organisation: s.organisation.clone(),
        system: s.system.clone(),
        health,
        circuit: s.circuit.clone(),
        in_flight: format!("{}/{}", s.in_flight, s.max_in_flight),
        sections: sections.join(", "),
    }
}
