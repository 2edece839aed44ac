//! The statistics screen (`Aggregate`, purpose `programmazione`): choose
//! the rows, the columns, a period and a filter; a cross table with its
//! totals, suppressed and estimated counts marked, a bar chart of the row
//! totals, the legend of what the gateway applied, the overlaps between
//! partners; or the same table as CSV for a spreadsheet.

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use trama_client::stats as shown;
use trama_proto::stats::{ALL, NOT_RECORDED};
use trama_proto::v1;

use crate::app::{App, page, refusal};
use crate::lang::{self, Texts};
use crate::operator::{Operator, Posted};
use crate::said::outcome_line;
use crate::session::Session;

/// The dimensions offered, with their labels (Italian, English).
const DIMENSIONS: [(&str, &str, &str); 8] = [
    ("need", "Bisogno", "Need"),
    ("district", "Quartiere", "District"),
    ("intervention", "Intervento", "Intervention"),
    ("age_band", "Fascia d'età", "Age band"),
    ("sex", "Sesso", "Sex"),
    ("year", "Anno", "Year"),
    ("quarter", "Trimestre", "Quarter"),
    ("case_status", "Stato della cartella", "Case status"),
];

/// The statistics form.
#[derive(Debug, Default, Deserialize)]
pub struct StatsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rows: String,
    #[serde(default)]
    columns: String,
    /// `2025`, `2025-Q2` or `2025-07`.
    #[serde(default)]
    period: String,
    /// A dimension to filter on, and its values (comma-separated).
    #[serde(default)]
    filter: String,
    #[serde(default)]
    values: String,
    #[serde(default)]
    r#as: String,
}

/// A dimension in a select.
pub struct DimensionOption {
    code: &'static str,
    label: &'static str,
    selected: bool,
}

/// The table as shown.
pub struct TableView {
    caption: String,
    corner: String,
    columns: Vec<String>,
    rows: Vec<RowView>,
    legend: String,
    overlaps: Vec<String>,
    outcomes: Vec<String>,
    partial: bool,
    /// The row totals as an SVG bar chart.
    chart: Option<String>,
}

/// One row.
pub struct RowView {
    label: String,
    values: Vec<String>,
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage<'a> {
    t: &'static Texts,
    organisation: &'a str,
    operator: Option<&'a crate::operator::Operator>,
    csrf: &'a str,
    form: &'a StatsForm,
    rows: Vec<DimensionOption>,
    columns: Vec<DimensionOption>,
    filters: Vec<DimensionOption>,
    problem: Option<String>,
    table: Option<TableView>,
}

fn options(selected: &str, t: &Texts) -> Vec<DimensionOption> {
    DIMENSIONS
        .iter()
        .map(|(code, it, en)| DimensionOption {
            code,
            label: lang::pick(t, it, en),
            selected: *code == selected,
        })
        .collect()
}

fn view<'a>(app: &'a App, who: &'a Operator, form: &'a StatsForm) -> StatsPage<'a> {
    let t = who.t;
    StatsPage {
        t,
        organisation: &app.organisation,
        operator: Some(who),
        csrf: who.csrf(),
        form,
        rows: options(&form.rows, t),
        columns: options(&form.columns, t),
        filters: options(&form.filter, t),
        problem: None,
        table: None,
    }
}

/// `GET /stats`: the form.
pub async fn stats_page(who: Operator, State(app): State<App>) -> Response {
    if let Some(refused) = who.refused_unless(&app, who.screens.stats) {
        return refused;
    }
    let form = StatsForm {
        rows: "need".into(),
        columns: "district".into(),
        ..StatsForm::default()
    };
    page(StatusCode::OK, &view(&app, &who, &form))
}

/// `POST /stats`: the table, or its CSV.
pub async fn stats(State(app): State<App>, posted: Posted<StatsForm>) -> Response {
    let Posted { who, form } = posted;
    let (t, s) = (who.t, &who.session);
    let mut page_view = view(&app, &who, &form);
    match ask(&app, s, &form).await {
        Ok(answer) if form.r#as == "csv" => csv(&answer),
        Ok(answer) => {
            page_view.table = Some(table(&answer, t));
            page(StatusCode::OK, &page_view)
        }
        Err(status) => {
            page_view.problem = Some(crate::said::refusal(&status, t));
            page(refusal(status.code()), &page_view)
        }
    }
}

