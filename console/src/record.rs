//! The record screen: the operator states the purpose (and the case id
//! where the purpose needs one); the sections the policy allows for that
//! purpose are offered (asked of the gateway with `ListSources` in the
//! operator's context, refreshed as the purpose changes), the others shown
//! disabled with the policy's reason; then the operator reads the
//! person's record merged across partners: each entry with its source,
//! system, record id and date, disagreements between partners shown, each
//! partner's outcome, and a partial answer marked as such.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use trama_proto::v1;

use crate::app::{App, page, refusal};
use crate::lang::{self, Texts};
use crate::operator::{Operator, Posted, TokenBearing};
use crate::operator::{PurposeOption, purposes};
use crate::said::outcome_line;
use crate::session::Session;

/// The sections, as the form offers them: (name, Italian, English).
const SECTIONS: [(&str, &str, &str); 10] = [
    ("housing", "Abitazione", "Housing"),
    (
        "socio_economic",
        "Situazione socio-economica",
        "Socio-economic situation",
    ),
    ("support_network", "Rete di sostegno", "Support network"),
    ("needs", "Bisogni", "Needs"),
    ("interventions", "Interventi", "Interventions"),
    (
        "case_membership",
        "Chi segue la persona (presa in carico)",
        "Who follows the person (case membership)",
    ),
    ("referrals", "Segnalazioni", "Referrals"),
    ("health", "Salute", "Health"),
    (
        "court_relations",
        "Rapporti con l'autorità giudiziaria",
        "Relations with the courts",
    ),
    ("judicial_acts", "Atti giudiziari", "Judicial acts"),
];

/// A section's name (`health`) in the operator's words, if it is one.
pub(crate) fn section_label(name: &str, t: &Texts) -> Option<&'static str> {
    SECTIONS
        .iter()
        .find(|(code, _, _)| *code == name)
        .map(|(_, it, en)| lang::pick(t, it, en))
}

/// The record form, as submitted.
#[derive(Debug, Default)]
pub struct RecordForm {
    csrf: String,
    tax_code: String,
    /// Partners' local ids of the person, `organisation:id`: the record is
    /// asked for every identity of the group found.
    locals: Vec<String>,
    purpose: String,
    case_id: String,
    sections: Vec<String>,
    /// `sections` when the operator only asked to see the sections the
    /// purpose allows (the form without JavaScript).
    step: String,
}

impl RecordForm {
    /// The partners' local ids the form carries.
    fn local_ids(&self) -> Vec<v1::LocalId> {
        self.locals
            .iter()
            .filter_map(|l| l.split_once(':'))
            .map(|(organisation, id)| v1::LocalId {
                organisation: organisation.into(),
                id: id.into(),
            })
            .collect()
    }

    /// Reads the form's body (`sections` repeats).
    fn parse(body: &[u8]) -> RecordForm {
        let mut form = RecordForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "csrf" => form.csrf = v,
                "tax_code" => form.tax_code = v.trim().to_uppercase(),
                "local" if v.contains(':') => form.locals.push(v.trim().to_string()),
                "purpose" => form.purpose = v,
                "case_id" => form.case_id = v.trim().to_string(),
                "sections" => form.sections.push(v),
                "step" => form.step = v,
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
    /// Whether the policy lets the operator read it at some partner for
    /// the purpose stated.
    allowed: bool,
    /// Why not, in the policy's words.
    reason: String,
}

/// The one reason every section offered is refused for, when they all
/// are (for example a purpose that needs a case id): said once, not per
/// section.
pub fn shared_reason(sections: &[SectionOption]) -> Option<&str> {
    let first = sections.first()?;
    sections
        .iter()
        .all(|s| !s.allowed && s.reason == first.reason)
        .then_some(first.reason.as_str())
}

/// The sections' fieldset alone, for `GET /record/sections`.
#[derive(Template)]
#[template(path = "sections.html")]
struct SectionsPart {
    t: &'static Texts,
    sections: Vec<SectionOption>,
    sections_problem: Option<String>,
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
    details: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    form: &'a RecordForm,
    purposes: Vec<PurposeOption>,
    sections: Vec<SectionOption>,
    sections_problem: Option<String>,
    problem: Option<String>,
    read: bool,
    /// The person as the partners name them: name, birth date.
    heading: Option<String>,
    blocks: Vec<Block>,
    conflicts: Vec<String>,
    outcomes: Vec<String>,
    partial: bool,
}

fn view<'a>(app: &'a App, who: &'a Operator, form: &'a RecordForm) -> RecordPage<'a> {
    RecordPage {
        t: who.t,
        organisation: &app.organisation,
        operator: Some(who),
        csrf: who.csrf(),
        form,
        purposes: purposes(who, &form.purpose),
        sections: Vec::new(),
        sections_problem: None,
        problem: None,
        read: false,
        heading: None,
        blocks: Vec::new(),
        conflicts: Vec::new(),
        outcomes: Vec::new(),
        partial: false,
    }
}

