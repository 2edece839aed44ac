//! Trama's audit log: append-only, hash-chained entries written durably in
//! batches (group commit) before an answer leaves, periodic checkpoints
//! signed with the node's own key, and a verifier that finds any altered,
//! deleted, inserted or reordered entry and a truncated tail.
//!
//! The gateway keeps one for every Federation call; each connector keeps
//! one of what it released. Entries never hold record contents, names or
//! tax codes in clear: subjects are keyed pseudonyms ([`Pseudonymiser`]).
//!
//! Storage is SQLite (embedded, the default) or PostgreSQL, through the
//! same code ([`store`]). Module map: [`entry`] is what one entry says;
//! [`chain`] hashes and signs; [`pseudonym`] makes subject pseudonyms;
//! [`store`] reads and writes the tables; [`owner`] keeps a store to the
//! one node that writes it (a chain to one process); [`orphans`] seals the
//! chains of replicas that are gone; [`log`] is the group-commit writer; [`search`] reads it back for the
//! access log, filtered and in pages; [`verify`] checks a log; [`settings`] is the `[audit]` table of
//! the configuration files and opens the log it names.

pub mod chain;
pub mod entry;
pub mod log;
pub mod orphans;
pub mod owner;
pub mod pseudonym;
pub mod retention;
pub mod search;
pub mod settings;
pub mod store;
pub mod verify;

use std::path::PathBuf;

pub use entry::{Entry, SourceEntry};
pub use log::{AuditLog, LogOptions};
pub use owner::Owner;
pub use pseudonym::Pseudonymiser;
pub use settings::{AuditSettings, AuditTable};
pub use store::{Horizon, Store};
pub use verify::{Problem, Report};

/// Why the audit log cannot be opened, written or verified.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store's schema is newer than this node knows, or cannot be
    /// migrated.
    #[error(transparent)]
    Schema(#[from] trama_plumbing::schema::SchemaError),
    /// A file of the log cannot be written where the configuration puts
    /// it.
    #[error("key `{key}`: {problem}")]
    Unusable {
        /// The configuration key.
        key: &'static str,
        /// What is wrong, with the fix.
        problem: String,
    },
    /// The database refused an operation.
    #[error("audit database {url}: {source}")]
    Database {
        /// The database URL, without credentials.
        url: String,
        /// The error.
        source: sqlx::Error,
    },
    /// A file (key, certificate, checkpoint file) could not be read or
    /// written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key or certificate is not usable.
    #[error("{path}: {problem}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A stored entry or checkpoint cannot be read back.
    #[error("audit entry {seq}: {problem}")]
    Corrupt {
        /// The sequence number.
        seq: i64,
        /// What is wrong.
        problem: String,
    },
    /// The store belongs to another node.
    #[error(
        "audit database {url} belongs to {owner} since {since}; this node is {me}: give it an \
         audit database of its own (key `audit.database` in {})",
        me.config.display()
    )]
    Owned {
        /// The database URL, without credentials.
        url: String,
        /// The node recorded as its owner.
        owner: Box<Owner>,
        /// When the owner first opened it.
        since: String,
        /// The node refused.
        me: Box<Owner>,
    },
    /// Another running process has the store open for writing.
    #[error(
        "audit database {url} is in use by another running process: {holder}; stop that \
         process, or give this node an audit database of its own (key `audit.database`)"
    )]
    InUse {
        /// The database URL, without credentials.
        url: String,
        /// Who holds it, as far as is known.
        holder: String,
    },
    /// The writer has stopped (the process is shutting down, or the
    /// database failed and the log refuses to go on).
    #[error("the audit log is not accepting entries: {0}")]
    Closed(String),
}