/// `Aggregate` on the operator's behalf, for planning.
async fn ask(
    app: &App,
    s: &Session,
    form: &StatsForm,
) -> Result<v1::AggregateResponse, tonic::Status> {
    let mut group_by = vec![form.rows.clone()];
    if form.columns != form.rows {
        group_by.push(form.columns.clone());
    }
    let mut filters = Vec::new();
    let period = form.period.trim();
    if !period.is_empty() {
        filters.push(v1::Filter {
            dimension: "period".into(),
            values: vec![period.to_string()],
        });
    }
    let values: Vec<String> = form
        .values
        .split(',')
        .map(crate::words::code_named)
        .filter(|v| !v.is_empty())
        .collect();
    if !values.is_empty() {
        filters.push(v1::Filter {
            dimension: form.filter.clone(),
            values,
        });
    }
    let mut request = tonic::Request::new(v1::AggregateRequest {
        context: Some(s.context("programmazione", "")),
        group_by,
        filters,
    });
    request.set_timeout(Duration::from_secs(30));
    let mut client = app.client.clone();
    Ok(client.aggregate(request).await?.into_inner())
}

fn csv(answer: &v1::AggregateResponse) -> Response {
    match shown::csv(answer) {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"statistiche.csv\"",
                ),
            ],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a table could not be written as CSV");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the table could not be written",
            )
                .into_response()
        }
    }
}

fn label(value: &str, t: &Texts) -> String {
    match value {
        ALL => t.total.into(),
        NOT_RECORDED => t.not_recorded.into(),
        v => crate::words::code(v, "", t),
    }
}

/// A dimension's name in words.
fn dimension(code: &str, t: &Texts) -> String {
    DIMENSIONS.iter().find(|(c, _, _)| *c == code).map_or_else(
        || code.to_string(),
        |(_, it, en)| lang::pick(t, it, en).to_string(),
    )
}

/// What the gateway applied, in the operator's words.
fn legend(answer: &v1::AggregateResponse, t: &Texts) -> String {
    let Some(p) = &answer.protection else {
        return String::new();
    };
    let error = format!("{:.1}", p.relative_error * 100.0);
    if t.code == "en" {
        format!(
            "Distinct people, each counted once across partners, as of {}; ages on the date of each fact. \
             Every count, total and overlap carries noise of at most ±{} (the same people always give the same value). \
             · suppressed: fewer than {} people. ≈ estimated (above {} people, error about {error}%).",
            crate::when::day(&answer.as_of),
            p.max_noise,
            p.threshold,
            p.exact_up_to
        )
    } else {
        format!(
            "Persone distinte, ciascuna contata una volta sola fra gli enti, al {}; età alla data di ciascun fatto. \
             Ogni conteggio, totale e sovrapposizione ha un rumore di al massimo ±{} (le stesse persone danno sempre lo stesso valore). \
             · non pubblicato: meno di {} persone. ≈ stimato (oltre {} persone, errore di circa {}%).",
            crate::when::day(&answer.as_of),
            p.max_noise,
            p.threshold,
            p.exact_up_to,
            error.replace('.', ",")
        )
    }
}

/// The answer as a cross table (one dimension: a single column).
fn table(answer: &v1::AggregateResponse, words: &Texts) -> TableView {
    let t = shown::CrossTable::of(answer);
    let by = answer
        .group_by
        .first()
        .and_then(|d| DIMENSIONS.iter().find(|(code, _, _)| code == d))
        .map_or("-", |(_, it, en)| lang::pick(words, it, en));
    let chart = crate::chart::svg(
        &format!("{} {}", words.people_by, by.to_lowercase()),
        &crate::chart::bars(answer, |v| label(v, words)),
        words.not_published,
    );
    TableView {
        chart,
        caption: format!("{} {}", words.people_as_of, crate::when::day(&answer.as_of)),
        corner: answer
            .group_by
            .iter()
            .map(|d| dimension(d, words))
            .collect::<Vec<_>>()
            .join(" / "),
        columns: t.columns.iter().map(|c| label(c, words)).collect(),
        rows: t
            .rows
            .iter()
            .map(|r| RowView {
                label: label(r, words),
                values: t.columns.iter().map(|k| t.at(r, k)).collect(),
            })
            .collect(),
        legend: legend(answer, words),
        overlaps: answer
            .overlaps
            .iter()
            .map(|o| {
                let who = if o.first == ALL {
                    words.two_or_more.to_string()
                } else {
                    format!("{} {} {}", o.first, words.and, o.second)
                };
                format!("{who}: {}", shown::shown(o.count, o.status, false))
            })
            .collect(),
        outcomes: answer
            .outcomes
            .iter()
            .map(|o| outcome_line(o, words))
            .collect(),
        partial: answer.partial,
    }
}

crate::operator::token_bearing!(StatsForm);
