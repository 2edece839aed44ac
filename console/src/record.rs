//! The record screen: the operator states the purpose (and the case id
//! where the purpose needs one) and the sections they need, then reads the
//! person's record merged across partners: each entry with its source,
//! system, record id and date, disagreements between partners shown, each
//! partner's outcome, and a partial answer marked as such.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use trama_proto::v1;

use crate::session::Session;
use crate::web::{App, PURPOSES, PurposeOption, outcome_line, page, purposes, refusal, stale_form};

/// The sections, as the form offers them: (name, label).
const SECTIONS: [(&str, &str); 10] = [
    ("housing", "Abitazione"),
    ("socio_economic", "Situazione socio-economica"),
    ("support_network", "Rete di sostegno"),
    ("needs", "Bisogni"),
    ("interventions", "Interventi"),
    ("case_membership", "Presa in carico"),
    ("referrals", "Segnalazioni"),
    ("health", "Salute"),
    ("court_relations", "Rapporti con l'autorità giudiziaria"),
    ("judicial_acts", "Atti giudiziari"),
];

/// The record form, as submitted.
#[derive(Debug, Default)]
pub struct RecordForm {
    csrf: String,
    tax_code: String,
    purpose: String,
    case_id: String,
    sections: Vec<String>,
}

impl RecordForm {
    /// Reads the form's body (`sections` repeats).
    fn parse(body: &[u8]) -> RecordForm {
        let mut form = RecordForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "csrf" => form.csrf = v,
                "tax_code" => form.tax_code = v.trim().to_uppercase(),
                "purpose" => form.purpose = v,
                "case_id" => form.case_id = v.trim().to_string(),
                "sections" => form.sections.push(v),
                _ => {}
            }
        }
        form
    }
}

/// A section in the form.
pub struct SectionOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

/// A section of the record as shown.
pub struct Block {
    title: String,
    entries: Vec<EntryView>,
}

/// An entry with its provenance.
pub struct EntryView {
    source: String,
    system: String,
    record_id: String,
    updated: String,
    details: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage<'a> {
    organisation: &'a str,
    operator: Option<&'a str>,
    csrf: &'a str,
    form: &'a RecordForm,
    purposes: Vec<PurposeOption>,
    sections: Vec<SectionOption>,
    problem: Option<String>,
    read: bool,
    blocks: Vec<Block>,
    conflicts: Vec<String>,
    outcomes: Vec<String>,
    partial: bool,
}

fn view<'a>(app: &'a App, s: &'a Session, form: &'a RecordForm) -> RecordPage<'a> {
    RecordPage {
        organisation: &app.organisation,
        operator: Some(&s.name),
        csrf: &s.csrf,
        form,
        purposes: purposes(&form.purpose),
        sections: SECTIONS
            .iter()
            .map(|(code, label)| SectionOption {
                code,
                label,
                selected: form.sections.iter().any(|s| s == code),
            })
            .collect(),
        problem: None,
        read: false,
        blocks: Vec::new(),
        conflicts: Vec::new(),
        outcomes: Vec::new(),
        partial: false,
    }
}

/// Whose record the page is for.
#[derive(Debug, Deserialize)]
pub struct Whose {
    #[serde(default)]
    tax_code: String,
}

/// `GET /record?tax_code=...`: the form, nothing read yet.
pub async fn record_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(whose): Query<Whose>,
) -> Response {
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let form = RecordForm {
        tax_code: whose.tax_code.trim().to_uppercase(),
        purpose: PURPOSES[0].0.into(),
        ..RecordForm::default()
    };
    page(StatusCode::OK, &view(&app, &s, &form))
}

