//! The audit tables, in SQLite (embedded, one file) or PostgreSQL, through
//! one code path: sqlx's `Any` driver with plain integer and text columns.
//!
//! `trama_audit_entry` holds the chain, `trama_audit_subject` indexes
//! entries by subject pseudonym (for access-log questions), and
//! `trama_audit_checkpoint` holds the signed checkpoints, and
//! `trama_audit_owner` the node that writes the log (one node writes one
//! log; see [`crate::owner`]).
//!
//! Every row names its chain. Gateway replicas sharing one PostgreSQL
//! database each write a chain of their own, named after the replica, with
//! its own sequence numbers and checkpoints; a SQLite file has one writer
//! and one chain, named `""`. A [`Store`] handle reads and writes one chain
//! ([`Store::chain`]); [`Store::chains`] lists them all, and
//! [`Store::on_chain`] turns a handle to another.

use std::collections::HashMap;
use std::path::Path;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Row};

use trama_plumbing::schema::{Schema, Step};

use crate::chain::{Checkpoint, GENESIS};
use crate::{AuditError, Entry};

/// The tables, for PostgreSQL and (`sqlite`) for SQLite. On SQLite the
/// entry table's `seq` is the rowid (one B-tree, appended to) and the
/// subject index is a table without rowid (one B-tree, not a table and an
/// index): each commit writes fewer pages.
/// The audit log's schema, by version (`audit/migrations/`).
pub const SCHEMA: Schema = Schema {
    store: "audit log",
    migrations: &[
        Step {
            version: 1,
            description: "the chain, the subject index, checkpoints, the owner",
            sqlite: include_str!("../migrations/0001_log.sqlite.sql"),
            postgres: include_str!("../migrations/0001_log.postgres.sql"),
        },
        Step {
            version: 2,
            description: "the retention horizon",
            sqlite: include_str!("../migrations/0002_horizon.sqlite.sql"),
            postgres: include_str!("../migrations/0002_horizon.postgres.sql"),
        },
        Step {
            version: 3,
            description: "one chain per replica",
            sqlite: include_str!("../migrations/0003_chains.sqlite.sql"),
            postgres: include_str!("../migrations/0003_chains.postgres.sql"),
        },
        Step {
            version: 4,
            description: "client allowances shared by gateway replicas",
            sqlite: include_str!("../migrations/0004_allowances.sqlite.sql"),
            postgres: include_str!("../migrations/0004_allowances.postgres.sql"),
        },
    ],
};

const ROWS_PER_INSERT: usize = 128;

/// The audit log's own SQLite settings, after the durable ones.
const PRAGMAS: &[&str] = &[
    // The log is appended to and rarely read, but each commit adds to the
    // subject index at random places: 4 MiB keeps its inner pages cached,
    // and memory flat as the log grows.
    "PRAGMA cache_size = -4096",
    // Statement journals of the multi-row inserts stay in memory instead
    // of spilling to a temporary file.
    "PRAGMA temp_store = MEMORY",
    // Checkpoint the WAL every 16 MiB rather than 4: the pages each commit
    // rewrites (the table's tail, the index's inner pages) are copied back
    // once per checkpoint, not once per commit.
    "PRAGMA wal_autocheckpoint = 4000",
];

/// `prefix` followed by `rows` groups of `columns` numbered placeholders:
/// `($1, $2), ($3, $4)`. Only constants go into the text.
fn values_sql(prefix: &str, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 6);
    sql.push_str(prefix);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

/// Where retention has cut the log: the entries up to `seq` are gone, and
/// the entry after it follows `hash`, which a signed checkpoint at `seq`
/// vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Horizon {
    /// The last entry removed.
    pub seq: i64,
    /// Its hash, as the checkpoint at `seq` signed it.
    pub hash: String,
    /// When the entries were removed (RFC 3339).
    pub pruned_at: String,
}

/// One stored entry, as read back for verification.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// Sequence number, from 1.
    pub seq: i64,
    /// The hash of the previous entry as recorded.
    pub prev_hash: String,
    /// This entry's hash as recorded.
    pub hash: String,
    /// The payload as recorded.
    pub payload: String,
}

/// An entry ready to be appended.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Sequence number.
    pub seq: i64,
    /// Previous hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
    /// The payload.
    pub payload: String,
    /// Subject pseudonyms to index.
    pub subjects: Vec<String>,
}

/// An audit database, and the chain this handle reads and writes.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) url: String,
    pub(crate) chain: String,
    /// Held while the store is open for writing ([`Store::open_owned`]).
    pub(crate) lock: Option<std::sync::Arc<crate::owner::StoreLock>>,
}