/// On `GET /record/sections`, the purpose and case id the sections are
/// offered for.
#[derive(Debug, Deserialize)]
pub struct Whose {
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    case_id: String,
}

/// The sections offered for the form's purpose and case id: those the
/// policy lets the operator read at one partner at least, the others
/// disabled with the policy's reason; sections no partner provides are
/// left out. If the federation cannot say, every section is offered (the
/// gateway still decides when the record is read) and the page says why.
async fn offered(
    app: &App,
    s: &Session,
    form: &RecordForm,
    t: &Texts,
) -> (Vec<SectionOption>, Option<String>) {
    let sources = match access(app, s, form).await {
        Ok(sources) => sources,
        Err(status) => {
            let all = SECTIONS
                .iter()
                .map(|(code, it, en)| {
                    option(form, code, lang::pick(t, it, en), true, String::new())
                })
                .collect();
            return (all, Some(crate::said::refusal(&status, t)));
        }
    };
    let access: Vec<&v1::SectionAccess> = sources.iter().flat_map(|s| &s.access).collect();
    let options = SECTIONS
        .iter()
        .filter_map(|(code, it, en)| {
            let label = lang::pick(t, it, en);
            let section = trama_proto::sections::parse(code)? as i32;
            let at: Vec<&&v1::SectionAccess> =
                access.iter().filter(|a| a.section == section).collect();
            let first = at.first()?;
            let allowed = at.iter().any(|a| a.allowed);
            let reason = if allowed {
                String::new()
            } else {
                crate::said::section(&first.rule, &first.reason, t)
            };
            Some(option(form, code, label, allowed, reason))
        })
        .collect();
    (options, None)
}

