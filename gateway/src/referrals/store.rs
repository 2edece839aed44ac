//! The referral store: SQLite (one file, WAL, a full sync at each commit)
//! or PostgreSQL when gateways run as replicas, through sqlx's `Any`
//! driver. `trama_referral` holds each referral's parties, status and
//! delivery, and its sealed content until delivered (then NULL; SQLite
//! overwrites what it frees, `secure_delete`); `trama_referral_event` every
//! status change; `trama_referral_cursor` how far each partner's own status
//! changes have been read. Sends are written by one task that commits
//! those arriving together in one transaction (group commit), as the audit
//! log does.
//!
//! A sender's idempotency key is kept only as its keyed fingerprint
//! (`key_fingerprint`): a client may build its keys from personal data, and
//! the store must not keep them. A store written by an earlier version,
//! which kept the keys as sent in `idempotency_key`, is migrated when it is
//! opened: the column renamed and every key replaced by its fingerprint, in
//! one transaction.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};
use trama_plumbing::schema::{Schema, Step};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("referral store {url}: {source}")]
pub struct StoreError {
    /// The store's URL without credentials.
    pub url: String,
    /// The database's error.
    #[source]
    pub source: sqlx::Error,
}

/// The referral store's schema, by version (`gateway/migrations/`).
pub const SCHEMA: Schema = Schema {
    store: "referral store",
    migrations: &[Step {
        version: 1,
        description: "referrals, their events, the partners' cursors",
        sqlite: include_str!("../../migrations/0001_referrals.sql"),
        postgres: include_str!("../../migrations/0001_referrals.sql"),
    }],
};

/// Columns of a referral, in the order [`Stored::from_row`] reads them.
const COLUMNS: &str = "id, sender, sender_operator, key_fingerprint, fingerprint, target, \
    target_service, urgency, purpose, case_id, status, status_reason, created, due, delivery, \
    attempts, next_attempt, problem, delivered, sealed, subjects";

/// A referral as stored (times in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stored {
    /// The referral id, a UUID.
    pub id: String,
    /// The sending organisation.
    pub sender: String,
    /// The operator who sent it.
    pub sender_operator: String,
    /// The keyed fingerprint of the sender's idempotency key (never the
    /// key itself).
    pub key_fingerprint: String,
    /// The keyed fingerprint of what was sent.
    pub fingerprint: String,
    /// The receiving organisation.
    pub target: String,
    /// The target's service, or empty.
    pub target_service: String,
    /// `Urgency` as its number.
    pub urgency: i32,
    /// The purpose stated.
    pub purpose: String,
    /// The sender's case id.
    pub case_id: String,
    /// `ReferralStatus` as its number.
    pub status: i32,
    /// The reason given with the status.
    pub status_reason: String,
    /// When it was sent.
    pub created: i64,
    /// When it should be accepted or rejected.
    pub due: i64,
    /// `Delivery` as its number.
    pub delivery: i32,
    /// Failed delivery attempts.
    pub attempts: i64,
    /// When delivery is tried next.
    pub next_attempt: i64,
    /// Why the last attempt failed.
    pub problem: String,
    /// When it was delivered (0: not yet).
    pub delivered: i64,
    /// The sealed content, hexadecimal; `None` once delivered or refused.
    pub sealed: Option<String>,
    /// The person's keyed pseudonyms (as the audit log writes them),
    /// comma-separated: later calls about the referral are audited as
    /// about that person.
    pub subjects: String,
}

/// One status change as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// `ReferralStatus` as its number.
    pub status: i32,
    /// Why.
    pub reason: String,
    /// Who changed it.
    pub organisation: String,
    /// Their operator.
    pub operator: String,
    /// When.
    pub at: i64,
    /// `trama`, `partner-system`, or `inferred` for a step the partner's
    /// table must have passed through between two reads.
    pub via: String,
    /// Whether the target's own table is still to be told (a change the
    /// target made through Trama).
    pub push: bool,
}

