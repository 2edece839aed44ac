//! Start-up refusals over the real binary: a connector whose mapping does
//! not fit its database, or whose configuration is wrong, does not start
//! and says which file, key and column are at fault.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::path::Path;
use std::process::Command;

use support::exe;
use trama_lab::sandbox::ConnectorFile;

/// Writes a Caritas connector (database, certificates, mapping) into `dir`,
/// with `edit` applied to the mapping, and returns the configuration path.
fn caritas_with_mapping(dir: &Path, edit: impl Fn(&str) -> String) -> std::path::PathBuf {
    caritas_connector(dir, edit, "127.0.0.1:0")
}

/// [`caritas_with_mapping`], listening on `listen`.
fn caritas_connector(
    dir: &Path,
    edit: impl Fn(&str) -> String,
    listen: &str,
) -> std::path::PathBuf {
    let status = Command::new(exe())
        .args(["pki", "init", "--dir"])
        .arg(dir.join("pki"))
        .output()
        .unwrap();
    assert!(status.status.success());
    let issued = Command::new(exe())
        .args([
            "pki",
            "issue",
            "--org",
            "caritas",
            "--role",
            "connector",
            "--dir",
        ])
        .arg(dir.join("pki"))
        .output()
        .unwrap();
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let db = dir.join("caritas.db");
    let conn = seed_caritas(&db);
    assert!(conn, "database created");
    let mapping = trama_lab::seed::Partner::Caritas.mapping();
    std::fs::write(dir.join("mapping.toml"), edit(mapping)).unwrap();
    let config = dir.join("connector.toml");
    ConnectorFile {
        federation: "demo".into(),
        organisation: "caritas".into(),
        listen: listen.into(),
        database: "sqlite://caritas.db".into(),
        mapping: "mapping.toml".into(),
        pki: "pki".into(),
        statement_timeout_ms: None,
        export: Vec::new(),
    }
    .write(&config)
    .unwrap();
    config
}

/// Creates and fills the Caritas database with `trama seed`.
fn seed_caritas(path: &Path) -> bool {
    let out = Command::new(exe())
        .args(["seed", "--partner", "caritas", "--subjects", "30", "--db"])
        .arg(format!("sqlite://{}", path.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).contains("seeded caritas with 30 people")
}

/// Runs `trama connector` (or `check`) and returns its exit success and
/// standard error.
fn run(subcommand: &str, config: &Path) -> (bool, String) {
    let out = Command::new(exe())
        .args([subcommand, "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_mapping_binding_a_missing_column_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), |m| {
        m.replace(
            "columns.amount = { column = \"valore\"",
            "columns.amount = { column = \"valore_euro\"",
        )
    });
    let (ok, stderr) = run("connector", &config);
    assert!(!ok, "the connector must not start");
    assert!(stderr.contains("mapping.toml"), "{stderr}");
    assert!(
        stderr.contains("key `sections.interventions[0].columns.amount`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("column `valore_euro` is not returned"),
        "{stderr}"
    );
}

#[test]
fn a_mapping_whose_sql_names_a_missing_column_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), |m| {
        m.replace(
            "SELECT id, tipo, data, valore FROM aiuti",
            "SELECT id, tipo, data, importo FROM aiuti",
        )
    });
    let (ok, stderr) = run("check", &config);
    assert!(!ok);
    assert!(
        stderr.contains("key `sections.interventions[0].sql`: the database refused the query"),
        "{stderr}"
    );
    assert!(stderr.contains("importo"), "{stderr}");
}

#[test]
fn a_good_mapping_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    let out = Command::new(exe())
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("matches the database"));
}

#[test]
fn config_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_connector(dir.path(), str::to_string, "localhost");
    let (ok, stderr) = run("connector", &config);
    assert!(!ok);
    assert!(stderr.contains("connector.toml: key `listen`"), "{stderr}");
}

#[test]
fn private_keys_are_written_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    caritas_with_mapping(dir.path(), str::to_string);
    for key in ["ca-key.pem", "caritas-connector-key.pem"] {
        let mode = std::fs::metadata(dir.path().join("pki").join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
}