/// What the policy lets this operator's role read for the form's purpose
/// and case id, at each source: asked of the gateway, kept a short while
/// (it is about roles and purposes, not about anyone; the gateway decides
/// again when the record is read).
async fn access(
    app: &App,
    s: &Session,
    form: &RecordForm,
) -> Result<std::sync::Arc<Vec<v1::SourceInfo>>, tonic::Status> {
    let key = (s.role.clone(), form.purpose.clone(), form.case_id.clone());
    if let Some(known) = app.offers.get(&key) {
        return Ok(known);
    }
    let mut request = tonic::Request::new(v1::ListSourcesRequest {
        context: Some(s.context(&form.purpose, &form.case_id)),
        purposes: Vec::new(),
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    let sources = std::sync::Arc::new(client.list_sources(request).await?.into_inner().sources);
    app.offers.insert(key, sources.clone());
    Ok(sources)
}

fn option(
    form: &RecordForm,
    code: &'static str,
    label: &'static str,
    allowed: bool,
    reason: String,
) -> SectionOption {
    SectionOption {
        code,
        label,
        selected: allowed && form.sections.iter().any(|s| s == code),
        allowed,
        reason,
    }
}

/// `GET /record/sections?purpose=…&case_id=…`: the sections' fieldset for
/// that purpose (the record page refreshes it as the purpose changes).
pub async fn sections_part(
    who: Operator,
    State(app): State<App>,
    Query(whose): Query<Whose>,
) -> Response {
    let form = RecordForm {
        purpose: whose.purpose,
        case_id: whose.case_id.trim().to_string(),
        ..RecordForm::default()
    };
    let (sections, sections_problem) = offered(&app, &who.session, &form, who.t).await;
    page(
        StatusCode::OK,
        &SectionsPart {
            t: who.t,
            sections,
            sections_problem,
        },
    )
}

/// `GET /record?tax_code=…&local=org:id&purpose=…&case_id=…`: the form
/// for every identity of a group found, with the find's purpose and case;
/// nothing read yet.
pub async fn record_page(
    who: Operator,
    State(app): State<App>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refused) = who.refused_unless(&app, who.screens.find) {
        return refused;
    }
    let mut form = RecordForm::parse(query.unwrap_or_default().as_bytes());
    form.csrf.clear();
    if let Some(p) = purposes(&who, &form.purpose).iter().find(|p| p.selected) {
        form.purpose = p.code.to_string();
    }
    let mut page_view = view(&app, &who, &form);
    (page_view.sections, page_view.sections_problem) =
        offered(&app, &who.session, &form, who.t).await;
    page(StatusCode::OK, &page_view)
}

impl TokenBearing for RecordForm {
    fn read(body: &[u8]) -> Option<Self> {
        Some(RecordForm::parse(body))
    }
    fn token(&self) -> &str {
        &self.csrf
    }
}

/// `POST /record`: reads the sections asked for, for the purpose stated.
pub async fn record(State(app): State<App>, posted: Posted<RecordForm>) -> Response {
    let Posted { who, form } = posted;
    let t = who.t;
    let s = &who.session;
    let mut page_view = view(&app, &who, &form);
    if form.step == "sections" {
        (page_view.sections, page_view.sections_problem) = offered(&app, s, &form, t).await;
        return page(StatusCode::OK, &page_view);
    }
    let (offers, answer) = tokio::join!(offered(&app, s, &form, t), ask(&app, s, &form));
    (page_view.sections, page_view.sections_problem) = offers;
    match answer {
        Ok(answer) => {
            page_view.read = true;
            page_view.partial = answer.partial;
            page_view.outcomes = answer.outcomes.iter().map(|o| outcome_line(o, t)).collect();
            if let Some(r) = &answer.record {
                page_view.heading = heading(&r.identities);
                page_view.conflicts = r.conflicts.iter().map(|c| conflict_line(c, t)).collect();
                page_view.blocks = blocks(r.sections.as_ref(), t);
            }
            page(StatusCode::OK, &page_view)
        }
        Err(status) => {
            page_view.problem = Some(crate::said::refusal(&status, t));
            page(refusal(status.code()), &page_view)
        }
    }
}

/// The person as the first partner that names them writes it: family
/// and given name, birth date.
fn heading(identities: &[v1::SubjectIdentity]) -> Option<String> {
    let named = identities.iter().find(|i| !i.family_name.is_empty())?;
    let mut words = format!("{} {}", named.family_name, named.given_name);
    if let Some(born) = identities.iter().find_map(|i| i.birth_date.as_ref()) {
        words.push_str(&format!(", {}", crate::when::date(born)));
    }
    Some(words.trim().to_string())
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
            local_ids: form.local_ids(),
        }),
        sections,
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = app.client.clone();
    Ok(client.get_record(request).await?.into_inner())
}

/// A disagreement between partners on identifying data, in words: the
/// field, each value as people write it, and who holds it.
fn conflict_line(c: &v1::Conflict, t: &Texts) -> String {
    let field = c.field.strip_prefix("identity.").unwrap_or(&c.field);
    let shown = |value: &str| match field {
        "birth_date" => crate::when::day(value),
        "birthplace_code" => trama_subject::belfiore::lookup(value)
            .last()
            .map_or_else(|| value.to_string(), |p| p.name.to_string()),
        _ => value.to_string(),
    };
    let values: Vec<String> = c
        .values
        .iter()
        .map(|v| {
            format!(
                "{} ({})",
                shown(&v.value),
                v.source_organisations.join(", ")
            )
        })
        .collect();
    let label = crate::words::matched(field, t).map_or_else(|| field.to_string(), str::to_string);
    format!("{label}: {}", values.join(" / "))
}

