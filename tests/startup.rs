//! Start-up refusals over the real binary: a connector whose mapping does
//! not fit its database, or whose configuration is wrong, does not start
//! and says which file, key and column are at fault; a node whose
//! certificates do not fit its configuration does not start either, nor a
//! node whose audit database belongs to another node or is open in another
//! process; `--check-config` lists every problem at once.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
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
    std::fs::write(dir.join("linkage.key"), "ab".repeat(32)).unwrap();
    ConnectorFile {
        federation: "demo".into(),
        organisation: "caritas".into(),
        listen: listen.into(),
        database: "sqlite://caritas.db".into(),
        mapping: "mapping.toml".into(),
        pki: "pki".into(),
        limits: Default::default(),
        export: Vec::new(),
        tracing: Default::default(),
        linkage_key: Some("linkage.key".into()),
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
fn a_connector_counting_facts_without_the_linkage_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    edit(&config, "[statistics]\nlinkage_key = \"linkage.key\"\n", "");
    let (ok, stderr) = run("connector", &config);
    assert!(!ok, "the connector must not start");
    assert!(
        stderr.contains("connector.toml") && stderr.contains("key `statistics.linkage_key`"),
        "{stderr}"
    );
    assert!(stderr.contains("[[statistics.facts]]"), "{stderr}");
    // A key file that holds no key is named too.
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    std::fs::write(dir.path().join("linkage.key"), "not a key\n").unwrap();
    let (ok, stderr) = run("connector", &config);
    assert!(!ok);
    assert!(
        stderr.contains("linkage.key") && stderr.contains("64 hexadecimal digits"),
        "{stderr}"
    );
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

/// Issues a certificate of `org` with `role` from the PKI in `dir/pki`.
fn issue(dir: &Path, org: &str, role: &str) {
    let issued = Command::new(exe())
        .args(["pki", "issue", "--org", org, "--role", role, "--dir"])
        .arg(dir.join("pki"))
        .output()
        .unwrap();
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
}

/// Rewrites the file at `path` with `from` replaced by `to` (which must be
/// there).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Writes a gateway configuration beside the Caritas connector's PKI in
/// `dir`, presenting `org`'s certificate of `role`, and the demo policy.
fn gateway_with(dir: &Path, org: &str, role: &str) -> PathBuf {
    issue(dir, org, role);
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.example.cedar");
    std::fs::copy(policy, dir.join("policy.cedar")).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "federation = \"demo\"\nlisten = \"127.0.0.1:0\"\npolicy = \"policy.cedar\"\n\
             [tls]\nca = \"pki/ca.pem\"\ncert = \"pki/{org}-{role}.pem\"\nkey = \"pki/{org}-{role}-key.pem\"\n\
             [audit]\ndatabase = \"gateway-audit.db\"\n\
             [[sources]]\norganisation = \"caritas\"\naddress = \"127.0.0.1:9\"\n"
        ),
    )
    .unwrap();
    config
}

/// How a start went.
#[derive(Debug)]
enum Start {
    /// The node printed `ready`; it runs until the child is killed.
    Ready(Child),
    /// The node stopped without serving; its standard error.
    Refused(String),
}

impl Start {
    /// The refusal's message; panics (stopping the node) if it started.
    fn refusal(self) -> String {
        match self {
            Start::Refused(stderr) => stderr,
            Start::Ready(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the node started and printed ready")
            }
        }
    }

    /// The running node; panics if it was refused.
    fn ready(self) -> Child {
        match self {
            Start::Ready(child) => child,
            Start::Refused(stderr) => panic!("the node did not start: {stderr}"),
        }
    }
}

/// Starts `trama <subcommand> --config <config>` and waits until it prints
/// `ready` or exits.
fn start(subcommand: &str, config: &Path) -> Start {
    let mut child = Command::new(exe())
        .args([subcommand, "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("trama: ready on ") {
                let _ = tx.send(());
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => Start::Ready(child),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Start::Refused(errors.join().unwrap())
        }
    }
}

