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
    report
}