/// `POST /record`: reads the sections asked for, for the purpose stated.
pub async fn record(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some((_, s)) = app.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let form = RecordForm::parse(&body);
    if let Some(stale) = stale_form(&s, &form.csrf) {
        return stale;
    }
    let mut page_view = view(&app, &s, &form);
    match ask(&app, &s, &form).await {
        Ok(answer) => {
            page_view.read = true;
            page_view.partial = answer.partial;
            page_view.outcomes = answer.outcomes.iter().map(outcome_line).collect();
            if let Some(r) = &answer.record {
                page_view.conflicts = r.conflicts.iter().map(conflict_line).collect();
                page_view.blocks = blocks(r.sections.as_ref());
            }
            page(StatusCode::OK, &page_view)
        }
        Err(status) => {
            page_view.problem = Some(status.message().to_string());
            page(refusal(status.code()), &page_view)
        }
    }
}

/// `GetRecord` on the operator's behalf.
async fn ask(
    app: &App,
    s: &Session,
    form: &RecordForm,
) -> Result<v1::GetRecordResponse, tonic::Status> {
    let sections: Vec<i32> = form
        .sections
        .iter()
        .filter_map(|name| trama_proto::sections::parse(name))
        .map(|s| s as i32)
        .collect();
    let mut request = tonic::Request::new(v1::GetRecordRequest {
        context: Some(s.context(&form.purpose, &form.case_id)),
        subject: Some(v1::SubjectKey {
            tax_code: form.tax_code.clone(),
            local_ids: Vec::new(),
        }),
        sections,
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    Ok(client.get_record(request).await?.into_inner())
}

fn conflict_line(c: &v1::Conflict) -> String {
    let values: Vec<String> = c
        .values
        .iter()
        .map(|v| format!("{} ({})", v.value, v.source_organisations.join(", ")))
        .collect();
    format!("{}: {}", c.field, values.join(" / "))
}

/// The record's sections as blocks of entries, each with its provenance:
/// read through the canonical JSON of the schema, so every field of every
/// section shows without a template per section.
fn blocks(sections: Option<&v1::RecordSections>) -> Vec<Block> {
    let Some(sections) = sections else {
        return Vec::new();
    };
    let Ok(json) = trama_client::render::json(sections, "trama.v1.RecordSections") else {
        return Vec::new();
    };
    let Ok(Value::Object(by_section)) = serde_json::from_str::<Value>(&json) else {
        return Vec::new();
    };
    by_section
        .into_iter()
        .filter_map(|(name, entries)| {
            let Value::Array(entries) = entries else {
                return None;
            };
            Some(Block {
                title: section_title(&name),
                entries: entries.into_iter().map(entry_view).collect(),
            })
        })
        .collect()
}

fn section_title(json_name: &str) -> String {
    let snake: String = json_name
        .chars()
        .flat_map(|c| {
            if c.is_ascii_uppercase() {
                vec!['_', c.to_ascii_lowercase()]
            } else {
                vec![c]
            }
        })
        .collect();
    let snake = snake
        .strip_suffix('s')
        .filter(|s| *s == "case_membership")
        .unwrap_or(&snake);
    SECTIONS
        .iter()
        .find(|(code, _)| *code == snake)
        .map_or_else(|| snake.to_string(), |(_, label)| (*label).to_string())
}

fn entry_view(entry: Value) -> EntryView {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_string();
    let provenance = entry.get("provenance");
    let mut details = Vec::new();
    flatten("", &entry, &mut details);
    EntryView {
        source: text(provenance.and_then(|p| p.get("sourceOrganisation"))),
        system: text(provenance.and_then(|p| p.get("sourceSystem"))),
        record_id: text(provenance.and_then(|p| p.get("recordId"))),
        updated: text(provenance.and_then(|p| p.get("lastUpdated"))),
        details: details.join("; "),
    }
}

/// `key: value` pairs of an entry, nested keys dotted, the provenance
/// left out (it has its own columns), a coding shown by its code.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if map.contains_key("code") => {
            out.push(format!("{prefix}: {}", map["code"].as_str().unwrap_or("-")));
        }
        Value::Object(map) => {
            for (k, v) in map {
                if prefix.is_empty() && k == "provenance" {
                    continue;
                }
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(prefix, item, out);
            }
        }
        Value::String(s) => out.push(format!("{prefix}: {s}")),
        other => out.push(format!("{prefix}: {other}")),
    }
}
