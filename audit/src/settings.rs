//! The `[audit]` table the gateway's and the connectors' configuration
//! files share, and opening the log it describes: the database (created if
//! missing, and kept to one node: see [`crate::owner`]), the pseudonym key
//! (created on first start) and the node's own key for signing checkpoints;
//! and checking, without creating anything, that it could be opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use trama_plumbing::files::{appendable, creatable};

use crate::chain::Signer;
use crate::{AuditError, AuditLog, LogOptions, Owner, Pseudonymiser, Store};

/// The `[audit]` table as written; every key has a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditTable {
    database: String,
    pseudonym_key: PathBuf,
    checkpoint_file: PathBuf,
    checkpoint_every: u64,
    checkpoint_interval_s: u64,
    retention_days: Option<u32>,
    replica: Option<String>,
}

impl Default for AuditTable {
    fn default() -> Self {
        AuditTable {
            database: "audit.db".into(),
            pseudonym_key: "audit-pseudonym.key".into(),
            checkpoint_file: "audit-checkpoints.jsonl".into(),
            checkpoint_every: 1000,
            checkpoint_interval_s: 60,
            retention_days: None,
            replica: None,
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
    /// Entries sealed longer ago than this are removed; `None` keeps every
    /// entry.
    pub retention: Option<Duration>,
    /// The chain this node writes: on PostgreSQL the replica's name
    /// (`audit.replica`, by default the host name), `""` in a SQLite file.
    pub chain: String,
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
        if self.retention_days == Some(0) {
            return Err((
                "audit.retention_days".into(),
                "at least 1 day; leave it out to keep every entry".into(),
            ));
        }
        let database = trama_plumbing::durable::url_of(base, &self.database)
            .map_err(|p| ("audit.database".to_string(), p))?;
        let chain = chain_of(&database, self.replica)?;
        Ok(AuditSettings {
            chain,
            database,
            pseudonym_key: base.join(self.pseudonym_key),
            checkpoint_file: base.join(self.checkpoint_file),
            checkpoint_every: self.checkpoint_every,
            checkpoint_interval: Duration::from_secs(self.checkpoint_interval_s),
            retention: self
                .retention_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
        })
    }
}

/// The chain a node writes: a SQLite file has one, `""`; on PostgreSQL
/// each replica writes its own, named `replica` or after the host (a
/// Kubernetes pod's name), so replicas need no configuration of their own.
fn chain_of(database: &str, replica: Option<String>) -> Result<String, (String, String)> {
    let key = || "audit.replica".to_string();
    if database.starts_with("sqlite:") {
        return match replica {
            None => Ok(String::new()),
            Some(_) => Err((
                key(),
                "a SQLite audit file has one writer and one chain; replicas share a \
                 postgres:// audit database. Remove audit.replica or change audit.database"
                    .into(),
            )),
        };
    }
    let name = match replica {
        Some(name) => name,
        None => host_name().ok_or_else(|| {
            (
                key(),
                "the host name cannot be read; name this replica (for example replica = \"gateway-1\")"
                    .to_string(),
            )
        })?,
    };
    replica_name(&name).map_err(|problem| (key(), problem))?;
    Ok(name)
}

/// The machine's host name (Linux), or `$HOSTNAME`.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Refuses a replica name that is not 1 to 63 letters, digits, `.`, `_`
/// or `-` (a host name fits; the name is shown in the access log).
pub fn replica_name(name: &str) -> Result<(), String> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 63 || !name.chars().all(fits) {
        return Err(format!(
            "`{name}` is not a replica name: 1 to 63 letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

/// Opens the log `settings` describe for `owner` to write (refused if
/// another node owns it or another process has it open), signing
/// checkpoints with the private key at `signing_key` (the node's TLS key).
pub async fn open(
    settings: &AuditSettings,
    signing_key: &Path,
    owner: &Owner,
) -> Result<(AuditLog, Pseudonymiser), AuditError> {
    usable(settings)?;
    let store = Store::open_owned(&settings.database, &settings.chain, owner).await?;
    if !settings.pseudonym_key.exists() {
        Pseudonymiser::generate(&settings.pseudonym_key)?;
        tracing::warn!(
            file = %settings.pseudonym_key.display(),
            "created a new pseudonym key for the audit log; back it up with the node's key"
        );
    }
    let pseudonyms = Pseudonymiser::load(&settings.pseudonym_key)?;
    let signer = Signer::load(signing_key)?;
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
    seal_orphans_later(log.store().clone(), signing_key, settings);
    if let Some(keep) = settings.retention {
        crate::retention::keep(log.store().clone(), keep);
    }
    Ok((log, pseudonyms))
}

/// Seals, in the background, the chains of replicas that are gone
/// ([`crate::orphans`]); a failure is logged, the node serves anyway.
fn seal_orphans_later(store: Store, signing_key: &Path, settings: &AuditSettings) {
    if store.shared_pool().is_none() {
        return;
    }
    let key = signing_key.to_path_buf();
    let file = settings.checkpoint_file.clone();
    tokio::spawn(async move {
        let sealed = match Signer::load(&key) {
            Ok(signer) => crate::orphans::seal_orphans(&store, &signer, Some(file)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sealed {
            tracing::warn!(error = %e, "the chains of replicas that are gone could not be sealed");
        }
    });
}

/// Refuses, before anything is opened, files the log would write where it
/// cannot: a SQLite database, the pseudonym key (made on first start) and
/// the checkpoint file, each in a directory that exists and takes files.
fn usable(settings: &AuditSettings) -> Result<(), AuditError> {
    let database = crate::owner::sqlite_path(&settings.database);
    let files = [
        ("audit.database", database.as_deref()),
        (
            "audit.checkpoint_file",
            Some(settings.checkpoint_file.as_path()),
        ),
    ];
    for (key, path) in files {
        if let Some(path) = path {
            appendable(path).map_err(|problem| AuditError::Unusable { key, problem })?;
        }
    }
    if !settings.pseudonym_key.exists() {
        creatable(&settings.pseudonym_key).map_err(|problem| AuditError::Unusable {
            key: "audit.pseudonym_key",
            problem,
        })?;
    }
    Ok(())
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Why the log could not be opened, each naming the configuration file
    /// and the key (`audit.<key>`).
    pub problems: Vec<String>,
    /// What is worth knowing but would not stop the node (a process running
    /// now holds the log).
    pub notes: Vec<String>,
}

/// Checks that `owner` could open the log `settings` describe, without
/// creating, locking or writing anything: the pseudonym key loads or can be
/// created, the checkpoint file and the database can be written or
/// created, and the database belongs to no other node (not checked when
/// the node's identity is not known). Problems name `config`, the
/// configuration file the settings come from.
pub async fn check(settings: &AuditSettings, owner: Option<&Owner>, config: &Path) -> Checked {
    let mut found: Vec<(&str, String)> = Vec::new();
    let key = &settings.pseudonym_key;
    if key.exists() {
        if let Err(e) = Pseudonymiser::load(key) {
            found.push(("audit.pseudonym_key", e.to_string()));
        }
    } else if let Err(problem) = creatable(key) {
        found.push(("audit.pseudonym_key", problem));
    }
    if let Err(problem) = appendable(&settings.checkpoint_file) {
        found.push(("audit.checkpoint_file", problem));
    }
    let mut notes = Vec::new();
    if let Err(problems) = check_database(&settings.database, owner, &mut notes).await {
        found.extend(problems.into_iter().map(|p| ("audit.database", p)));
    }
    let problems = found
        .into_iter()
        .map(|(key, problem)| format!("{}: key `{key}`: {problem}", config.display()))
        .collect();
    Checked { problems, notes }
}

async fn check_database(
    url: &str,
    owner: Option<&Owner>,
    notes: &mut Vec<String>,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    match crate::owner::sqlite_path(url) {
        Some(path) if !path.exists() => return creatable(&path).map_err(|p| vec![p]),
        Some(path) => {
            problems.extend(appendable(&path).err());
            if let Some(holder) = crate::owner::sqlite_lock_holder(url) {
                notes.push(format!(
                    "audit database {}: in use now ({holder}); another process would be refused",
                    trama_plumbing::redact(url)
                ));
            }
        }
        None => {}
    }
    let store = Store::open(url, false)
        .await
        .map_err(|e| vec![e.to_string()])?;
    // A store no node has written yet has no owner table: nothing to refuse.
    if let (Some(owner), Ok(Some((recorded, since)))) = (owner, store.owner().await)
        && recorded.identity != owner.identity
    {
        let refused = AuditError::Owned {
            url: store.url().to_string(),
            owner: Box::new(recorded),
            since,
            me: Box::new(owner.clone()),
        };
        problems.push(refused.to_string());
    }
    store.close().await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
