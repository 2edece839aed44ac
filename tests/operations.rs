//! What operators build on beside the nodes: the Prometheus alert rules and
//! the Grafana dashboard in `deploy/` are valid, and every metric they name
//! is one a running federation exports (its gateway, a connector and a
//! console, scraped after a few calls).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::collections::BTreeSet;

use support::web::Browser;
use support::{Sandbox, context, ctx, featured_tax_code, http_get, logged_address};
use trama_proto::v1::{self, Section};

const ALERTS: &str = include_str!("../deploy/prometheus/trama-alerts.yml");
const DASHBOARD: &str = include_str!("../deploy/grafana/trama-dashboard.json");

/// Every `trama_...` metric `text` names, without the suffixes of a
/// histogram's series.
fn metrics_named(text: &str) -> BTreeSet<String> {
    text.match_indices("trama_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).map(str::to_string))
                .unwrap_or(name)
        })
        .filter(|name| name.len() > "trama_".len())
        .collect()
}

/// The expressions of the dashboard's panels.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "a dashboard of {} panels", panels.len());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("every target has a query")
                .to_string()
        })
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool() {
    let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "rules", "deploy/prometheus/trama-alerts.yml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing: CI installs Debian's prometheus package for it"
        );
        eprintln!("\n*** SKIPPED: no promtool (apt-get install prometheus) ***\n");
        return;
    };
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("SUCCESS"), "{said}");
}

/// Makes the federation do what the dashboard shows: records read, a call
/// the policy refuses, a console page.
async fn some_traffic(fed: &Sandbox, console: &str) {
    let mut client = fed.client("comune");
    client
        .get_record(v1::GetRecordRequest {
            context: context("presa_in_carico"),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            sections: vec![Section::Needs as i32, Section::Housing as i32],
        })
        .await
        .expect("a record");
    let refused = client
        .access_log(v1::AccessLogRequest {
            context: ctx("assistente_sociale", "presa_in_carico", ""),
            subject: Some(v1::SubjectKey {
                tax_code: featured_tax_code(),
                local_ids: vec![],
            }),
            limit: 10,
            ..Default::default()
        })
        .await;
    assert!(
        refused.is_err(),
        "a social worker does not read the access log"
    );
    let mut browser = Browser::new(console, &fed.dir().join("pki/ca.pem"));
    assert_eq!(browser.get("/login").await.status, 200);
}

/// `GET /metrics` of the process `name` logged.
async fn scrape(fed: &Sandbox, name: &str) -> String {
    let address = logged_address(|| fed.log(name), "metrics on http://").await;
    let (status, body) = http_get(&address, "/metrics").await;
    assert_eq!(status, 200, "{name}: {body}");
    body
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_name_is_exported() {
    let mut named = metrics_named(ALERTS);
    for query in dashboard_queries() {
        named.extend(metrics_named(&query));
    }
    assert!(named.len() >= 20, "{named:?}");

    let mut fed = Sandbox::start().await;
    let console = fed
        .running
        .start_console("console-comune", "comune", Vec::new())
        .await
        .unwrap();
    some_traffic(&fed, &console).await;
    // The gateway's readiness watch sets each source's gauge every 2 s.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut exported = String::new();
    for node in ["gateway", "comune", "console-comune"] {
        exported.push_str(&scrape(&fed, node).await);
    }
    let missing: Vec<&String> = named
        .iter()
        .filter(|m| !exported.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but exported by no node: {missing:?}"
    );
    fed.cleanup().await;
}