/// A status change waiting to be written into the target's own table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The referral.
    pub referral: String,
    /// The change's number in its history.
    pub seq: i64,
    /// The target organisation.
    pub target: String,
    /// The change.
    pub event: Event,
}

impl Event {
    /// The event in the six columns of `r` from `first`: status, reason,
    /// organisation, operator, at, via.
    fn from_row(r: &AnyRow, first: usize) -> Result<Event, sqlx::Error> {
        let status: i64 = r.try_get(first)?;
        Ok(Event {
            status: i32::try_from(status).unwrap_or_default(),
            reason: r.try_get(first + 1)?,
            organisation: r.try_get(first + 2)?,
            operator: r.try_get(first + 3)?,
            at: r.try_get(first + 4)?,
            via: r.try_get(first + 5)?,
            push: false,
        })
    }
}

impl Stored {
    fn from_row(r: &AnyRow) -> Result<Stored, sqlx::Error> {
        let int = |i: usize| -> Result<i32, sqlx::Error> {
            let v: i64 = r.try_get(i)?;
            Ok(i32::try_from(v).unwrap_or_default())
        };
        Ok(Stored {
            id: r.try_get(0)?,
            sender: r.try_get(1)?,
            sender_operator: r.try_get(2)?,
            key_fingerprint: r.try_get(3)?,
            fingerprint: r.try_get(4)?,
            target: r.try_get(5)?,
            target_service: r.try_get(6)?,
            urgency: int(7)?,
            purpose: r.try_get(8)?,
            case_id: r.try_get(9)?,
            status: int(10)?,
            status_reason: r.try_get(11)?,
            created: r.try_get(12)?,
            due: r.try_get(13)?,
            delivery: int(14)?,
            attempts: r.try_get(15)?,
            next_attempt: r.try_get(16)?,
            problem: r.try_get(17)?,
            delivered: r.try_get(18)?,
            sealed: r.try_get(19)?,
            subjects: r.try_get(20)?,
        })
    }
}

/// What a send found.
#[derive(Debug)]
pub enum Inserted {
    /// Stored now.
    New,
    /// The sender had used this key: the referral stored then.
    Existing(Box<Stored>),
}

/// Which referrals a list reads.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `sender` or `target`.
    pub side: &'static str,
    /// The organisation on that side.
    pub organisation: String,
    /// Statuses; all when empty.
    pub statuses: Vec<i32>,
    /// Only those due before this time and still requested.
    pub overdue_at: Option<i64>,
    /// Only those created before this time.
    pub created_before: Option<i64>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to read.
    pub limit: i64,
}

/// A referral still waiting for the target's answer, as stored.
const REQUESTED: i64 = trama_proto::v1::ReferralStatus::Requested as i64;
/// A delivery not yet made, as stored.
const PENDING: i64 = trama_proto::v1::Delivery::Pending as i64;
/// A delivery the target holds, as stored.
const DELIVERED: i64 = trama_proto::v1::Delivery::Delivered as i64;
/// A delivery the target's rules refused, as stored.
const REFUSED: i64 = trama_proto::v1::Delivery::Refused as i64;

/// SQL whose values are all bound, with numbered placeholders (`$1`,
/// `$2`, ...), which both SQLite and PostgreSQL read: sqlx's
/// `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL does
/// not take.
struct Numbered {
    text: String,
    count: usize,
}

impl Numbered {
    fn new(start: String) -> Numbered {
        Numbered {
            text: start,
            count: 0,
        }
    }

    fn push(&mut self, sql: &str) {
        self.text.push_str(sql);
    }

    /// The next placeholder.
    fn value(&mut self) {
        self.count += 1;
        self.text.push_str(&format!("${}", self.count));
    }

    /// `n` placeholders, separated by commas.
    fn values(&mut self, n: usize) {
        for i in 0..n {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.value();
        }
    }
}

/// The referral store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    url: String,
    writer: mpsc::Sender<Pending>,
}

