#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test setup: a failure must stop the test"
)]

//! A sandbox federation for end-to-end tests: the lab's
//! [`FederationBuilder`] (the demo's PKI, partner databases, four connector
//! processes and a gateway process, started from the real `trama` binary on
//! loopback) in a temporary directory, with a small population.

#![allow(dead_code)]

pub mod chrome;
pub mod proxy;
pub mod web;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::Channel;
use trama_lab::demo::DemoArgs;
#[allow(unused_imports, reason = "each test file uses a part of them")]
pub use trama_lab::sandbox::{
    ConsoleAccount, Database, ExportRule, Federation, FederationBuilder, Mode, Policy, READY,
};
#[allow(unused_imports, reason = "each test file uses a part of them")]
pub use trama_lab::seed::Partner;
#[allow(unused_imports, reason = "each test file uses a part of them")]
pub use trama_lab::seed::population::FEATURED_CASE;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;
use trama_subject::codice_fiscale::{self, Person};
use trama_tls::TlsFiles;

/// The `trama` binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trama"))
}

/// Runs the `trama` binary with `args`: whether it succeeded, and what it
/// printed (standard output, then standard error).
#[allow(dead_code, reason = "not every test binary runs commands")]
pub fn run_trama<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> (bool, String) {
    let out = std::process::Command::new(exe())
        .args(args)
        .output()
        .expect("the trama binary runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// A running federation; stopped when dropped (children are killed on
/// drop).
pub struct Sandbox {
    /// The temporary directory holding everything.
    pub tmp: tempfile::TempDir,
    /// The processes.
    pub running: Federation,
    /// How it was started.
    pub args: DemoArgs,
}

impl Sandbox {
    /// Starts the demo federation with a small population, all on SQLite.
    pub async fn start() -> Sandbox {
        Sandbox::start_with(|b| b).await
    }

    /// Starts the demo federation with the comune on `postgres` and the asl
    /// on `mysql` where given (servers' URLs), in databases of its own.
    pub async fn start_on(postgres: Option<String>, mysql: Option<String>) -> Sandbox {
        Sandbox::start_with(|b| b.postgres(postgres).mysql(mysql)).await
    }

    /// Starts the federation `configure` makes of the sandbox's (the demo
    /// federation with a small population, all on SQLite).
    pub async fn start_with(
        configure: impl FnOnce(FederationBuilder) -> FederationBuilder,
    ) -> Sandbox {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let args = DemoArgs {
            dir: tmp.path().join("federation"),
            port: 0,
            subjects: 300,
            seed: 11,
            once: true,
            everyone: false,
            postgres: None,
            mysql: None,
            database_prefix: unique_name("trama_t"),
        };
        let builder = configure(args.builder().exe(exe()));
        let running = builder.start().await.expect("the federation starts");
        Sandbox { tmp, running, args }
    }

    /// Stops the processes and drops the databases made on servers.
    pub async fn cleanup(self) {
        self.running.teardown().await;
    }

    /// The federation's directory.
    pub fn dir(&self) -> PathBuf {
        self.running.dir.clone()
    }

    /// Certificate files of `org` with `role` from the federation's PKI.
    pub fn tls(&self, org: &str, role: &str) -> TlsFiles {
        self.running.tls(org, role)
    }

    /// A Federation client presenting `files`.
    pub fn client_with(&self, files: &TlsFiles) -> FederationClient<Channel> {
        self.running.client_with(files).expect("client channel")
    }

    /// A Federation client of the `org` client system.
    pub fn client(&self, org: &str) -> FederationClient<Channel> {
        self.client_with(&self.tls(org, "client"))
    }

    /// The contents of a process's log.
    pub fn log(&self, name: &str) -> String {
        self.running.log(name)
    }

    /// The address of `org`'s connector.
    pub fn connector_address(&self, org: &str) -> String {
        self.running
            .connector(org)
            .expect("known connector")
            .to_string()
    }
}

/// A request context for `purpose`, a social worker's under the featured
/// person's open case at the comune.
pub fn context(purpose: &str) -> Option<v1::RequestContext> {
    Some(v1::RequestContext {
        purpose: purpose.into(),
        case_id: FEATURED_CASE.into(),
        operator: Some(v1::Operator {
            id: "op-1".into(),
            role: "assistente_sociale".into(),
        }),
        legal_basis: String::new(),
    })
}

/// A request context of an operator with `role`, for `purpose` and case
/// `case` (empty: none).
pub fn ctx(role: &str, purpose: &str, case: &str) -> Option<v1::RequestContext> {
    Some(v1::RequestContext {
        purpose: purpose.into(),
        case_id: case.into(),
        operator: Some(v1::Operator {
            id: "op-test".into(),
            role: role.into(),
        }),
        legal_basis: String::new(),
    })
}

/// The tax code of the demo's featured person (known to all partners).
pub fn featured_tax_code() -> String {
    let (family, given, (y, m, d), sex, place) = trama_lab::seed::population::FEATURED;
    let birth = time::Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d)
        .expect("date");
    codice_fiscale::compute(&Person {
        family_name: family,
        given_name: given,
        birth_date: birth,
        sex,
        birthplace_code: place,
    })
    .expect("valid")
    .to_string()
}

/// The id of an open case the comune's SQLite database holds for the
/// person with `tax_code`, if any.
pub async fn open_case_at_comune(fed: &Sandbox, tax_code: &str) -> Option<String> {
    let file = fed.dir().join("comune").join("comune.db");
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .expect("the comune's database");
    let case = sqlx::query_scalar(
        "SELECT c.id_cartella FROM cartelle c JOIN assistiti a ON a.id_assistito = c.id_assistito \
         WHERE c.stato = 'APERTA' AND a.codice_fiscale = ? ORDER BY c.id_cartella LIMIT 1",
    )
    .bind(tax_code)
    .fetch_optional(&db)
    .await
    .expect("the comune's cases");
    db.close().await;
    case
}

/// A name no other test run uses at the same time (process id and a
/// counter), for databases on shared servers.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}{}_{n}", std::process::id())
}

