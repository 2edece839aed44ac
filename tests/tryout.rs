//! `trama connector try`, as an integrator runs it: a partner's mapping
//! against its database with no certificate and no gateway, and a broken
//! mapping whose dropped values are reported with their mapping key.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::path::Path;
use std::process::Command;

use support::{Sandbox, exe, featured_tax_code};

/// Runs `trama connector try` on `config` for `args`: whether it
/// succeeded, and what it printed.
fn try_mapping(config: &Path, args: &[&str]) -> (bool, String) {
    let config = config.as_os_str();
    let head = ["connector", "try", "--config"].map(std::ffi::OsStr::new);
    support::run_trama(
        head.into_iter()
            .chain([config])
            .chain(args.iter().map(std::ffi::OsStr::new)),
    )
}

#[tokio::test]
async fn an_integrator_tries_a_mapping_and_sees_what_the_gateway_would_receive() {
    let fed = Sandbox::start_with(|b| b.without_gateway()).await;
    let config = fed.dir().join("consorzio/connector.toml");
    let code = featured_tax_code();
    let (ok, said) = try_mapping(&config, &["--tax-code", &code]);
    assert!(ok, "{said}");
    assert!(said.contains("the start-up check passed"), "{said}");
    assert!(said.contains(&code), "the person found: {said}");
    assert!(
        said.contains("interventions"),
        "the record's sections: {said}"
    );
    assert!(
        said.contains("statistics:") && said.contains("facts read"),
        "{said}"
    );
    assert!(said.contains("services:"), "{said}");
    assert!(said.contains("every value read converted"), "{said}");

    // Names and a birth date find the same person; nobody to look for is
    // refused, saying how to ask.
    let (ok, said) = try_mapping(&config, &[]);
    assert!(!ok && said.contains("say whom to look for"), "{said}");

    // The birth date's format left out: the start-up check cannot see it
    // (the column is text), the try reports every birth date dropped.
    let mapping = std::fs::read_to_string(fed.dir().join("consorzio/mapping.toml")).unwrap();
    let broken = mapping.replace(
        r#"birth_date = { column = "data_nascita", date_format = "yyyymmdd" }"#,
        r#"birth_date = "data_nascita""#,
    );
    assert_ne!(
        broken, mapping,
        "the example maps the birth date with its format"
    );
    std::fs::write(fed.dir().join("consorzio/broken.toml"), broken).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let broken_config = fed.dir().join("consorzio/connector-broken.toml");
    std::fs::write(&broken_config, text.replace("mapping.toml", "broken.toml")).unwrap();
    let (ok, said) = try_mapping(&broken_config, &["--tax-code", &code]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("subject.columns.birth_date")
            && said.contains("not a date in the declared format"),
        "{said}"
    );
    assert!(said.contains("date_format"), "the fix is named: {said}");
    fed.cleanup().await;
}

/// The lines of a `trama bench match` report from its quality table to its
/// latencies (which differ run to run).
fn quality_lines(report: &str) -> String {
    let from = report.find("Top-candidate").unwrap_or(0);
    let to = report.find("Latency").unwrap_or(report.len());
    report[from..to].to_string()
}

#[tokio::test]
async fn matching_quality_is_measured_for_any_connector_from_a_labelled_file() {
    let fed = Sandbox::start_with(|b| b.without_gateway().everyone(true)).await;
    let dir = fed.dir();
    let labelled = dir.join("labelled.jsonl");
    let db = format!(
        "sqlite://{}?mode=ro",
        dir.join("comune/comune.db").display()
    );
    let generated = Command::new(exe())
        .args(["bench", "match", "--partner", "comune", "--db", &db])
        .args([
            "--subjects",
            "300",
            "--seed",
            "11",
            "--queries",
            "120",
            "--warmup",
            "10",
        ])
        .arg("--write-labelled")
        .arg(&labelled)
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&generated.stdout).to_string();
    assert!(
        generated.status.success(),
        "{first}{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let lines = std::fs::read_to_string(&labelled).unwrap();
    assert_eq!(lines.lines().count(), 130);
    assert!(lines.contains(r#""kind":"family-name typo""#), "{lines}");
    // The same queries, from the file, through the comune's own
    // configuration: the same quality.
    let from_file = Command::new(exe())
        .args(["bench", "match", "--config"])
        .arg(dir.join("comune/connector.toml"))
        .arg("--labelled")
        .arg(&labelled)
        .args(["--warmup", "10", "--queries", "120"])
        .output()
        .unwrap();
    let second = String::from_utf8_lossy(&from_file.stdout).to_string();
    assert!(
        from_file.status.success(),
        "{second}{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    assert!(second.contains("trama bench match --config"), "{second}");
    assert_eq!(quality_lines(&first), quality_lines(&second));
    // A line that is not a labelled query is refused, naming it.
    std::fs::write(
        &labelled,
        "{\"kind\":\"x\",\"birth_date\":\"14/07/1958\"}\n",
    )
    .unwrap();
    let bad = Command::new(exe())
        .args(["bench", "match", "--config"])
        .arg(dir.join("comune/connector.toml"))
        .arg("--labelled")
        .arg(&labelled)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&bad.stderr).to_string();
    assert!(
        !bad.status.success() && said.contains("line 1") && said.contains("YYYY-MM-DD"),
        "{said}"
    );
    fed.cleanup().await;
}