impl Store {
    /// Opens the audit database at `url` (`sqlite://...` or
    /// `postgres://...`); with `create`, a missing SQLite file is created
    /// and the schema brought to this node's version ([`SCHEMA`]). A store
    /// a newer Trama has migrated further is refused either way.
    pub async fn open(url: &str, create: bool) -> Result<Store, AuditError> {
        let shown = trama_plumbing::redact(url);
        let pool = trama_plumbing::durable::open(url, create, PRAGMAS)
            .await
            .map_err(|source| AuditError::Database {
                url: shown.clone(),
                source,
            })?;
        let store = Store {
            pool,
            url: shown,
            chain: String::new(),
            lock: None,
        };
        if create {
            SCHEMA.migrate(&store.pool, url).await?;
        } else {
            SCHEMA.refuse_newer(&store.pool, url).await?;
        }
        Ok(store)
    }

    /// Opens the audit database at `url` to read it as this version of
    /// Trama writes it: one another version wrote (earlier or later) is
    /// refused, saying what to do ([`SCHEMA`]); nothing is written.
    pub async fn open_current(url: &str) -> Result<Store, AuditError> {
        let store = Store::open(url, false).await?;
        SCHEMA.require_current(&store.pool, url).await?;
        Ok(store)
    }

    /// The SQLite URL of a file path.
    pub fn sqlite_url(path: &Path) -> String {
        trama_plumbing::durable::sqlite_url(path)
    }

    pub(crate) fn err(&self, source: sqlx::Error) -> AuditError {
        AuditError::Database {
            url: self.url.clone(),
            source,
        }
    }

    /// The database URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's pool, for what gateway replicas share beside the log
    /// (`trama_allowance`, made by this schema), on PostgreSQL; `None` for
    /// a SQLite file, which one process writes.
    pub fn shared_pool(&self) -> Option<&AnyPool> {
        (!self.url.starts_with("sqlite:")).then_some(&self.pool)
    }

    /// The chain this handle reads and writes (`""`: the only chain of a
    /// SQLite file, or the one written before replicas).
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// A handle on `chain` of the same database (for reading: only the
    /// handle [`Store::open_owned`] returned holds a chain's lock).
    pub fn on_chain(&self, chain: &str) -> Store {
        Store {
            pool: self.pool.clone(),
            url: self.url.clone(),
            chain: chain.to_string(),
            lock: None,
        }
    }

