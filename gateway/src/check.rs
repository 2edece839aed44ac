//! The gateway's start-up checks: its certificates against its
//! configuration (run by [`crate::serve`] before anything starts), and
//! `trama gateway --check-config`, which runs every check a start would —
//! configuration, certificates, policy, audit files and database, the
//! statistics and referral keys, the referral store — and reports every
//! problem rather than the first.

use std::path::Path;
use std::time::Duration;

use trama_audit::Owner;
use trama_tls::check::NodeConfig;
use trama_tls::{NodeIdentity, Role, TlsError};

use crate::GatewayConfig;
use crate::policy::Policy;
use crate::referrals::seal::Sealer;

/// The gateway's identity from its certificate, refused unless the
/// certificate fits the configuration (a `gateway` of the configured
/// federation, issued by the configured CA).
pub fn identity(config: &GatewayConfig) -> Result<NodeIdentity, TlsError> {
    trama_tls::check::node_identity(&config.tls, &node(config))
}

/// The gateway as the owner of its audit log.
pub fn owner(config: &GatewayConfig, identity: &NodeIdentity) -> Owner {
    trama_node::check::owner(identity, &config.path, config.listen)
}

fn node(config: &GatewayConfig) -> NodeConfig<'_> {
    NodeConfig {
        file: &config.path,
        federation: &config.federation,
        organisation: None,
        role: Role::Gateway,
    }
}

pub use trama_node::check::Report;

/// Runs every start-up check on the configuration at `path` without
/// starting: the file, the certificates, the policy, and the audit log's
/// files and database (nothing is created or locked).
pub async fn check_config(path: &Path) -> Report {
    let mut report = Report::default();
    let config = match GatewayConfig::load(path) {
        Ok(config) => config,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    report.passed.push(format!(
        "{}: federation {}, listening on {}, {} source(s)",
        path.display(),
        config.federation,
        config.listen,
        config.sources.len()
    ));
    let identity = report.certificates(&config.tls, &node(&config));
    match Policy::load(&config.policy) {
        Ok(policy) => report.passed.push(format!(
            "policy {}: {} polic(ies)",
            config.policy.display(),
            policy.len()
        )),
        Err(e) => report.problems.push(e.to_string()),
    }
    let owner = identity.as_ref().map(|i| owner(&config, i));
    report.audit(&config.audit, owner.as_ref(), path).await;
    check_keys(&config, &mut report);
    check_referral_store(&config, &mut report).await;
    report
}

/// Reads a key file as the gateway does at start.
type ReadKey = dyn Fn(&Path) -> Result<(), String>;

/// How long the referral store may take to answer the check.
const STORE_CHECK: Duration = Duration::from_secs(5);

/// The statistics cell key and the referral key: each read as the gateway
/// reads it, or, missing, creatable where the gateway will make it on its
/// first start.
fn check_keys(config: &GatewayConfig, report: &mut Report) {
    let read_cell = |p: &Path| {
        crate::stats::cell_key(p)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let read_referral = |p: &Path| Sealer::open(p).map(drop).map_err(|e| e.to_string());
    let checks: [(&str, &Path, &ReadKey); 2] = [
        (
            "statistics.cell_key",
            &config.statistics.cell_key,
            &read_cell,
        ),
        ("referrals.key", &config.referrals.key, &read_referral),
    ];
    for (key, path, read) in checks {
        // Never made here: a missing key is made by the gateway's first start.
        let found = if path.exists() {
            read(path)
        } else {
            trama_plumbing::files::creatable(path)
        };
        match found {
            Ok(()) => report.passed.push(format!("{key} {}", path.display())),
            Err(problem) => report
                .problems
                .push(format!("{}: key `{key}`: {problem}", config.path.display())),
        }
    }
}

/// The referral store: a SQLite file that takes writes (or can be made),
/// or a PostgreSQL server that answers.
async fn check_referral_store(config: &GatewayConfig, report: &mut Report) {
    let url = &config.referrals.store;
    let shown = trama_plumbing::redact(url);
    let found = match url.strip_prefix("sqlite://") {
        Some(file) => {
            trama_plumbing::files::appendable(Path::new(file.split('?').next().unwrap_or(file)))
        }
        None => {
            match tokio::time::timeout(STORE_CHECK, trama_plumbing::durable::open(url, false, &[]))
                .await
            {
                Ok(Ok(pool)) => {
                    pool.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(format!("{shown}: {e}")),
                Err(_) => Err(format!(
                    "{shown} did not answer within {} s",
                    STORE_CHECK.as_secs()
                )),
            }
        }
    };
    match found {
        Ok(()) => report.passed.push(format!("referral store {shown}")),
        Err(problem) => report.problems.push(format!(
            "{}: key `referrals.store`: {problem}",
            config.path.display()
        )),
    }
}
