//! What the start-up checks of both kinds of node share: the report of
//! `--check-config` (every problem, not only the first), the certificate
//! check against the configuration, the audit log's files and database,
//! and the node as the owner of its audit log.

use std::net::SocketAddr;
use std::path::Path;

use trama_audit::{AuditSettings, Owner};
use trama_tls::check::NodeConfig;
use trama_tls::{NodeIdentity, TlsFiles};

/// What `--check-config` found.
#[derive(Debug, Default)]
pub struct Report {
    /// What was checked and passed (and what is worth knowing), one line
    /// each.
    pub passed: Vec<String>,
    /// Every problem, naming the file and the key.
    pub problems: Vec<String>,
}

impl Report {
    /// Checks the node's certificates against its configuration; returns
    /// the identity the certificate carries, if it reads as one.
    pub fn certificates(&mut self, tls: &TlsFiles, node: &NodeConfig<'_>) -> Option<NodeIdentity> {
        let (identity, misfits) = trama_tls::check::misfits(tls, node);
        match (&identity, misfits.is_empty()) {
            (Some(identity), true) => self
                .passed
                .push(format!("certificate {}: {identity}", tls.cert.display())),
            _ => self
                .problems
                .extend(misfits.iter().map(ToString::to_string)),
        }
        identity
    }

    /// Checks the audit log's files and database (nothing is created or
    /// locked), as `owner` would open it.
    pub async fn audit(&mut self, settings: &AuditSettings, owner: Option<&Owner>, config: &Path) {
        let audit = trama_audit::settings::check(settings, owner, config).await;
        if audit.problems.is_empty() {
            let url = trama_plumbing::redact(&settings.database);
            self.passed.push(format!("audit log {url}"));
        }
        self.problems.extend(audit.problems);
        self.passed.extend(audit.notes);
    }
}

/// The node as the owner of its audit log: its identity, its configuration
/// file (absolute, as the log will name it to whoever opens the store
/// next, wherever they run from) and its address.
pub fn owner(identity: &NodeIdentity, config: &Path, listen: SocketAddr) -> Owner {
    Owner {
        identity: identity.uri(),
        config: std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf()),
        listen: listen.to_string(),
    }
}
