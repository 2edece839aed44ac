//! The gateway's start-up checks: its certificates against its
//! configuration (run by [`crate::serve`] before anything starts), and
//! `trama gateway --check-config`, which runs every check a start would —
//! configuration, certificates, policy, audit files and database — and
//! reports every problem rather than the first.

use std::path::Path;

use trama_audit::Owner;
use trama_tls::check::NodeConfig;
use trama_tls::{NodeIdentity, Role, TlsError};

use crate::GatewayConfig;
use crate::policy::Policy;

/// The gateway's identity from its certificate, refused unless the
/// certificate fits the configuration (a `gateway` of the configured
/// federation, issued by the configured CA).
pub fn identity(config: &GatewayConfig) -> Result<NodeIdentity, TlsError> {
    trama_tls::check::node_identity(&config.tls, &node(config))
}

/// The gateway as the owner of its audit log.
pub fn owner(config: &GatewayConfig, identity: &NodeIdentity) -> Owner {
    Owner {
        identity: identity.uri(),
        // As the log will name it to whoever opens the store next,
        // wherever they run from.
        config: std::fs::canonicalize(&config.path).unwrap_or_else(|_| config.path.clone()),
        listen: config.listen.to_string(),
    }
}

fn node(config: &GatewayConfig) -> NodeConfig<'_> {
    NodeConfig {
        file: &config.path,
        federation: &config.federation,
        organisation: None,
        role: Role::Gateway,
    }
}

/// What `--check-config` found.
#[derive(Debug, Default)]
pub struct Report {
    /// What was checked and passed, one line each.
    pub passed: Vec<String>,
    /// Every problem, naming the file and the key.
    pub problems: Vec<String>,
}

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
    let (identity, misfits) = trama_tls::check::misfits(&config.tls, &node(&config));
    match (&identity, misfits.is_empty()) {
        (Some(identity), true) => report.passed.push(format!(
            "certificate {}: {identity}",
            config.tls.cert.display()
        )),
        _ => report
            .problems
            .extend(misfits.iter().map(ToString::to_string)),
    }
    match Policy::load(&config.policy) {
        Ok(policy) => report.passed.push(format!(
            "policy {}: {} polic(ies)",
            config.policy.display(),
            policy.len()
        )),
        Err(e) => report.problems.push(e.to_string()),
    }
    let owner = identity.as_ref().map(|i| owner(&config, i));
    let audit = trama_audit::settings::check(&config.audit, owner.as_ref(), path).await;
    if audit.problems.is_empty() {
        let url = trama_audit::redact(&config.audit.database);
        report.passed.push(format!("audit log {url}"));
    }
    report.problems.extend(audit.problems);
    report.passed.extend(audit.notes);
    report
}