/// Runs `trama <subcommand> --check-config <config>`: exit success,
/// standard output, standard error.
fn check_config(subcommand: &str, config: &Path) -> (bool, String, String) {
    let out = Command::new(exe())
        .args([subcommand, "--check-config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_gateway_given_a_client_certificate_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    caritas_with_mapping(dir.path(), str::to_string);
    let config = gateway_with(dir.path(), "comune", "client");
    let stderr = start("gateway", &config).refusal();
    assert!(
        stderr.contains(
            "gateway.toml: key `tls.cert`: certificate identity trama://demo/org/comune/client \
             has role client; a gateway needs a gateway certificate (issue one with `trama pki \
             issue --org comune --role gateway`)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_connector_with_another_organisations_certificate_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    issue(dir.path(), "asl", "connector");
    edit(&config, "pki/caritas-connector", "pki/asl-connector");
    let stderr = start("connector", &config).refusal();
    assert!(
        stderr.contains("connector.toml: key `organisation`: is `caritas`, but the certificate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("asl-connector.pem carries trama://demo/org/asl/connector"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`trama pki issue --org caritas --role connector`"),
        "{stderr}"
    );
}

#[test]
fn a_connector_given_a_node_certificate_as_its_ca_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    edit(
        &config,
        "ca = \"pki/ca.pem\"",
        "ca = \"pki/caritas-connector.pem\"",
    );
    let stderr = start("connector", &config).refusal();
    assert!(
        stderr.contains("connector.toml: key `tls.ca`: "),
        "{stderr}"
    );
    assert!(stderr.contains("is not a CA certificate"), "{stderr}");
    assert!(
        stderr.contains("set it to the federation CA certificate"),
        "{stderr}"
    );
}

#[test]
fn a_connector_of_another_federation_than_its_certificate_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    edit(&config, "federation = \"demo\"", "federation = \"regione\"");
    let stderr = start("connector", &config).refusal();
    assert!(
        stderr.contains("connector.toml: key `federation`: is `regione`, but the certificate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("of federation `demo`; set `federation = \"demo\"`"),
        "{stderr}"
    );
}

#[test]
fn check_config_passes_good_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let connector = caritas_with_mapping(dir.path(), str::to_string);
    let (ok, stdout, stderr) = check_config("connector", &connector);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("configuration ok\n"), "{stdout}");
    assert!(
        stdout.contains("trama://demo/org/caritas/connector"),
        "{stdout}"
    );
    assert!(stdout.contains("matches the database"), "{stdout}");
    let gateway = gateway_with(dir.path(), "hub", "gateway");
    let (ok, stdout, stderr) = check_config("gateway", &gateway);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("trama://demo/org/hub/gateway"), "{stdout}");
    for checked in ["statistics.cell_key", "referrals.key", "referral store"] {
        assert!(stdout.contains(checked), "{checked}: {stdout}");
    }
    // Nothing was created by checking.
    assert!(!dir.path().join("gateway-audit.db").exists());
    assert!(!dir.path().join("audit.db").exists());
    assert!(!dir.path().join("referrals.key").exists());
    assert!(!dir.path().join("statistics-cell.key").exists());
}

#[test]
fn check_config_names_every_file_the_gateway_could_not_write_or_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    caritas_with_mapping(dir.path(), str::to_string);
    let config = gateway_with(dir.path(), "hub", "gateway");
    // State in a directory nobody made, and a key other users may read.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "[audit]\n",
        "[statistics]\ncell_key = \"state/statistics-cell.key\"\n\
         [referrals]\nstore = \"state/referrals.db\"\nkey = \"state/referrals.key\"\n[audit]\n",
    );
    std::fs::write(&config, text).unwrap();
    let key = dir.path().join("pki/hub-gateway-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, stderr) = check_config("gateway", &config);
    assert!(!ok, "{stderr}");
    for expected in [
        "gateway.toml: key `statistics.cell_key`: ",
        "gateway.toml: key `referrals.key`: ",
        "gateway.toml: key `referrals.store`: ",
        "state does not exist; create it",
        "gateway.toml: key `tls.key`: ",
        "chmod 0600",
        "4 problem(s)",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // The same refusals stop a start.
    let refusal = start("gateway", &config).refusal();
    assert!(refusal.contains("tls.key"), "{refusal}");
}

#[test]
fn check_config_of_a_console_checks_its_certificates_accounts_and_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let config = console_with(dir.path(), "accounts = \"accounts.toml\"");
    let (ok, _, stderr) = check_config("console", &config);
    assert!(!ok, "{stderr}");
    // The HTTPS pair and the client certificate fit: only the missing
    // accounts file and the gateway that does not answer are problems.
    assert!(
        !stderr.contains("https.") && !stderr.contains("tls."),
        "{stderr}"
    );
    for expected in [
        "console.toml: key `accounts`: ",
        "console.toml: key `federation.gateway`: 127.0.0.1:9",
        "2 problem(s)",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[test]
fn check_config_lists_every_problem_of_a_connector() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), |m| {
        m.replace(
            "columns.amount = { column = \"valore\"",
            "columns.amount = { column = \"valore_euro\"",
        )
    });
    issue(dir.path(), "asl", "connector");
    edit(&config, "pki/caritas-connector", "pki/asl-connector");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[audit]\ndatabase = \"missing/audit.db\"\n");
    std::fs::write(&config, text).unwrap();
    let (ok, _, stderr) = check_config("connector", &config);
    assert!(!ok, "{stderr}");
    for expected in [
        "connector.toml: key `organisation`: is `caritas`",
        "key `sections.interventions[0].columns.amount`",
        "connector.toml: key `audit.database`: ",
        "3 problem(s)",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[test]
fn check_config_lists_every_problem_of_a_gateway() {
    let dir = tempfile::tempdir().unwrap();
    caritas_with_mapping(dir.path(), str::to_string);
    let config = gateway_with(dir.path(), "comune", "client");
    std::fs::write(
        dir.path().join("policy.cedar"),
        "permit(principal, action, resource",
    )
    .unwrap();
    let (ok, _, stderr) = check_config("gateway", &config);
    assert!(!ok, "{stderr}");
    for expected in [
        "gateway.toml: key `tls.cert`: certificate identity trama://demo/org/comune/client",
        "policy.cedar",
        "2 problem(s)",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

#[test]
fn a_node_opening_another_nodes_audit_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let caritas = caritas_with_mapping(dir.path(), str::to_string);
    let mut first = start("connector", &caritas).ready();
    first.kill().unwrap();
    first.wait().unwrap();

    // A second connector configured in the same directory: its audit
    // database defaults to the same audit.db.
    issue(dir.path(), "comune", "connector");
    let comune = dir.path().join("comune.toml");
    std::fs::write(
        &comune,
        std::fs::read_to_string(&caritas)
            .unwrap()
            .replace("caritas-connector", "comune-connector")
            .replace("organisation = \"caritas\"", "organisation = \"comune\""),
    )
    .unwrap();
    let stderr = start("connector", &comune).refusal();
    let store = dir.path().join("audit.db");
    assert!(
        stderr.contains(&format!(
            "audit database sqlite://{} belongs to trama://demo/org/caritas/connector",
            store.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("key `audit.database` in ") && stderr.contains("comune.toml"),
        "{stderr}"
    );
    // check-config says the same without starting.
    let (ok, _, stderr) = check_config("connector", &comune);
    assert!(!ok);
    assert!(
        stderr.contains("comune.toml: key `audit.database`: ")
            && stderr.contains("belongs to trama://demo/org/caritas/connector"),
        "{stderr}"
    );
}

#[test]
fn a_second_process_of_the_same_node_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = caritas_with_mapping(dir.path(), str::to_string);
    let mut first = start("connector", &config).ready();
    let second = start("connector", &config);
    let pid = first.id();
    let stderr = second.refusal();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        stderr.contains("is in use by another running process"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "process {pid}, trama://demo/org/caritas/connector"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("key `audit.database`"), "{stderr}");
}

/// Writes a console configuration for the comune beside the Caritas
/// connector's PKI in `dir`, with `sign_in` (its accounts and `[oidc]`
/// lines) appended.
fn console_with(dir: &Path, sign_in: &str) -> PathBuf {
    if !dir.join("pki").exists() {
        caritas_with_mapping(dir, str::to_string);
        issue(dir, "comune", "client");
        let web = Command::new(exe())
            .args(["pki", "web", "--name", "console", "--dir"])
            .arg(dir.join("pki"))
            .output()
            .unwrap();
        assert!(
            web.status.success(),
            "{}",
            String::from_utf8_lossy(&web.stderr)
        );
    }
    let config = dir.join("console.toml");
    std::fs::write(
        &config,
        format!(
            "organisation = \"comune\"\nlisten = \"127.0.0.1:0\"\n{sign_in}\n\
             [https]\ncert = \"pki/console-web.pem\"\nkey = \"pki/console-web-key.pem\"\n\
             [federation]\nname = \"demo\"\ngateway = \"127.0.0.1:9\"\n\
             [federation.tls]\nca = \"pki/ca.pem\"\ncert = \"pki/comune-client.pem\"\nkey = \"pki/comune-client-key.pem\"\n"
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_console_nobody_could_sign_in_to_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = console_with(dir.path(), "");
    let refusal = start("console", &config).refusal();
    assert!(refusal.contains("console.toml"), "{refusal}");
    assert!(refusal.contains("accounts"), "{refusal}");
    assert!(refusal.contains("[oidc]"), "{refusal}");
}

#[test]
fn a_console_whose_identity_provider_cannot_be_reached_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let oidc = format!(
        "[oidc]\nissuer = \"https://127.0.0.1:{port}\"\nclient_id = \"trama-console\"\n\
         redirect_url = \"https://127.0.0.1:8443/oidc/callback\"\nrole_claim = \"groups\"\n\
         roles = [{{ claim = \"servizi-sociali\", role = \"assistente_sociale\" }}]\n"
    );
    let config = console_with(dir.path(), &oidc);
    let refusal = start("console", &config).refusal();
    assert!(
        refusal.contains(&format!("oidc.issuer `https://127.0.0.1:{port}`")),
        "{refusal}"
    );
    // A mapping without a role is refused before anything is asked.
    let config = console_with(
        dir.path(),
        &oidc.replace("role = \"assistente_sociale\"", "role = \"\""),
    );
    let refusal = start("console", &config).refusal();
    assert!(refusal.contains("oidc.roles"), "{refusal}");
}

#[test]
fn check_names_the_offer_rows_that_do_not_map_by_key() {
    let dir = tempfile::tempdir().unwrap();
    // The listening centre publishes its desks; the price column holds
    // words, not a number.
    let config = caritas_with_mapping(dir.path(), |m| {
        format!(
            "{m}\n[[services]]\nsql = \"SELECT id, cognome, 'dodici euro' AS tariffa FROM persone LIMIT 2\"\n\
             columns.id = \"id\"\ncolumns.name = \"cognome\"\ncolumns.price = {{ column = \"tariffa\", unit = \"euro\" }}\n"
        )
    });
    let out = Command::new(exe())
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("offer: 4 service(s) publish"),
        "the other rows publish: {stdout}"
    );
    assert!(
        stderr.contains("key `services[1].columns.price`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 row(s) of the offer do not map"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("dodici"),
        "the row's text is not quoted: {stderr}"
    );
}

/// Marks the SQLite store at `path` as migrated by a newer Trama: a
/// migration this build does not know, applied.
fn migrated_by_a_newer_trama(path: &Path) {
    let url = format!("sqlite://{}", path.display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (7, 'from a newer Trama', 1, x'00', 0)",
        )
        .execute(&mut db)
        .await
        .unwrap();
        db.close().await.unwrap();
    });
}

#[test]
fn a_store_of_a_newer_schema_refuses_to_start_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let caritas = caritas_with_mapping(dir.path(), str::to_string);
    // A first start makes the audit log, at this build's schema version.
    let mut first = start("connector", &caritas).ready();
    first.kill().unwrap();
    first.wait().unwrap();
    let store = dir.path().join("audit.db");
    migrated_by_a_newer_trama(&store);

    let refusal = start("connector", &caritas).refusal();
    let expected = format!(
        "the audit log at sqlite://{} has schema version 7, from a newer Trama; this Trama ({}) knows versions up to {}",
        store.display(),
        env!("CARGO_PKG_VERSION"),
        trama_audit::store::SCHEMA.known()
    );
    assert!(refusal.contains(&expected), "{refusal}");
    assert!(
        refusal.contains("restore the backup taken before the upgrade"),
        "{refusal}"
    );
    // Reading it (audit verify) is refused the same way: its layout is unknown here.
    let out = Command::new(exe())
        .args(["audit", "verify", "--connector"])
        .arg(&caritas)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("schema version 7"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_whose_state_directory_is_missing_refuses_to_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    caritas_with_mapping(dir.path(), str::to_string);
    let config = gateway_with(dir.path(), "hub", "gateway");
    edit(
        &config,
        "database = \"gateway-audit.db\"",
        "database = \"state/gateway-audit.db\"",
    );
    let refusal = start("gateway", &config).refusal();
    assert!(refusal.contains("key `audit.database`"), "{refusal}");
    assert!(
        refusal.contains(&format!(
            "directory {} does not exist; create it",
            dir.path().join("state").display()
        )),
        "{refusal}"
    );
    assert!(!dir.path().join("state").exists(), "nothing was made");
}
