//! The access log screen, for the data-protection officer (the gateway's
//! policy checks the role and purpose): who did what, when and why, by
//! operator, organisation, purpose, operation and period, or for one
//! person; newest first in pages, with the gateway's verification of its
//! audit chain, and the same listing as CSV. The gateway sends codes (the
//! call, the purpose, sections, outcomes, the decision and its rule);
//! this module puts them into the operator's words and shows times in
//! Italian time.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trama_proto::v1;

use crate::app::{App, page, refusal};
use crate::lang::Texts;
use crate::operator::{Operator, Posted};
use crate::session::Session;
use crate::when;

/// Entries per page on the screen.
const PAGE: u32 = 50;

/// Entries per call, and calls at most, for a CSV.
const CSV_PAGE: u32 = 1000;
const CSV_CALLS: usize = 10;

/// The purpose every listing states.
const PURPOSE: &str = "controllo_accessi";

/// The access-log filters, from the form or a link; `csrf` only in the
/// form.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct AccessForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    tax_code: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    call: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// The page, as the gateway's `next_page_token` gave it (empty: the
    /// first).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    page: String,
}

impl AccessForm {
    /// The form with its text fields trimmed (the tax code upper case).
    fn tidy(self) -> AccessForm {
        let trim = |s: String| s.trim().to_string();
        AccessForm {
            tax_code: self.tax_code.trim().to_uppercase(),
            operator: trim(self.operator),
            organisation: trim(self.organisation),
            purpose: trim(self.purpose),
            call: trim(self.call),
            from: trim(self.from),
            to: trim(self.to),
            page: trim(self.page),
            ..self
        }
    }

    /// Whether a link asked for a listing (the empty form asks nothing).
    fn asks(&self) -> bool {
        [
            &self.tax_code,
            &self.operator,
            &self.organisation,
            &self.purpose,
            &self.call,
            &self.from,
            &self.to,
            &self.page,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }

    /// The query string of this listing from page `page` (empty: the
    /// first).
    fn link(&self, path: &str, page: &str) -> String {
        let at = AccessForm {
            page: page.to_string(),
            ..self.clone()
        };
        let query = serde_urlencoded::to_string(&at).unwrap_or_default();
        format!("{path}?{query}")
    }

    /// The request for `limit` entries from page `page` (empty: the
    /// newest), or what is wrong with the form.
    fn request(
        &self,
        s: &Session,
        page: &str,
        limit: u32,
        t: &Texts,
    ) -> Result<v1::AccessLogRequest, String> {
        let day = |label: &str, text: &str, end: bool| -> Result<String, String> {
            if text.is_empty() {
                return Ok(String::new());
            }
            when::day_bound(text, end)
                .ok_or_else(|| format!("{label}: {text} {}", t.access_not_a_day))
        };
        let from = day(t.access_from, &self.from, false)?;
        let to = day(t.access_to, &self.to, true)?;
        if !from.is_empty() && !to.is_empty() && to <= from {
            return Err(t.access_period_reversed.to_string());
        }
        let subject = (!self.tax_code.is_empty()).then(|| v1::SubjectKey {
            tax_code: self.tax_code.clone(),
            local_ids: Vec::new(),
        });
        Ok(v1::AccessLogRequest {
            context: Some(s.context(PURPOSE, "")),
            subject,
            limit,
            operator_id: self.operator.clone(),
            organisation: self.organisation.clone(),
            purpose: self.purpose.clone(),
            call: self.call.clone(),
            from,
            to,
            page_token: page.to_string(),
        })
    }
}

/// One access as shown (on the page and in the CSV).
pub struct AccessView {
    /// Where the entry is: its number, after the replica that recorded it
    /// when gateways run as replicas (`gateway-a:41`).
    place: String,
    time: String,
    call: String,
    organisation: String,
    operator: String,
    role: String,
    purpose: String,
    case_id: String,
    sections: String,
    outcomes: String,
    decision: String,
}

/// The verification of the audit chain, in words.
pub struct ChainView {
    intact: bool,
    summary: String,
    problems: Vec<String>,
}

/// A choice in a list: (code, label, selected).
type Choice = (&'static str, &'static str, bool);

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a Operator>,
    csrf: &'a str,
    problem: Option<String>,
    searched: bool,
    entries: Vec<AccessView>,
    form: &'a AccessForm,
    calls: Vec<Choice>,
    purposes: Vec<Choice>,
    chain: Option<ChainView>,
    next: Option<String>,
    csv: String,
}

