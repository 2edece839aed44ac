//! Who an audit store belongs to. One node writes one log: the first node to
//! open a store for writing records its identity in it, and a node of
//! another identity is refused; a second running process writing the same
//! chain, of any node, is refused by a lock held while the log is open (an
//! exclusive `flock` on `<file>.lock` beside a SQLite file, a session
//! advisory lock per chain on PostgreSQL). Without them, two nodes sharing a
//! database by mistake would each extend the other's chain and fail every
//! call. Replicas of one node (the same identity) share a PostgreSQL store,
//! each writing its own chain: a replica joins by opening it, with no
//! change to the others.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, Row};

use crate::{AuditError, Store};

/// The first half of a chain's PostgreSQL advisory lock key (advisory
/// locks are per database, so one constant serves every store): "tram" in
/// ASCII. The second half is the chain name's `hashtext`.
const ADVISORY_KEY: i32 = 0x74_72_61_6d;

/// The node that writes an audit store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The node's federation identity, `trama://demo/org/comune/connector`.
    pub identity: String,
    /// The node's configuration file.
    pub config: PathBuf,
    /// The address the node listens on, as configured.
    pub listen: String,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (configuration {}, listening on {})",
            self.identity,
            self.config.display(),
            self.listen
        )
    }
}

/// What keeps other processes out of a store while it is open for writing;
/// released when the last clone of the store is dropped (or the process
/// ends, whatever way it ends).
pub(crate) struct StoreLock {
    _file: Option<File>,
    _session: Option<Mutex<AnyConnection>>,
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLock")
    }
}

impl Store {
    /// Opens the audit database at `url` for `owner` to write `chain` (the
    /// replica's name on PostgreSQL; `""` for a SQLite file, its only
    /// chain): creates what is missing, takes the chain's lock, and records
    /// `owner` on the chain's first open. Refused if another process holds
    /// the lock ([`AuditError::InUse`]) or another node owns the store
    /// ([`AuditError::Owned`]).
    pub async fn open_owned(url: &str, chain: &str, owner: &Owner) -> Result<Store, AuditError> {
        let file = match sqlite_path(url) {
            Some(path) => Some(lock_file(url, &path, owner)?),
            None => None,
        };
        let mut store = Store::open(url, true).await?;
        store.chain = chain.to_string();
        let session = if url.starts_with("sqlite:") {
            None
        } else {
            Some(Mutex::new(store.lock_session().await?))
        };
        store.lock = Some(Arc::new(StoreLock {
            _file: file,
            _session: session,
        }));
        store.claim(owner).await?;
        Ok(store)
    }

