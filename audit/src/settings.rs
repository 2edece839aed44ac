//! The `[audit]` table the gateway's and the connectors' configuration
//! files share, and opening the log it describes: the database (created if
//! missing), the pseudonym key (created on first start) and the node's own
//! key for signing checkpoints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::chain::Signer;
use crate::{AuditError, AuditLog, LogOptions, Pseudonymiser, Store};

/// The `[audit]` table as written; every key has a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditTable {
    database: String,
    pseudonym_key: PathBuf,
    checkpoint_file: PathBuf,
    checkpoint_every: u64,
    checkpoint_interval_s: u64,
}

impl Default for AuditTable {
    fn default() -> Self {
        AuditTable {
            database: "audit.db".into(),
            pseudonym_key: "audit-pseudonym.key".into(),
            checkpoint_file: "audit-checkpoints.jsonl".into(),
            checkpoint_every: 1000,
            checkpoint_interval_s: 60,
        }
    }
}

/// Where an audit log lives and how it is sealed, with paths resolved.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `sqlite://...` (default `audit.db` beside the configuration) or
    /// `postgres://...`.
    pub database: String,
    /// The pseudonym key file (created on first start).
    pub pseudonym_key: PathBuf,
    /// The file every signed checkpoint is also appended to.
    pub checkpoint_file: PathBuf,
    /// Sign a checkpoint after this many entries.
    pub checkpoint_every: u64,
    /// And at least this often while entries are added.
    pub checkpoint_interval: Duration,
}

impl AuditTable {
    /// Resolves paths against `base` (the configuration's directory);
    /// `Err` names the key (`audit.<key>`) and the problem.
    pub fn resolve(self, base: &Path) -> Result<AuditSettings, (String, String)> {
        if self.checkpoint_every == 0 || self.checkpoint_interval_s == 0 {
            return Err((
                "audit.checkpoint_every".into(),
                "checkpoint_every and checkpoint_interval_s must be at least 1".into(),
            ));
        }
        let database =
            Store::url_of(base, &self.database).map_err(|p| ("audit.database".to_string(), p))?;
        Ok(AuditSettings {
            database,
            pseudonym_key: base.join(self.pseudonym_key),
            checkpoint_file: base.join(self.checkpoint_file),
            checkpoint_every: self.checkpoint_every,
            checkpoint_interval: Duration::from_secs(self.checkpoint_interval_s),
        })
    }
}

/// Opens the log `settings` describe, signing checkpoints with the private
/// key at `signing_key` (the node's TLS key).
pub async fn open(
    settings: &AuditSettings,
    signing_key: &Path,
) -> Result<(AuditLog, Pseudonymiser), AuditError> {
    if !settings.pseudonym_key.exists() {
        Pseudonymiser::generate(&settings.pseudonym_key)?;
        tracing::warn!(
            file = %settings.pseudonym_key.display(),
            "created a new pseudonym key for the audit log; back it up with the node's key"
        );
    }
    let pseudonyms = Pseudonymiser::load(&settings.pseudonym_key)?;
    let signer = Signer::load(signing_key)?;
    let store = Store::open(&settings.database, true).await?;
    let log = AuditLog::open(
        store,
        signer,
        LogOptions {
            checkpoint_every: settings.checkpoint_every,
            checkpoint_interval: settings.checkpoint_interval,
            checkpoint_file: Some(settings.checkpoint_file.clone()),
            ..LogOptions::default()
        },
    )
    .await?;
    Ok((log, pseudonyms))
}