/// A send waiting for the writer's next commit.
#[derive(Debug)]
struct Pending {
    row: Stored,
    first: Event,
    /// Whether it was stored (false: the key was there), or why not.
    reply: oneshot::Sender<Result<bool, String>>,
}

/// Sends committed together at most.
const MAX_BATCH: usize = 256;

/// Takes the sends waiting, up to [`MAX_BATCH`], and commits them in one
/// transaction, until every [`Store`] is gone.
async fn write_batches(pool: AnyPool, mut waiting: mpsc::Receiver<Pending>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        match write_batch(&pool, &batch).await {
            Ok(stored) => {
                for (p, new) in batch.into_iter().zip(stored) {
                    let _ = p.reply.send(Ok(new));
                }
            }
            Err(e) => {
                let problem = e.to_string();
                for p in batch {
                    let _ = p.reply.send(Err(problem.clone()));
                }
            }
        }
    }
}

/// One transaction for `batch`; for each, whether it was new.
async fn write_batch(pool: &AnyPool, batch: &[Pending]) -> Result<Vec<bool>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut stored = Vec::with_capacity(batch.len());
    for p in batch {
        let new = insert_row(&mut tx, &p.row).await? == 1;
        if new {
            insert_event(&mut tx, &p.row.id, 1, &p.first).await?;
        }
        stored.push(new);
    }
    tx.commit().await?;
    Ok(stored)
}

/// Inserts a referral unless its key (or id) is taken; rows written.
async fn insert_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &Stored,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO trama_referral (id, sender, sender_operator, key_fingerprint, fingerprint, \
         target, target_service, urgency, purpose, case_id, status, status_reason, created, due, \
         delivery, attempts, next_attempt, problem, delivered, sealed, subjects) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&r.id)
    .bind(&r.sender)
    .bind(&r.sender_operator)
    .bind(&r.key_fingerprint)
    .bind(&r.fingerprint)
    .bind(&r.target)
    .bind(&r.target_service)
    .bind(i64::from(r.urgency))
    .bind(&r.purpose)
    .bind(&r.case_id)
    .bind(i64::from(r.status))
    .bind(&r.status_reason)
    .bind(r.created)
    .bind(r.due)
    .bind(i64::from(r.delivery))
    .bind(r.attempts)
    .bind(r.next_attempt)
    .bind(&r.problem)
    .bind(r.delivered)
    .bind(r.sealed.clone())
    .bind(&r.subjects)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

impl Store {
    /// Opens (and creates) the store at `url`, `sqlite://...` or
    /// `postgres://...`; a store of an earlier version that kept
    /// idempotency keys as sent has them replaced by `key_fingerprint` of
    /// each (sender, key) first.
    pub async fn open(
        url: &str,
        key_fingerprint: impl Fn(&str, &str) -> String,
    ) -> Result<Store, super::SetupError> {
        let shown = trama_plumbing::redact(url);
        let sqlite = url.starts_with("sqlite:");
        // Freed pages overwritten, so delivered content leaves no trace.
        let pool = trama_plumbing::durable::open(url, true, &["PRAGMA secure_delete = ON"])
            .await
            .map_err(|source| StoreError {
                url: shown.clone(),
                source,
            })?;
        let (writer, waiting) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(write_batches(pool.clone(), waiting));
        let store = Store {
            pool,
            url: shown,
            writer,
        };
        // Refused before anything is touched if a newer Trama migrated it
        // further; the tables exist from here on (an earlier version's
        // layout is left as it is, for the step below).
        SCHEMA.migrate(&store.pool, url).await?;
        let migrated = store
            .fingerprint_clear_keys(sqlite, key_fingerprint)
            .await
            .map_err(|e| store.err(e))?;
        if let Some(keys) = migrated {
            tracing::info!(
                store = %store.url,
                keys,
                "referral store migrated: idempotency keys replaced by their keyed fingerprints"
            );
        }
        Ok(store)
    }