    /// The node recorded as the store's owner (the writer of its first
    /// chain; replicas share the identity), and since when; `None` if no
    /// node has opened it for writing yet.
    pub async fn owner(&self) -> Result<Option<(Owner, String)>, AuditError> {
        let row = sqlx::query(
            "SELECT identity, config, listen, since FROM trama_audit_owner \
             ORDER BY since, chain LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let text = |i: usize| row.try_get::<String, _>(i).map_err(|e| self.err(e));
        let owner = Owner {
            identity: text(0)?,
            config: PathBuf::from(text(1)?),
            listen: text(2)?,
        };
        Ok(Some((owner, text(3)?)))
    }

    /// Records `me` as the writer of this chain unless a node already is,
    /// and refuses a store another identity owns (any of its chains).
    async fn claim(&self, me: &Owner) -> Result<(), AuditError> {
        if let Some((owner, since)) = self.owner().await?
            && owner.identity != me.identity
        {
            return Err(AuditError::Owned {
                url: self.url.clone(),
                owner: Box::new(owner),
                since,
                me: Box::new(me.clone()),
            });
        }
        let recorded = sqlx::query(
            "INSERT INTO trama_audit_owner (id, chain, identity, config, listen, since) \
             VALUES (1, $5, $1, $2, $3, $4) ON CONFLICT (chain) DO NOTHING",
        )
        .bind(&me.identity)
        .bind(me.config.display().to_string())
        .bind(&me.listen)
        .bind(trama_plumbing::clock::now())
        .bind(&self.chain)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        if recorded.rows_affected() == 1 {
            tracing::info!(store = %self.url, identity = %me.identity, chain = %self.chain, "audit chain recorded as this node's");
        }
        match self.owner().await? {
            Some((owner, _)) if owner.identity == me.identity => Ok(()),
            Some((owner, since)) => Err(AuditError::Owned {
                url: self.url.clone(),
                owner: Box::new(owner),
                since,
                me: Box::new(me.clone()),
            }),
            None => Err(AuditError::Closed(format!(
                "{}: the owner could not be recorded",
                self.url
            ))),
        }
    }

    /// A connection of its own holding the chain's advisory lock, for as
    /// long as it is kept; `None` when another session holds it (a running
    /// replica writes the chain). PostgreSQL only.
    pub(crate) async fn try_lock_chain(&self) -> Result<Option<AnyConnection>, AuditError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?.detach();
        let row = sqlx::query("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(ADVISORY_KEY)
            .bind(&self.chain)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let locked: bool = row.try_get(0).map_err(|e| self.err(e))?;
        Ok(locked.then_some(conn))
    }

    /// A connection of its own holding the store's advisory lock, for as
    /// long as it is kept.
    async fn lock_session(&self) -> Result<AnyConnection, AuditError> {
        if let Some(conn) = self.try_lock_chain().await? {
            Ok(conn)
        } else {
            Err(AuditError::InUse {
                url: self.url.clone(),
                holder: format!(
                    "another process writes its chain `{}` (advisory lock {ADVISORY_KEY} with \
                     hashtext('{}'); see pg_locks for its pid): give each replica its own \
                     name (audit.replica)",
                    self.chain, self.chain
                ),
            })
        }
    }
}

pub use trama_plumbing::durable::sqlite_path;

/// The lock file beside a SQLite database.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the exclusive lock beside the SQLite database `db` and writes who
/// holds it into the lock file, for the next process to name.
fn lock_file(url: &str, db: &Path, owner: &Owner) -> Result<File, AuditError> {
    let path = lock_path(db);
    let io = |source| AuditError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(AuditError::InUse {
                url: trama_plumbing::redact(url),
                holder: holder_of(&mut file, &path),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let holder = format!("process {}, {owner}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()))
        .map_err(io)?;
    Ok(file)
}

/// Who holds a lock file, as it says.
fn holder_of(file: &mut File, path: &Path) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim() {
        "" => format!("its lock {} is held", path.display()),
        holder => format!("{holder}, holds {}", path.display()),
    }
}

/// Who holds the lock of the SQLite store at `url` now, if anyone does
/// (for checks that must not take it).
pub fn sqlite_lock_holder(url: &str) -> Option<String> {
    let path = lock_path(&sqlite_path(url)?);
    let mut file = std::fs::OpenOptions::new().read(true).open(&path).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some(holder_of(&mut file, &path)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(identity: &str) -> Owner {
        Owner {
            identity: identity.into(),
            config: PathBuf::from("/etc/trama/node.toml"),
            listen: "127.0.0.1:7401".into(),
        }
    }

    #[test]
    fn sqlite_paths_of_urls() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/a.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/a.db"))
        );
        assert_eq!(sqlite_path("sqlite:a.db"), Some(PathBuf::from("a.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[tokio::test]
    async fn a_store_belongs_to_the_first_node_and_one_process_at_a_time() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let url = Store::sqlite_url(&dir.path().join("audit.db"));
        let caritas = owner("trama://demo/org/caritas/connector");
        let Ok(first) = Store::open_owned(&url, "", &caritas).await else {
            panic!("first open")
        };
        assert_eq!(
            first.owner().await.ok().flatten().map(|(o, _)| o),
            Some(caritas.clone())
        );
        // A second open while the first is held: refused, naming the holder.
        let held = Store::open_owned(&url, "", &caritas).await.map(drop);
        let Err(AuditError::InUse { holder, .. }) = &held else {
            panic!("{held:?}")
        };
        assert!(
            holder.contains(&format!("process {}", std::process::id())),
            "{holder}"
        );
        assert!(
            holder.contains("trama://demo/org/caritas/connector"),
            "{holder}"
        );
        assert!(sqlite_lock_holder(&url).is_some());
        first.close().await;
        drop(first);
        assert_eq!(sqlite_lock_holder(&url), None);

        // Another node, once the first has stopped: refused, naming the owner.
        let comune = owner("trama://demo/org/comune/connector");
        let refused = Store::open_owned(&url, "", &comune).await.map(drop);
        let Err(error @ AuditError::Owned { .. }) = &refused else {
            panic!("{refused:?}")
        };
        let message = error.to_string();
        assert!(message.contains(&url), "{message}");
        assert!(
            message.contains("belongs to trama://demo/org/caritas/connector"),
            "{message}"
        );
        // The same node again: opened.
        let again = Store::open_owned(&url, "", &caritas).await;
        assert!(again.is_ok(), "{again:?}");
    }
}