/// The record's sections as blocks of entries, each with its provenance:
/// read through the canonical JSON of the schema, so every field of every
/// section shows without a template per section.
fn blocks(sections: Option<&v1::RecordSections>, t: &Texts) -> Vec<Block> {
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
                title: section_title(&name, t),
                entries: entries.into_iter().map(|e| entry_view(e, t)).collect(),
            })
        })
        .collect()
}

fn section_title(json_name: &str, t: &Texts) -> String {
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
        .find(|(code, _, _)| *code == snake)
        .map_or_else(
            || snake.to_string(),
            |(_, it, en)| lang::pick(t, it, en).to_string(),
        )
}

fn entry_view(entry: Value, t: &Texts) -> EntryView {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_string();
    let provenance = entry.get("provenance");
    let mut details = Vec::new();
    flatten("", &entry, t, &mut details);
    EntryView {
        source: text(provenance.and_then(|p| p.get("sourceOrganisation"))),
        system: text(provenance.and_then(|p| p.get("sourceSystem"))),
        record_id: text(provenance.and_then(|p| p.get("recordId"))),
        updated: crate::when::local(&text(provenance.and_then(|p| p.get("lastUpdated")))),
        details,
    }
}

/// The label of a field under `prefix`, in the operator's words.
fn labelled(prefix: &str, key: &str, t: &Texts) -> String {
    let label = crate::words::field(key, t);
    if prefix.is_empty() {
        label
    } else {
        format!("{prefix} – {label}")
    }
}

/// (label, value) pairs of an entry, nested labels joined, the provenance
/// left out (it has its own columns), a coding in words, a date as
/// `dd/mm/yyyy`, an amount in euros with its cents, yes or no.
fn flatten(prefix: &str, value: &Value, t: &Texts, out: &mut Vec<(String, String)>) {
    fn text(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or_default()
    }
    match value {
        Value::Object(map) if map.contains_key("code") && map.contains_key("system") => {
            let words = crate::words::code(text(map.get("code")), text(map.get("display")), t);
            out.push((prefix.to_string(), words));
        }
        Value::Object(map) if map.contains_key("year") && map.contains_key("month") => {
            let part = |k: &str| {
                map.get(k)
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(0)
            };
            let date = v1::Date {
                year: part("year"),
                month: part("month"),
                day: part("day"),
            };
            out.push((prefix.to_string(), crate::when::date(&date)));
        }
        Value::Object(map) if map.contains_key("cents") => {
            let cents = map
                .get("cents")
                .and_then(|c| {
                    c.as_i64()
                        .or_else(|| c.as_str().and_then(|t| t.parse().ok()))
                })
                .unwrap_or(0);
            let currency = match text(map.get("currency")) {
                "" | "EUR" => "€",
                other => other,
            };
            out.push((prefix.to_string(), format!("{} {currency}", money(cents))));
        }
        Value::Object(map) => {
            for (k, v) in map {
                if prefix.is_empty() && k == "provenance" {
                    continue;
                }
                flatten(&labelled(prefix, k, t), v, t, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(prefix, item, t, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Bool(b) => out.push((prefix.to_string(), crate::words::yes_no(*b, t).into())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Cents as an Italian amount: `1.037,50`.
pub(crate) fn money(cents: i64) -> String {
    trama_client::money::decimal(cents, ',', Some('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_amounts_and_codes_read_as_an_operator_writes_them() {
        let entry = serde_json::json!({
            "kind": {"system": "urn:trama:cs:intervention", "code": "home-care"},
            "period": {"start": {"year": 2023, "month": 6, "day": 6}},
            "amount": {"cents": "103750", "currency": "EUR"},
            "active": true,
            "provenance": {"recordId": "10"}
        });
        let mut out = Vec::new();
        flatten("", &entry, &crate::lang::IT, &mut out);
        // The keys' order follows serde_json's map, which features decide.
        out.sort();
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            out,
            pairs(&[
                ("Attiva", "sì"),
                ("Importo", "1.037,50 €"),
                ("Periodo – inizio", "06/06/2023"),
                ("Tipo", "Assistenza domiciliare"),
            ])
        );
        assert_eq!(money(5), "0,05");
        assert_eq!(money(-123_456_789), "-1.234.567,89");
    }
}