/// The calls the log can be filtered by, and their labels.
fn calls(t: &Texts) -> [(&'static str, &'static str); 10] {
    [
        ("FindSubject", t.call_find),
        ("GetRecord", t.call_record),
        ("AccessLog", t.call_access),
        ("Aggregate", t.call_stats),
        ("SearchServices", t.call_services),
        ("SendReferral", t.call_send_referral),
        ("GetReferral", t.call_get_referral),
        ("ListReferrals", t.call_list_referrals),
        ("UpdateReferral", t.call_update_referral),
        ("ListSources", t.nav_sources),
    ]
}

/// The purposes of the federation's policy, and their labels.
fn purposes(t: &Texts) -> Vec<(&'static str, &'static str)> {
    crate::words::PURPOSES
        .iter()
        .map(|(code, it, en)| (*code, crate::lang::pick(t, it, en)))
        .collect()
}

/// A code's label from `table`, else the code as it is.
fn label(table: &[(&'static str, &'static str)], code: &str) -> String {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_string(), |(_, l)| (*l).to_string())
}

/// `table` as choices, with "all" first and `selected` marked.
fn choices(table: &[(&'static str, &'static str)], selected: &str, t: &Texts) -> Vec<Choice> {
    std::iter::once(("", t.access_any))
        .chain(table.iter().copied())
        .map(|(code, l)| (code, l, code == selected))
        .collect()
}

fn view<'a>(app: &'a App, who: &'a Operator, form: &'a AccessForm) -> AccessPage<'a> {
    let t = who.t;
    AccessPage {
        t,
        organisation: &app.organisation,
        operator: Some(who),
        csrf: who.csrf(),
        problem: None,
        searched: false,
        entries: Vec::new(),
        form,
        calls: choices(&calls(t), &form.call, t),
        purposes: choices(&purposes(t), &form.purpose, t),
        chain: None,
        next: None,
        csv: form.link("/access.csv", &form.page),
    }
}

/// `GET /access`: the form, or a page of a listing (the links to the next
/// page carry the filters).
pub async fn access_page(
    who: Operator,
    State(app): State<App>,
    Query(form): Query<AccessForm>,
) -> Response {
    if let Some(refused) = who.refused_unless(&app, who.screens.access) {
        return refused;
    }
    let form = form.tidy();
    if !form.asks() {
        return page(StatusCode::OK, &view(&app, &who, &form));
    }
    list(&app, &who, &form).await
}

/// `POST /access`: the form sent; the first page of the listing.
pub async fn access(State(app): State<App>, posted: Posted<AccessForm>) -> Response {
    let Posted { who, form } = posted;
    let form = AccessForm {
        page: String::new(),
        ..form.tidy()
    };
    list(&app, &who, &form).await
}

crate::operator::token_bearing!(AccessForm);

/// One page of the listing the form asks for.
async fn list(app: &App, who: &Operator, form: &AccessForm) -> Response {
    let t = who.t;
    let mut v = view(app, who, form);
    let request = match form.request(&who.session, &form.page, PAGE, t) {
        Ok(r) => r,
        Err(problem) => {
            v.problem = Some(problem);
            return page(StatusCode::UNPROCESSABLE_ENTITY, &v);
        }
    };
    match ask(app, request).await {
        Ok(answer) => {
            v.searched = true;
            v.chain = answer.chain.as_ref().map(|c| chain_view(c, t));
            v.entries = answer.entries.iter().map(|e| entry(e, t)).collect();
            v.next = (!answer.next_page_token.is_empty())
                .then(|| form.link("/access", &answer.next_page_token));
            page(StatusCode::OK, &v)
        }
        Err(status) => {
            v.problem = Some(crate::said::refusal(&status, t));
            page(refusal(status.code()), &v)
        }
    }
}

async fn ask(
    app: &App,
    request: v1::AccessLogRequest,
) -> Result<v1::AccessLogResponse, tonic::Status> {
    let mut request = tonic::Request::new(request);
    request.set_timeout(Duration::from_secs(10));
    let mut client = app.client.clone();
    client
        .access_log(request)
        .await
        .map(tonic::Response::into_inner)
}

