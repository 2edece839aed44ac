//! The screens that watch rather than read a record: the access log (who
//! read a person's data, when and why, filtered by operator, call and
//! date, with the gateway's verification of its audit chain: for the
//! data-protection officer, whose role the gateway's policy checks) and the
//! federation (the partners, their health, circuits and calls in flight,
//! refreshed by itself every few seconds).

use std::time::Duration;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trama_proto::v1;

use crate::lang::{self, Texts};
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
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    tax_code: &'a str,
    problem: Option<String>,
    searched: bool,
    entries: Vec<AccessView>,
    form: &'a AccessForm,
    calls: Vec<(&'static str, &'static str, bool)>,
    chain: Option<ChainView>,
}

/// The verification of the audit chain, in words.
pub struct ChainView {
    intact: bool,
    summary: String,
    problems: Vec<String>,
}

/// The calls the log can be filtered by, and their labels.
fn calls(t: &Texts) -> [(&'static str, &'static str); 5] {
    [
        ("", t.all_calls),
        ("FindSubject", t.call_find),
        ("GetRecord", t.call_record),
        ("AccessLog", t.call_access),
        ("Aggregate", t.call_stats),
    ]
}

/// The access-log form: the person, and filters on what is listed.
#[derive(Debug, Default, Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tax_code: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    call: String,
    #[serde(default)]
    since: String,
}

impl AccessForm {
    /// Whether `e` passes the filters.
    fn keeps(&self, e: &v1::AccessEntry) -> bool {
        let operator = self.operator.trim().to_lowercase();
        let by_operator = operator.is_empty()
            || e.operator
                .as_ref()
                .is_some_and(|o| o.id.to_lowercase().contains(&operator));
        let by_call = self.call.is_empty() || e.call == self.call;
        let since = self.since.trim();
        by_operator && by_call && (since.is_empty() || e.time.as_str() >= since)
    }

    /// The date filter, checked: `YYYY-MM-DD` or nothing.
    fn check(&self) -> Result<(), String> {
        let since = self.since.trim();
        let valid = since.is_empty()
            || (since.len() == 10
                && since.char_indices().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        c == '-'
                    } else {
                        c.is_ascii_digit()
                    }
                }));
        if valid {
            Ok(())
        } else {
            Err(format!("since: `{since}` is not a date: write YYYY-MM-DD"))
        }
    }
}

fn access_view<'a>(
    app: &'a App,
    s: &'a Session,
    form: &'a AccessForm,
    t: &'static Texts,
) -> AccessPage<'a> {
    AccessPage {
        t,
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        tax_code: &form.tax_code,
        problem: None,
        searched: false,
        entries: Vec::new(),
        form,
        calls: calls(t)
            .iter()
            .map(|(code, label)| (*code, *label, *code == form.call))
            .collect(),
        chain: None,
    }
}

fn chain_view(c: &v1::ChainCheck, t: &Texts) -> ChainView {
    let sealed = if c.sealed_seq == 0 {
        t.no_seal.to_string()
    } else {
        format!("{} {} ({})", t.sealed_to, c.sealed_seq, c.sealed_time)
    };
    let summary = if c.intact {
        format!(
            "{} ({} {}), {sealed}; {} {}.",
            t.chain_ok, c.entries, t.entries, t.checked_at, c.checked_at
        )
    } else {
        format!(
            "{} ({} {}; {} {})",
            t.chain_broken, c.entries, t.entries, t.checked_at, c.checked_at
        )
    };
    ChainView {
        intact: c.intact,
        summary,
        problems: c.problems.clone(),
    }
}

/// `GET /access`: the form.
pub async fn access_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    page(
        StatusCode::OK,
        &access_view(&app, &s, &AccessForm::default(), t),
    )
}

/// `POST /access`: the accesses to one person's data, newest first.
pub async fn access(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<AccessForm>,
) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if let Some(stale) = stale_form(&s, &form.csrf, t) {
        return stale;
    }
    let form = AccessForm {
        tax_code: form.tax_code.trim().to_uppercase(),
        ..form
    };
    let tax_code = form.tax_code.clone();
    let mut view = access_view(&app, &s, &form, t);
    if let Err(problem) = form.check() {
        view.problem = Some(problem);
        return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    let mut request = tonic::Request::new(v1::AccessLogRequest {
        context: Some(s.context("controllo_accessi", "")),
        subject: Some(v1::SubjectKey {
            tax_code: tax_code.clone(),
            local_ids: Vec::new(),
        }),
        limit: 1000,
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    match client.access_log(request).await {
        Ok(answer) => {
            let answer = answer.into_inner();
            view.searched = true;
            view.chain = answer.chain.as_ref().map(|c| chain_view(c, t));
            view.entries = answer
                .entries
                .iter()
                .filter(|e| form.keeps(e))
                .map(|e| entry(e, t))
                .collect();
            page(StatusCode::OK, &view)
        }
        Err(status) => {
            view.problem = Some(crate::said::refusal(&status, t));
            page(refusal(status.code()), &view)
        }
    }
}

fn entry(e: &v1::AccessEntry, t: &Texts) -> AccessView {
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
        case_id: case_shown(&e.case_id, &e.case_check, t),
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
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a str>,
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
pub async fn sources(State(app): State<App>, headers: HeaderMap) -> Response {
    let t = lang::of(&headers);
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let (status, sources, problem) = ask_sources(&app, t).await;
    let view = SourcesPage {
        t,
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        sources,
        problem,
        checked_at: clock(),
    };
    page(status, &view)
}

/// `GET /sources/table`: the table alone (the page fetches it every few
/// seconds).
pub async fn sources_table(State(app): State<App>, headers: HeaderMap) -> Response {
    let t = lang::of(&headers);
    if app.session(&headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
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
            Some(format!("{} {}", t.federation_down, status.message())),
        ),
    }
}

/// The time now, `HH:MM:SS` UTC.
fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

fn source(s: &v1::SourceInfo, t: &Texts) -> SourceView {
    let health = match v1::SourceHealth::try_from(s.health) {
        Ok(v1::SourceHealth::Serving) => t.serving,
        Ok(v1::SourceHealth::NotServing) => t.not_serving,
        Ok(v1::SourceHealth::Unreachable) => t.unreachable,
        _ => t.unknown,
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

/// A stated case as the access log shows it: its id and whether the
/// organisation's own connector confirmed it.
fn case_shown(case_id: &str, check: &str, t: &Texts) -> String {
    let said = match check {
        "verified" => t.case_verified,
        "unverified" => t.case_unverified,
        "refused" => t.case_refused,
        "failed" => t.case_failed,
        _ => return case_id.to_string(),
    };
    format!("{case_id} ({said})")
}