    /// Replaces the idempotency keys an earlier version kept as sent
    /// (column `idempotency_key`) by their keyed fingerprints (column
    /// `key_fingerprint`), in one transaction; how many, or `None` when
    /// the store has no such column (new, or migrated already). Replicas
    /// opening one PostgreSQL store at once take turns on an advisory
    /// lock, and the second finds the work done. On SQLite the freed text
    /// is overwritten (`secure_delete`) and the write-ahead log emptied
    /// afterwards, so the keys leave no trace in the files.
    async fn fingerprint_clear_keys(
        &self,
        sqlite: bool,
        key_fingerprint: impl Fn(&str, &str) -> String,
    ) -> Result<Option<u64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let columns = if sqlite {
            "SELECT name FROM pragma_table_info('trama_referral')"
        } else {
            sqlx::query("SELECT pg_advisory_xact_lock(7261727361)")
                .execute(&mut *tx)
                .await?;
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_name = 'trama_referral' AND table_schema = current_schema()"
        };
        let names: Vec<String> = sqlx::query_scalar(columns).fetch_all(&mut *tx).await?;
        if !names.iter().any(|n| n == "idempotency_key") {
            return Ok(None);
        }
        sqlx::query("ALTER TABLE trama_referral RENAME COLUMN idempotency_key TO key_fingerprint")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT id, sender, key_fingerprint FROM trama_referral")
            .fetch_all(&mut *tx)
            .await?;
        let mut keys = 0;
        for row in &rows {
            let (id, sender, key): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            keys += sqlx::query("UPDATE trama_referral SET key_fingerprint = $1 WHERE id = $2")
                .bind(key_fingerprint(&sender, &key))
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        if sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(keys))
    }

    fn err(&self, source: sqlx::Error) -> StoreError {
        StoreError {
            url: self.url.clone(),
            source,
        }
    }

    /// Stores a new referral with its first event, unless the sender has
    /// used its idempotency key before: then the referral stored then.
    /// Sends arriving together are committed together (one sync for
    /// them all); each is durable when this returns.
    pub async fn insert(&self, r: &Stored, first: &Event) -> Result<Inserted, StoreError> {
        if let Some(existing) = self.by_key(&r.sender, &r.key_fingerprint).await? {
            return Ok(Inserted::Existing(Box::new(existing)));
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            row: r.clone(),
            first: first.clone(),
            reply,
        };
        if self.writer.send(pending).await.is_err() {
            return Err(self.err(sqlx::Error::PoolClosed));
        }
        match answer.await {
            Ok(Ok(true)) => Ok(Inserted::New),
            // Another replica, or a concurrent retry, stored it first.
            Ok(Ok(false)) => match self.by_key(&r.sender, &r.key_fingerprint).await? {
                Some(existing) => Ok(Inserted::Existing(Box::new(existing))),
                None => Err(self.err(sqlx::Error::RowNotFound)),
            },
            Ok(Err(problem)) => Err(self.err(sqlx::Error::Protocol(problem))),
            Err(_) => Err(self.err(sqlx::Error::PoolClosed)),
        }
    }

    /// The referral `sender` stored under the key whose fingerprint is
    /// `key_fingerprint`, if any.
    async fn by_key(
        &self,
        sender: &str,
        key_fingerprint: &str,
    ) -> Result<Option<Stored>, StoreError> {
        self.one(
            "sender = $1 AND key_fingerprint = $2",
            &[sender, key_fingerprint],
        )
        .await
    }

    /// The referral `id`, if stored.
    pub async fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.one("id = $1", &[id]).await
    }

    /// The referral that `condition` (on unique columns) finds, its
    /// placeholders bound to `values` in order.
    async fn one(&self, condition: &str, values: &[&str]) -> Result<Option<Stored>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM trama_referral WHERE {condition}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in values {
            query = query.bind(*v);
        }
        let row = query
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| Stored::from_row(&r))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Referrals read from `rows`.
    fn all(&self, rows: &[AnyRow]) -> Result<Vec<Stored>, StoreError> {
        rows.iter()
            .map(Stored::from_row)
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// The status changes of `id`, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let mut by_referral = self.events_of(&[id.to_string()]).await?;
        Ok(by_referral.remove(id).unwrap_or_default())
    }

    /// The status changes of each of `ids`, oldest first, in one query.
    pub async fn events_of(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<Event>>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT referral, status, reason, organisation, operator, at, via \
             FROM trama_referral_event WHERE referral IN ({}) ORDER BY referral, seq",
            marks.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
        let mut out: HashMap<String, Vec<Event>> = HashMap::new();
        for r in &rows {
            let read = r
                .try_get::<String, _>(0)
                .and_then(|id| Ok((id, Event::from_row(r, 1)?)));
            let (id, event) = read.map_err(|e| self.err(e))?;
            out.entry(id).or_default().push(event);
        }
        Ok(out)
    }

    /// Moves `id` from status `from` to `event.status`, recording the
    /// event; `false` when its status is no longer `from` (another change
    /// came first).
    pub async fn change(&self, id: &str, from: i32, event: &Event) -> Result<bool, StoreError> {
        let run = async {
            let mut tx = self.pool.begin().await?;
            let changed = change_in(&mut tx, id, from, event).await?;
            if changed {
                tx.commit().await?;
            }
            Ok(changed)
        };
        run.await.map_err(|e: sqlx::Error| self.err(e))
    }

    /// Referrals of one side, newest first, and how many of that side are
    /// overdue at `now`.
    pub async fn list(&self, q: &ListQuery, now: i64) -> Result<(Vec<Stored>, i64), StoreError> {
        let side = q.side;
        let mut sql = Numbered::new(format!(
            "SELECT {COLUMNS} FROM trama_referral WHERE {side} = "
        ));
        sql.value();
        if !q.statuses.is_empty() {
            sql.push(" AND status IN (");
            sql.values(q.statuses.len());
            sql.push(")");
        }
        if q.overdue_at.is_some() {
            sql.push(" AND status = ");
            sql.value();
            sql.push(" AND due < ");
            sql.value();
        }
        if q.created_before.is_some() {
            sql.push(" AND created < ");
            sql.value();
        }
        sql.push(" ORDER BY created DESC, id LIMIT ");
        sql.value();
        sql.push(" OFFSET ");
        sql.value();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.text)).bind(&q.organisation);
        for status in &q.statuses {
            query = query.bind(i64::from(*status));
        }
        if let Some(at) = q.overdue_at {
            query = query.bind(REQUESTED).bind(at);
        }
        if let Some(before) = q.created_before {
            query = query.bind(before);
        }
        let rows = query
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let found = self.all(&rows)?;
        let overdue: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM trama_referral WHERE {side} = $1 AND status = $2 AND due < $3"
        )))
        .bind(&q.organisation)
        .bind(REQUESTED)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.err(e))?;
        Ok((found, overdue))
    }

    /// Referrals waiting for delivery whose next attempt is due at `now`.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Stored>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM trama_referral WHERE delivery = $1 AND next_attempt <= $2 \
             ORDER BY next_attempt LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(PENDING)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.all(&rows)
    }

    /// The earliest next attempt of a pending delivery.
    pub async fn next_attempt(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query("SELECT MIN(next_attempt) FROM trama_referral WHERE delivery = $1")
            .bind(PENDING)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))
    }

    /// The target holds it: the content goes, the delivery is recorded.
    pub async fn delivered(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE trama_referral SET sealed = NULL, delivery = $1, delivered = $2, problem = '' \
             WHERE id = $3",
        )
        .bind(DELIVERED)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// The target's rules refused it: the content goes, the referral is
    /// rejected with the target's reason.
    pub async fn refused(&self, id: &str, event: &Event) -> Result<(), StoreError> {
        // One transaction: nobody reads a refused delivery still requested.
        let run = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "UPDATE trama_referral SET sealed = NULL, delivery = $1, problem = $2 WHERE id = $3",
            )
            .bind(REFUSED)
            .bind(&event.reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            change_in(
                &mut tx,
                id,
                trama_proto::v1::ReferralStatus::Requested as i32,
                event,
            )
            .await?;
            tx.commit().await
        };
        run.await.map_err(|e: sqlx::Error| self.err(e))
    }

    /// A failed attempt: tried again at `next`.
    pub async fn retry(&self, id: &str, next: i64, problem: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE trama_referral SET attempts = attempts + 1, next_attempt = $1, problem = $2 \
             WHERE id = $3 AND delivery = $4",
        )
        .bind(next)
        .bind(problem)
        .bind(id)
        .bind(PENDING)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// `target` answers again: its pending deliveries are due at `now`
    /// rather than at the end of their back-off; how many were waiting.
    pub async fn due_now(&self, target: &str, now: i64) -> Result<u64, StoreError> {
        sqlx::query(
            "UPDATE trama_referral SET next_attempt = $1 \
             WHERE delivery = $3 AND target = $2 AND next_attempt > $1",
        )
        .bind(now)
        .bind(target)
        .bind(PENDING)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.err(e))
    }

    /// How far `organisation`'s own status changes have been read.
    pub async fn cursor(&self, organisation: &str) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT as_of FROM trama_referral_cursor WHERE organisation = $1")
            .bind(organisation)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row
            .and_then(|r| r.try_get::<String, _>(0).ok())
            .unwrap_or_default())
    }

    /// Records how far `organisation`'s changes have been read.
    pub async fn set_cursor(&self, organisation: &str, as_of: &str) -> Result<(), StoreError> {
        let run = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM trama_referral_cursor WHERE organisation = $1")
                .bind(organisation)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO trama_referral_cursor (organisation, as_of) VALUES ($1, $2)")
                .bind(organisation)
                .bind(as_of)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        };
        run.await.map_err(|e| self.err(e))
    }

    /// Referrals still requested after their due time, in all.
    pub async fn overdue(&self, now: i64) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) FROM trama_referral WHERE status = $1 AND due < $2")
            .bind(REQUESTED)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))
    }

    /// Status changes waiting to be written into their target's table, of
    /// referrals already delivered there, oldest first.
    pub async fn pending_pushes(&self, limit: i64) -> Result<Vec<Push>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.referral, e.seq, r.target, e.status, e.reason, e.organisation, e.operator, e.at, e.via \
             FROM trama_referral_event e JOIN trama_referral r ON r.id = e.referral \
             WHERE e.pushed = 0 AND r.delivery = $1 ORDER BY e.at, e.seq LIMIT $2",
        )
        .bind(DELIVERED)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(Push {
                    referral: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    target: r.try_get(2)?,
                    event: Event {
                        push: true,
                        ..Event::from_row(r, 3)?
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// The target's table was told of change `seq` of `referral`.
    pub async fn pushed(&self, referral: &str, seq: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE trama_referral_event SET pushed = 1 WHERE referral = $1 AND seq = $2")
            .bind(referral)
            .bind(seq)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Moves `id` from `from` to the event's status and records the event,
/// inside `tx`; `false` when its status is no longer `from`.
async fn change_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    from: i32,
    event: &Event,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE trama_referral SET status = $1, status_reason = $2 WHERE id = $3 AND status = $4",
    )
    .bind(i64::from(event.status))
    .bind(&event.reason)
    .bind(id)
    .bind(i64::from(from))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    let seq: i64 = sqlx::query(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM trama_referral_event WHERE referral = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    insert_event(tx, id, seq, event).await?;
    Ok(true)
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    seq: i64,
    e: &Event,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO trama_referral_event (referral, seq, status, reason, organisation, operator, at, via, \
         pushed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(seq)
    .bind(i64::from(e.status))
    .bind(&e.reason)
    .bind(&e.organisation)
    .bind(&e.operator)
    .bind(e.at)
    .bind(&e.via)
    .bind(i64::from(!e.push))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