/// `GET /access.csv`: the same listing as CSV, from the page asked for
/// on (at most [`CSV_CALLS`] calls of [`CSV_PAGE`] entries), for a
/// spreadsheet; the same authorisation, since the gateway decides.
pub async fn access_csv(
    who: Operator,
    State(app): State<App>,
    Query(form): Query<AccessForm>,
) -> Response {
    let (t, s) = (who.t, &who.session);
    let form = form.tidy();
    let mut from = form.page.clone();
    let mut rows = Vec::new();
    for _ in 0..CSV_CALLS {
        let request = match form.request(s, &from, CSV_PAGE, t) {
            Ok(r) => r,
            Err(problem) => return (StatusCode::UNPROCESSABLE_ENTITY, problem).into_response(),
        };
        let answer = match ask(&app, request).await {
            Ok(a) => a,
            Err(status) => {
                return (refusal(status.code()), crate::said::refusal(&status, t)).into_response();
            }
        };
        rows.extend(answer.entries.iter().map(|e| entry(e, t)));
        from = answer.next_page_token;
        if from.is_empty() {
            break;
        }
    }
    match csv_text(&rows, t) {
        Ok(text) => {
            let disposition = format!("attachment; filename=\"{}\"", t.access_csv_file);
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                text,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "the access log could not be written as CSV");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the listing could not be written",
            )
                .into_response()
        }
    }
}