/// The URL of a live server for tests, from `var` or `default`. A server
/// that does not answer fails the test in CI (`CI` set); elsewhere the test
/// is skipped, saying so loudly.
pub fn live_server(var: &str, default: &str) -> Option<String> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(['/', '?']).next())
        .unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let reachable = std::net::TcpStream::connect_timeout(
        &host
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        Duration::from_secs(2),
    )
    .is_ok();
    if reachable {
        return Some(url);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{var}: no database server answers at {host}; CI must run this test against a live server"
        );
    }
    eprintln!(
        "\n*** SKIPPED: no database server at {host} ({var}); start it to run this test ***\n"
    );
    None
}

/// PostgreSQL for tests (`TRAMA_TEST_POSTGRES`).
pub fn postgres() -> Option<String> {
    live_server(
        "TRAMA_TEST_POSTGRES",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// MySQL/MariaDB for tests (`TRAMA_TEST_MYSQL`).
pub fn mysql() -> Option<String> {
    live_server("TRAMA_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
}

/// `GET /metrics` from the address the gateway logged.
pub async fn scrape(fed: &Sandbox) -> String {
    let address = logged_address(|| fed.log("gateway"), "metrics on http://").await;
    let (status, body) = http_get(&address, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The address a process logged after `marker` (`health on http://`),
/// from its latest start (a restarted process logs a new one).
pub async fn logged_address(log: impl Fn() -> String, marker: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Some((_, rest)) = log().rsplit_once(marker) {
            return rest.split('/').next().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "`{marker}` logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET path` over plain HTTP/1.1 at `address`: the status and the body.
pub async fn http_get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let ask = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(ask.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// Asks `/readyz` at `address` until it answers `want` (200 or 503) or
/// `limit` passes: how long it took, if it did, and the last answer.
pub async fn readyz_within(
    address: &str,
    want: u16,
    limit: Duration,
) -> (Option<Duration>, String) {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http_get(address, "/readyz").await;
        if status == want {
            return (Some(started.elapsed()), body);
        }
        if started.elapsed() > limit {
            return (None, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every entry of the gateway's audit log, in order.
pub async fn gateway_audit(fed: &Sandbox) -> Vec<trama_audit::Entry> {
    audit_entries(&fed.dir().join("audit.db")).await
}

/// Every entry of `org`'s connector's audit log, in order.
pub async fn connector_audit(fed: &Sandbox, org: &str) -> Vec<trama_audit::Entry> {
    audit_entries(&fed.dir().join(org).join("audit.db")).await
}

/// Every entry of the audit log in the SQLite file `file`, in order.
async fn audit_entries(file: &Path) -> Vec<trama_audit::Entry> {
    let url = trama_audit::Store::sqlite_url(file);
    let store = trama_audit::Store::open(&url, false).await.unwrap();
    let rows = store.entries_after(0, 100_000).await.unwrap();
    store.close().await;
    rows.iter()
        .map(|r| trama_audit::Entry::from_payload(&r.payload).unwrap())
        .collect()
}

/// The planning office's question for a table by `by`, with `filters`.
pub fn planning_table(by: &[&str], filters: &[(&str, &[&str])]) -> v1::AggregateRequest {
    v1::AggregateRequest {
        context: ctx("ufficio_di_piano", "programmazione", ""),
        group_by: by.iter().map(|s| s.to_string()).collect(),
        filters: filters
            .iter()
            .map(|(d, v)| v1::Filter {
                dimension: d.to_string(),
                values: v.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    }
}

/// A statistics table asked as the comune's client system.
pub async fn aggregate(
    fed: &Sandbox,
    req: v1::AggregateRequest,
) -> Result<v1::AggregateResponse, tonic::Status> {
    fed.client("comune")
        .aggregate(req)
        .await
        .map(|r| r.into_inner())
}
