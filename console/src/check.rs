//! `trama console --check-config`: every check a start would make, without
//! starting, every problem at once: the file, the HTTPS certificate and
//! key, the organisation's client certificate against the configured
//! organisation and federation, the accounts file, the identity provider
//! (discovered as at start) and the gateway (asked for its health over the
//! organisation's mutual-TLS channel).

use std::path::Path;
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use trama_node::check::Report;
use trama_tls::Role;
use trama_tls::check::NodeConfig;

use crate::ConsoleConfig;

/// How long the identity provider and the gateway may take to answer.
const ASK: Duration = Duration::from_secs(5);

/// Runs every start-up check on the configuration at `path`.
pub async fn check_config(path: &Path) -> Report {
    let mut report = Report::default();
    let config = match ConsoleConfig::load(path) {
        Ok(config) => config,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    report.passed.push(format!(
        "{}: organisation {} of federation {}, listening on {}",
        path.display(),
        config.organisation,
        config.federation.name,
        config.listen
    ));
    check_https(&config, &mut report);
    let node = NodeConfig {
        file: path,
        federation: &config.federation.name,
        organisation: Some(&config.organisation),
        role: Role::Client,
    };
    report.certificates(&config.federation.tls, &node);
    check_sign_in(&config, &mut report).await;
    check_sessions(&config, &mut report).await;
    check_gateway(&config, &mut report).await;
    report
}

/// A problem with `key` of the configuration file.
fn problem(config: &ConsoleConfig, key: &str, problem: impl std::fmt::Display) -> String {
    format!("{}: key `{key}`: {problem}", config.path.display())
}

fn check_https(config: &ConsoleConfig, report: &mut Report) {
    match crate::https_config(&config.https) {
        Ok(_) => report
            .passed
            .push(format!("HTTPS certificate {}", config.https.cert.display())),
        Err(e) => report.problems.push(problem(config, "https.cert", e)),
    }
}

/// The accounts file reads, and the identity provider answers discovery.
async fn check_sign_in(config: &ConsoleConfig, report: &mut Report) {
    if let Some(file) = &config.accounts {
        match crate::accounts::Accounts::load(file) {
            Ok(accounts) => report.passed.push(format!(
                "accounts {}: {} account(s)",
                file.display(),
                accounts.len()
            )),
            Err(e) => report.problems.push(problem(config, "accounts", e)),
        }
    }
    if let Some(oidc) = &config.oidc {
        match tokio::time::timeout(ASK, crate::oidc::Provider::discover(oidc)).await {
            Ok(Ok(_)) => report
                .passed
                .push(format!("identity provider {}", oidc.issuer)),
            Ok(Err(e)) => report.problems.push(problem(config, "oidc.issuer", e)),
            Err(_) => report.problems.push(problem(
                config,
                "oidc.issuer",
                format!("{} did not answer within {} s", oidc.issuer, ASK.as_secs()),
            )),
        }
    }
}

/// The gateway answers its health check over the organisation's channel.
/// The shared session store answers, with a schema this console knows
/// (a SQLite file may not exist yet: then its directory must take it),
/// and the key file reads, or can be made; nothing is created.
async fn check_sessions(config: &ConsoleConfig, report: &mut Report) {
    let Some(s) = &config.sessions else { return };
    let key = if s.key_file.exists() {
        trama_plumbing::sealed::read_key_file(&s.key_file).map(drop)
    } else {
        trama_plumbing::files::creatable(&s.key_file)
    };
    if let Err(e) = key {
        report
            .problems
            .push(problem(config, "sessions.key_file", e));
    }
    let database = match trama_plumbing::durable::sqlite_path(&s.database) {
        Some(path) if !path.exists() => trama_plumbing::files::creatable(&path),
        _ => reachable(&s.database).await,
    };
    match database {
        Ok(()) => report.passed.push(format!(
            "sessions kept in {}, sealed with {}",
            trama_plumbing::redact(&s.database),
            s.key_file.display()
        )),
        Err(e) => report
            .problems
            .push(problem(config, "sessions.database", e)),
    }
}

/// Whether the store at `url` opens, with a schema this console knows.
async fn reachable(url: &str) -> Result<(), String> {
    let pool = trama_plumbing::durable::open(url, false, &[])
        .await
        .map_err(|e| e.to_string())?;
    let known = crate::shared::SCHEMA.refuse_newer(&pool, url).await;
    pool.close().await;
    known.map_err(|e| e.to_string())
}

async fn check_gateway(config: &ConsoleConfig, report: &mut Report) {
    let channel = match crate::federation_channel(config) {
        Ok(channel) => channel,
        Err(e) => {
            report
                .problems
                .push(problem(config, "federation.gateway", e));
            return;
        }
    };
    let mut ask = tonic::Request::new(HealthCheckRequest {
        service: "trama.v1.Federation".into(),
    });
    ask.set_timeout(ASK);
    let gateway = &config.federation.gateway;
    match tokio::time::timeout(ASK, HealthClient::new(channel).check(ask)).await {
        Ok(Ok(_)) => report.passed.push(format!("gateway {gateway} answers")),
        Ok(Err(status)) => report.problems.push(problem(
            config,
            "federation.gateway",
            format!(
                "{gateway} refused: {:?}: {}",
                status.code(),
                status.message()
            ),
        )),
        Err(_) => report.problems.push(problem(
            config,
            "federation.gateway",
            format!("{gateway} did not answer within {} s", ASK.as_secs()),
        )),
    }
}