/// The listing as CSV, with a header row in the operator's language.
fn csv_text(rows: &[AccessView], t: &Texts) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        t.access_col_number,
        t.access_col_when,
        t.access_col_operation,
        t.access_col_organisation,
        t.access_col_operator,
        t.access_col_role,
        t.access_col_purpose,
        t.access_col_case,
        t.access_col_sections,
        t.access_col_outcomes,
        t.access_col_decision,
    ])?;
    for r in rows {
        let cells = [
            r.place.clone(),
            r.time.clone(),
            r.call.clone(),
            r.organisation.clone(),
            r.operator.clone(),
            r.role.clone(),
            r.purpose.clone(),
            r.case_id.clone(),
            r.sections.clone(),
            r.outcomes.clone(),
            r.decision.clone(),
        ];
        w.write_record(cells.iter().map(|c| neutralised(c)))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A cell a spreadsheet will not take for a formula: one that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`.
fn neutralised(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn chain_view(c: &v1::ChainCheck, t: &Texts) -> ChainView {
    let sealed = if c.sealed_seq == 0 {
        t.no_seal.to_string()
    } else {
        let at = when::local(&c.sealed_time);
        format!("{} {} ({at})", t.sealed_to, c.sealed_seq)
    };
    let checked = when::local(&c.checked_at);
    let counted = match c.replicas.len() {
        0 | 1 => format!("{} {}", c.entries, t.entries),
        n => format!("{} {}, {n} {}", c.entries, t.entries, t.chains_of),
    };
    let summary = if c.intact {
        format!(
            "{} ({counted}), {sealed}; {} {checked}.",
            t.chain_ok, t.checked_at
        )
    } else {
        format!("{} ({counted}; {} {checked})", t.chain_broken, t.checked_at)
    };
    ChainView {
        intact: c.intact,
        summary,
        problems: c.problems.clone(),
    }
}

/// One entry in the operator's words.
fn entry(e: &v1::AccessEntry, t: &Texts) -> AccessView {
    let op = e.operator.clone().unwrap_or_default();
    let mut call = label(&calls(t), &e.call);
    if e.as_candidate {
        call = format!("{call} {}", t.access_as_candidate);
    }
    let sections: Vec<String> = e
        .sections_returned
        .iter()
        .filter_map(|s| v1::Section::try_from(*s).ok())
        .map(trama_proto::sections::name)
        .map(|n| crate::record::section_label(n, t).map_or_else(|| n.to_string(), str::to_string))
        .collect();
    AccessView {
        place: match e.replica.as_str() {
            "" => e.seq.to_string(),
            replica => format!("{replica}:{}", e.seq),
        },
        time: when::local(&e.time),
        call,
        organisation: e.organisation.clone(),
        operator: op.id,
        role: crate::words::role(&op.role, t),
        purpose: label(&purposes(t), &e.purpose),
        case_id: case_shown(&e.case_id, &e.case_check, t),
        sections: sections.join(", "),
        outcomes: e
            .sources
            .iter()
            .map(|s| outcome(s, t))
            .collect::<Vec<_>>()
            .join("; "),
        decision: decision(e, t),
    }
}

/// A source's outcome as the gateway records it (`comune: ok`), in words.
fn outcome(recorded: &str, t: &Texts) -> String {
    let Some((org, code)) = recorded.split_once(": ") else {
        return recorded.to_string();
    };
    let said = match code {
        "ok" => t.answered,
        "not_found" => t.not_known,
        "denied" => t.denied,
        "timeout" => t.timeout,
        "unavailable" => t.down,
        _ => t.error,
    };
    format!("{org}: {said}")
}

/// The decision in words, the rule (or the field refused) kept in
/// brackets for the data-protection officer.
fn decision(e: &v1::AccessEntry, t: &Texts) -> String {
    let (word, kind, name) = match e.decision.as_str() {
        "permit" => (t.access_permit, t.rule, &e.rule),
        "deny" => (t.denied, t.rule, &e.rule),
        "invalid" => (t.access_invalid, t.access_field, &e.field),
        _ => (t.access_failed, "", &String::new()),
    };
    let why = (!name.is_empty()).then_some((kind, name));
    match why {
        Some((kind, name)) => format!("{word} ({kind} {name})"),
        None => word.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{EN, IT};

    #[test]
    fn codes_become_words_and_rules_stay_in_brackets() {
        let e = v1::AccessEntry {
            seq: 7,
            time: "2026-07-14T08:05:00Z".into(),
            call: "FindSubject".into(),
            organisation: "comune".into(),
            operator: Some(v1::Operator {
                id: "laura.ferrari".into(),
                role: "assistente_sociale".into(),
            }),
            purpose: "presa_in_carico".into(),
            sections_returned: vec![v1::Section::Health as i32],
            sources: vec!["comune: ok".into(), "asl: timeout".into()],
            decision: "permit".into(),
            rule: "comune-presa-in-carico".into(),
            as_candidate: true,
            ..v1::AccessEntry::default()
        };
        let v = entry(&e, &IT);
        assert_eq!(v.time, "14/07/2026 10:05");
        assert_eq!(
            v.call,
            "Ricerca di una persona (la persona era solo tra i candidati)"
        );
        assert_eq!(v.purpose, "Presa in carico");
        assert_eq!(v.sections, "Salute");
        assert_eq!(
            v.outcomes,
            "comune: risposto; asl: non ha risposto in tempo"
        );
        assert_eq!(v.decision, "consentito (regola comune-presa-in-carico)");
        let denied = v1::AccessEntry {
            decision: "deny".into(),
            rule: "default-deny".into(),
            ..e.clone()
        };
        assert_eq!(decision(&denied, &IT), "negato (regola default-deny)");
        let invalid = v1::AccessEntry {
            decision: "invalid".into(),
            rule: String::new(),
            field: "subject.tax_code".into(),
            ..e
        };
        assert_eq!(
            decision(&invalid, &EN),
            "invalid request (field subject.tax_code)"
        );
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_neutralised() {
        for (cell, shown) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("laura.ferrari", "laura.ferrari"),
        ] {
            assert_eq!(neutralised(cell), shown);
        }
    }

    #[test]
    fn a_period_is_whole_days_in_italian_time() {
        let s = Session {
            operator: "dpo".into(),
            name: "DPO".into(),
            role: "audit".into(),
            csrf: String::new(),
        };
        let form = AccessForm {
            from: "2026-07-14".into(),
            to: "2026-07-14".into(),
            ..AccessForm::default()
        };
        let r = form.request(&s, "", 10, &IT);
        assert_eq!(
            r.map(|r| (r.from, r.to, r.subject.is_none())),
            Ok((
                "2026-07-13T22:00:00Z".to_string(),
                "2026-07-14T22:00:00Z".to_string(),
                true
            ))
        );
        let reversed = AccessForm {
            from: "2026-07-15".into(),
            to: "2026-07-14".into(),
            ..AccessForm::default()
        };
        assert!(reversed.request(&s, "", 10, &IT).is_err());
        let not_a_day = AccessForm {
            from: "14/07/2026".into(),
            ..AccessForm::default()
        };
        let problem = not_a_day.request(&s, "", 10, &IT).err().unwrap_or_default();
        assert!(problem.starts_with("Dal giorno: 14/07/2026"), "{problem}");
    }
}