    /// Every chain of the database, by name: those a node has written
    /// (each recorded its owner first) and those retention has cut.
    pub async fn chains(&self) -> Result<Vec<String>, AuditError> {
        let mut chains: Vec<String> = sqlx::query_scalar(
            "SELECT chain FROM trama_audit_owner UNION SELECT chain FROM trama_audit_horizon",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        if chains.is_empty() {
            // A log written without an owner (a bare writer): its one chain.
            chains.push(String::new());
        }
        chains.sort();
        Ok(chains)
    }

    /// The last entry's sequence number and hash: of the newest entry, or,
    /// when retention removed every entry, of the retention horizon; 0 and
    /// the genesis hash for an empty log.
    pub async fn head(&self) -> Result<(i64, String), AuditError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM trama_audit_entry WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&self.chain)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        match row {
            Some(row) => Ok((
                row.try_get(0).map_err(|e| self.err(e))?,
                row.try_get(1).map_err(|e| self.err(e))?,
            )),
            None => Ok(self
                .horizon()
                .await?
                .map_or((0, GENESIS.to_string()), |h| (h.seq, h.hash))),
        }
    }

    /// Where retention has cut the log, if it has.
    pub async fn horizon(&self) -> Result<Option<Horizon>, AuditError> {
        let row =
            sqlx::query("SELECT seq, hash, pruned_at FROM trama_audit_horizon WHERE chain = $1")
                .bind(&self.chain)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        row.map(|r| {
            Ok(Horizon {
                seq: r.try_get(0)?,
                hash: r.try_get(1)?,
                pruned_at: r.try_get(2)?,
            })
        })
        .transpose()
        .map_err(|e| self.err(e))
    }

    /// Removes, for retention, every entry up to the newest checkpoint
    /// signed before `before` (RFC 3339, compared to the second), with
    /// their subject index rows, in one transaction, and moves the horizon
    /// there: the next entry's link to that checkpoint keeps the rest
    /// verifiable. Returns the new horizon and the entries removed, or
    /// `None` when nothing is old enough.
    pub async fn prune(&self, before: &str) -> Result<Option<(Horizon, u64)>, AuditError> {
        let cut: String = before.chars().take(19).collect();
        let newest = sqlx::query(
            "SELECT seq, hash FROM trama_audit_checkpoint \
             WHERE chain = $2 AND substr(time, 1, 19) < $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(cut)
        .bind(&self.chain)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = newest else { return Ok(None) };
        let seq: i64 = row.try_get(0).map_err(|e| self.err(e))?;
        let hash: String = row.try_get(1).map_err(|e| self.err(e))?;
        if self.horizon().await?.is_some_and(|h| h.seq >= seq) {
            return Ok(None);
        }
        let horizon = Horizon {
            seq,
            hash,
            pruned_at: trama_plumbing::clock::now(),
        };
        let removed = self.cut(&horizon).await.map_err(|e| self.err(e))?;
        Ok(Some((horizon, removed)))
    }

    /// Deletes up to `horizon` and records it, in one transaction.
    async fn cut(&self, horizon: &Horizon) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM trama_audit_subject WHERE chain = $2 AND seq <= $1")
            .bind(horizon.seq)
            .bind(&self.chain)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM trama_audit_entry WHERE chain = $2 AND seq <= $1")
            .bind(horizon.seq)
            .bind(&self.chain)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM trama_audit_horizon WHERE chain = $1")
            .bind(&self.chain)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO trama_audit_horizon (id, chain, seq, hash, pruned_at) VALUES (1, $1, $2, $3, $4)",
        )
        .bind(&self.chain)
        .bind(horizon.seq)
        .bind(&horizon.hash)
        .bind(&horizon.pruned_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// A connection of the store's pool, for a writer to keep: a
    /// connection's page cache stays valid across its own commits, while
    /// the pool would hand each commit another connection, whose cache the
    /// previous commit made stale (every page read again).
    pub async fn connection(&self) -> Result<PoolConnection<Any>, AuditError> {
        self.pool.acquire().await.map_err(|e| self.err(e))
    }

    /// Appends `batch` in one transaction: all of it is on disk when this
    /// returns, or none of it. Rows go in multi-row inserts, so a batch
    /// costs a few round trips to the database, not one per row.
    /// It runs on `conn`, a connection the writer keeps (see
    /// [`Store::connection`]).
    pub async fn append(
        &self,
        conn: &mut PoolConnection<Any>,
        batch: &[NewEntry],
    ) -> Result<(), AuditError> {
        let mut tx = sqlx::Connection::begin(&mut **conn)
            .await
            .map_err(|e| self.err(e))?;
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let sql = values_sql(
                "INSERT INTO trama_audit_entry (chain, seq, prev_hash, hash, payload) VALUES ",
                chunk.len(),
                5,
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(&self.chain)
                    .bind(e.seq)
                    .bind(&e.prev_hash)
                    .bind(&e.hash)
                    .bind(&e.payload);
            }
            q.execute(&mut *tx).await.map_err(|err| self.err(err))?;
        }
        let subjects: Vec<(&String, i64)> = batch
            .iter()
            .flat_map(|e| e.subjects.iter().map(move |s| (s, e.seq)))
            .collect();
        for chunk in subjects.chunks(ROWS_PER_INSERT * 2) {
            let sql = values_sql(
                "INSERT INTO trama_audit_subject (chain, pseudonym, seq) VALUES ",
                chunk.len(),
                3,
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (p, seq) in chunk {
                q = q.bind(&self.chain).bind(*p).bind(*seq);
            }
            q.execute(&mut *tx).await.map_err(|err| self.err(err))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// The sequence number the last checkpoint covers (0 if none).
    pub async fn last_checkpoint_seq(&self) -> Result<i64, AuditError> {
        let row = sqlx::query(
            "SELECT seq FROM trama_audit_checkpoint WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&self.chain)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        match row {
            Some(r) => r.try_get(0).map_err(|e| self.err(e)),
            None => Ok(0),
        }
    }

    /// Stores a checkpoint (once per sequence number).
    pub async fn add_checkpoint(&self, cp: &Checkpoint) -> Result<(), AuditError> {
        sqlx::query(
            "INSERT INTO trama_audit_checkpoint (chain, seq, hash, time, scheme, signature, key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain, seq) DO NOTHING",
        )
        .bind(&self.chain)
        .bind(cp.seq)
        .bind(&cp.hash)
        .bind(&cp.time)
        .bind(&cp.scheme)
        .bind(&cp.signature)
        .bind(&cp.key_id)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// Entries with `seq > after`, at most `limit`, in order.
    pub async fn entries_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEntry>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, prev_hash, hash, payload FROM trama_audit_entry \
             WHERE chain = $3 AND seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .bind(&self.chain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(StoredEntry {
                    seq: r.try_get(0)?,
                    prev_hash: r.try_get(1)?,
                    hash: r.try_get(2)?,
                    payload: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// The subject index: pseudonyms per sequence number, for entries in
    /// `first..=last`.
    pub async fn subjects_between(
        &self,
        first: i64,
        last: i64,
    ) -> Result<HashMap<i64, Vec<String>>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, pseudonym FROM trama_audit_subject \
             WHERE chain = $3 AND seq >= $1 AND seq <= $2",
        )
        .bind(first)
        .bind(last)
        .bind(&self.chain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut map: HashMap<i64, Vec<String>> = HashMap::new();
        for r in rows {
            let seq: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            let p: String = r.try_get(1).map_err(|e| self.err(e))?;
            map.entry(seq).or_default().push(p);
        }
        Ok(map)
    }

    /// Subject index rows pointing at entries that do not exist.
    pub async fn dangling_subjects(&self) -> Result<Vec<i64>, AuditError> {
        let rows = sqlx::query(
            "SELECT DISTINCT s.seq FROM trama_audit_subject s \
             LEFT JOIN trama_audit_entry e ON e.chain = s.chain AND e.seq = s.seq \
             WHERE s.chain = $1 AND e.seq IS NULL ORDER BY s.seq",
        )
        .bind(&self.chain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// All checkpoints, in order.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, hash, time, scheme, signature, key_id FROM trama_audit_checkpoint \
             WHERE chain = $1 ORDER BY seq",
        )
        .bind(&self.chain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.try_get(0)?,
                    hash: r.try_get(1)?,
                    time: r.try_get(2)?,
                    scheme: r.try_get(3)?,
                    signature: r.try_get(4)?,
                    key_id: r.try_get(5)?,
                    chain: self.chain.clone(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// The most recent entries about any of `pseudonyms` with `seq` below
    /// `before`, newest first, at most `limit`.
    pub async fn by_subject(
        &self,
        pseudonyms: &[String],
        before: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Entry)>, AuditError> {
        let mut found: Vec<(i64, Entry)> = Vec::new();
        for p in pseudonyms {
            let rows = sqlx::query(
                "SELECT e.seq, e.payload FROM trama_audit_entry e \
                 JOIN trama_audit_subject s ON s.chain = e.chain AND s.seq = e.seq \
                 WHERE s.pseudonym = $1 AND s.chain = $4 AND e.seq >= 1 AND e.seq < $2 \
                 ORDER BY e.seq DESC LIMIT $3",
            )
            .bind(p)
            .bind(before)
            .bind(limit)
            .bind(&self.chain)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
            for r in rows {
                let seq: i64 = r.try_get(0).map_err(|e| self.err(e))?;
                if found.iter().any(|(s, _)| *s == seq) {
                    continue;
                }
                let payload: String = r.try_get(1).map_err(|e| self.err(e))?;
                found.push((seq, read_entry(seq, &payload)?));
            }
        }
        found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    /// The entries with `seq` below `before`, newest first, at most
    /// `limit`: one range of the primary key, whatever the log's size.
    pub async fn entries_before(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Entry)>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, payload FROM trama_audit_entry \
             WHERE chain = $3 AND seq >= 1 AND seq < $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .bind(&self.chain)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get(0).map_err(|e| self.err(e))?;
                let payload: String = r.try_get(1).map_err(|e| self.err(e))?;
                Ok((seq, read_entry(seq, &payload)?))
            })
            .collect()
    }

    /// Whether the store takes a write now: an entry inserted in a
    /// transaction that is rolled back, so nothing is kept and the chain is
    /// untouched. A node's readiness check.
    pub async fn probe_write(&self) -> Result<(), AuditError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query(
            "INSERT INTO trama_audit_entry (chain, seq, prev_hash, hash, payload) VALUES ($1, -1, '', '', '')",
        )
        .bind(&self.chain)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.rollback().await.map_err(|e| self.err(e))
    }

    /// Runs a statement directly (tests use it to tamper with a log).
    pub async fn execute(&self, sql: &'static str) -> Result<u64, AuditError> {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.err(e))
    }

    /// Runs a statement built at run time (administration: creating and
    /// dropping test databases). Never pass request data.
    pub async fn execute_owned(&self, sql: String) -> Result<u64, AuditError> {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.err(e))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A stored payload read back, or why it cannot be.
fn read_entry(seq: i64, payload: &str) -> Result<Entry, AuditError> {
    Entry::from_payload(payload).map_err(|e| AuditError::Corrupt {
        seq,
        problem: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_numbered_placeholders() {
        assert_eq!(
            super::values_sql("INSERT INTO t (a, b) VALUES ", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
    }
}
