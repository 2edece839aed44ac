//! The federation screen: the partners, their health, circuits and calls
//! in flight, refreshed by itself every few seconds (the access log, the
//! other screen that watches rather than reads a record, is
//! [`crate::access`]).

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use trama_proto::v1;

use crate::app::{App, page};
use crate::lang::Texts;
use crate::operator::Operator;

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
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    sources: Vec<SourceView>,
    problem: Option<String>,
    checked_at: String,
}

/// The table alone, for the page's refresh.
#[derive(Template)]
#[template(path = "sources_table.html")]
struct SourcesTable {
    t: &'static Texts,
    sources: Vec<SourceView>,
    problem: Option<String>,
    checked_at: String,
}

/// `GET /sources`: the federation's partners as the gateway sees them now.
pub async fn sources(who: Operator, State(app): State<App>) -> Response {
    let t = who.t;
    let (status, sources, problem) = ask_sources(&app, t).await;
    let view = SourcesPage {
        t,
        organisation: &app.organisation,
        operator: Some(&who),
        csrf: who.csrf(),
        sources,
        problem,
        checked_at: clock(),
    };
    page(status, &view)
}

/// `GET /sources/table`: the table alone (the page fetches it every few
/// seconds).
pub async fn sources_table(who: Operator, State(app): State<App>) -> Response {
    let t = who.t;
    let (status, sources, problem) = ask_sources(&app, t).await;
    page(
        status,
        &SourcesTable {
            t,
            sources,
            problem,
            checked_at: clock(),
        },
    )
}

/// `ListSources`, as the screen shows it.
async fn ask_sources(app: &App, t: &Texts) -> (StatusCode, Vec<SourceView>, Option<String>) {
    let mut request = tonic::Request::new(v1::ListSourcesRequest::default());
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    match client.list_sources(request).await {
        Ok(answer) => (
            StatusCode::OK,
            answer
                .into_inner()
                .sources
                .iter()
                .map(|s| source(s, t))
                .collect(),
            None,
        ),
        Err(status) => (
            StatusCode::BAD_GATEWAY,
            Vec::new(),
            Some(format!(
                "{} {}",
                t.federation_down,
                crate::said::refusal(&status, t)
            )),
        ),
    }
}

/// The time now, `HH:MM:SS` UTC.
fn clock() -> String {
    crate::when::clock()
}

fn source(s: &v1::SourceInfo, t: &Texts) -> SourceView {
    let health = match v1::SourceHealth::try_from(s.health) {
        Ok(v1::SourceHealth::Serving) => t.serving,
        Ok(v1::SourceHealth::NotServing) => t.not_serving,
        Ok(v1::SourceHealth::Unreachable) => t.unreachable,
        _ => t.unknown,
    };
    let sections: Vec<String> = s
        .sections
        .iter()
        .filter_map(|x| v1::Section::try_from(*x).ok())
        .map(|x| {
            let name = trama_proto::sections::name(x);
            crate::record::section_label(name, t).map_or_else(|| name.to_string(), str::to_string)
        })
        .collect();
    SourceView {
        organisation: s.organisation.clone(),
        system: s.system.clone(),
        health,
        circuit: match s.circuit.as_str() {
            "closed" => t.circuit_closed.to_string(),
            "open" => t.circuit_open.to_string(),
            "half_open" => t.circuit_half_open.to_string(),
            other => other.to_string(),
        },
        in_flight: format!("{}/{}", s.in_flight, s.max_in_flight),
        sections: sections.join(", "),
    }
}
