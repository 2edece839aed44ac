//! What consoles running as replicas share, so that any of them serves any
//! browser and a restart signs nobody out: operators' sessions and the
//! sign-ins in progress, in a database (`[sessions] database`: PostgreSQL
//! for replicas, or a SQLite file for one console that keeps its sessions
//! across restarts). A row is found by the SHA-256 of its id, never the
//! id a cookie carries; what it holds (the operator, the CSRF token, a
//! sign-in's PKCE verifier and nonce) is sealed under the session key
//! every replica is given (`[sessions] key_file`); it expires, and expired
//! rows go when sessions start (never in the background: an idle console
//! does no work).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{AnyPool, Row};
use trama_plumbing::schema::{Schema, Step};
use trama_plumbing::sealed::SealingKey;

/// The shared store's schema, by version (`console/migrations/`).
pub const SCHEMA: Schema = Schema {
    store: "console sessions",
    migrations: &[Step {
        version: 1,
        description: "sessions and sign-ins in progress, sealed",
        sqlite: include_str!("../migrations/0001_secrets.sqlite.sql"),
        postgres: include_str!("../migrations/0001_secrets.postgres.sql"),
    }],
};

/// A row kind: what the row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An operator's session.
    Session,
    /// A sign-in at the identity provider, between the redirect there and
    /// the way back.
    SignIn,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::SignIn => "signin",
        }
    }
}

/// Why the shared store cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The session key file cannot be read or made.
    #[error("{}: key `sessions.key_file`: {problem}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong, with the fix.
        problem: String,
    },
    /// The database refused.
    #[error("console sessions database {url}: {source}")]
    Database {
        /// Its address, without credentials.
        url: String,
        /// The error.
        source: sqlx::Error,
    },
    /// Its schema is newer than this console knows.
    #[error(transparent)]
    Schema(#[from] trama_plumbing::schema::SchemaError),
}

/// The shared store of sessions and sign-ins.
#[derive(Clone)]
pub struct Shared {
    pool: AnyPool,
    url: String,
    key: std::sync::Arc<SealingKey>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("url", &self.url).finish()
    }
}

impl Shared {
    /// Opens the store at `url` (migrating it) with the key at `key_file`,
    /// made on first start if missing.
    pub async fn open(url: &str, key_file: &Path) -> Result<Shared, SharedError> {
        let key = session_key(key_file, url.starts_with("sqlite:"))?;
        let shown = trama_plumbing::redact(url);
        let database = |source| SharedError::Database {
            url: shown.clone(),
            source,
        };
        let pool = trama_plumbing::durable::open(url, true, &[])
            .await
            .map_err(database)?;
        SCHEMA.migrate(&pool, url).await?;
        Ok(Shared {
            pool,
            url: shown,
            key: std::sync::Arc::new(key),
        })
    }

    /// Keeps `value` under `id` for `ttl`.
    pub async fn put(
        &self,
        kind: Kind,
        id: &str,
        value: &impl Serialize,
        ttl: Duration,
    ) -> Result<(), SharedError> {
        let hash = id_hash(id);
        let plain = serde_json::to_vec(value).map_err(|e| self.corrupt(&e.to_string()))?;
        let sealed = self
            .key
            .seal(aad(kind, &hash).as_bytes(), &plain)
            .map_err(|e| self.corrupt(&e.to_string()))?;
        let now = now();
        sqlx::query(
            "INSERT INTO trama_console_secret (kind, id_hash, sealed, seen, expires) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind.name())
        .bind(&hash)
        .bind(hex::encode(sealed))
        .bind(now)
        .bind(now + seconds(ttl))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.err(e))
    }

    /// The value under `id`, unless it expired; with `renew`, its life
    /// starts again (written at most every `renew / 8`, so that a busy
    /// operator does not cost a write per page).
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: Kind,
        id: &str,
        renew: Option<Duration>,
    ) -> Result<Option<T>, SharedError> {
        let hash = id_hash(id);
        let row = sqlx::query(
            "SELECT sealed, seen FROM trama_console_secret \
             WHERE kind = $1 AND id_hash = $2 AND expires > $3",
        )
        .bind(kind.name())
        .bind(&hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get(0).map_err(|e| self.err(e))?;
        let seen: i64 = row.try_get(1).map_err(|e| self.err(e))?;
        if let Some(life) = renew
            && now() - seen >= seconds(life) / 8
        {
            self.renew(kind, &hash, life).await?;
        }
        self.open_value(kind, &hash, &sealed).map(Some)
    }

    /// Takes the value under `id` out of the store (a sign-in is finished
    /// once): `None` if it is not there or expired.
    pub async fn take<T: DeserializeOwned>(
        &self,
        kind: Kind,
        id: &str,
    ) -> Result<Option<T>, SharedError> {
        let hash = id_hash(id);
        let row = sqlx::query(
            "DELETE FROM trama_console_secret WHERE kind = $1 AND id_hash = $2 \
             RETURNING sealed, expires",
        )
        .bind(kind.name())
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let Some(row) = row else { return Ok(None) };
        let expires: i64 = row.try_get(1).map_err(|e| self.err(e))?;
        if expires <= now() {
            return Ok(None);
        }
        let sealed: String = row.try_get(0).map_err(|e| self.err(e))?;
        self.open_value(kind, &hash, &sealed).map(Some)
    }

    /// Removes the value under `id`.
    pub async fn remove(&self, kind: Kind, id: &str) -> Result<(), SharedError> {
        sqlx::query("DELETE FROM trama_console_secret WHERE kind = $1 AND id_hash = $2")
            .bind(kind.name())
            .bind(id_hash(id))
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Removes every expired row (an index range).
    pub async fn purge(&self) -> Result<u64, SharedError> {
        sqlx::query("DELETE FROM trama_console_secret WHERE expires <= $1")
            .bind(now())
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.err(e))
    }

    async fn renew(&self, kind: Kind, hash: &str, life: Duration) -> Result<(), SharedError> {
        let now = now();
        sqlx::query(
            "UPDATE trama_console_secret SET seen = $3, expires = $4 \
             WHERE kind = $1 AND id_hash = $2",
        )
        .bind(kind.name())
        .bind(hash)
        .bind(now)
        .bind(now + seconds(life))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.err(e))
    }

    fn open_value<T: DeserializeOwned>(
        &self,
        kind: Kind,
        hash: &str,
        sealed: &str,
    ) -> Result<T, SharedError> {
        let bytes = hex::decode(sealed).map_err(|e| self.corrupt(&e.to_string()))?;
        let plain = self
            .key
            .open(aad(kind, hash).as_bytes(), &bytes)
            .map_err(|e| {
                self.corrupt(&format!("{e}: is every console given the same key_file?"))
            })?;
        serde_json::from_slice(&plain).map_err(|e| self.corrupt(&e.to_string()))
    }

    fn err(&self, source: sqlx::Error) -> SharedError {
        SharedError::Database {
            url: self.url.clone(),
            source,
        }
    }

    fn corrupt(&self, problem: &str) -> SharedError {
        self.err(sqlx::Error::Protocol(format!("a sealed value: {problem}")))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The session key at `path`, made on first start of a console alone (a
/// SQLite store); consoles sharing a database must be given one key, so a
/// missing file is refused there rather than made anew by each replica.
fn session_key(path: &Path, alone: bool) -> Result<SealingKey, SharedError> {
    let problem = |problem: String| SharedError::Key {
        path: path.to_path_buf(),
        problem,
    };
    if !path.exists() && !alone {
        return Err(problem(
            "missing: consoles sharing a database need the same key; make it once \
             (openssl rand -hex 32 > sessions.key) and give every replica that file"
                .into(),
        ));
    }
    if !path.exists() {
        trama_plumbing::sealed::create_key_file(path).map_err(|e| problem(e.to_string()))?;
        tracing::warn!(file = %path.display(), "created a new session key; give every console replica this same file");
    }
    let bytes = trama_plumbing::sealed::read_key_file(path).map_err(|p| {
        problem(format!(
            "{p}: copy the key the other consoles use (or remove the file to make a new one, which signs everyone out)"
        ))
    })?;
    SealingKey::new(&bytes).ok_or_else(|| problem("not an AES-256 key".into()))
}

/// The row's id: the SHA-256 of the cookie's value, hexadecimal.
fn id_hash(id: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, id.as_bytes()).as_ref())
}

/// What a sealed value is bound to: its kind and row.
fn aad(kind: Kind, hash: &str) -> String {
    format!("trama-console/{}/{hash}", kind.name())
}

/// Now, in seconds since 1970.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, seconds)
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_are_sealed_found_by_hash_taken_once_and_expire() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = trama_plumbing::durable::sqlite_url(&dir.path().join("sessions.db"));
        let key = dir.path().join("sessions.key");
        let Ok(store) = Shared::open(&url, &key).await else {
            panic!("opened")
        };
        let id = "a1b2c3-cookie-value";
        let value = ("laura.ferrari", "csrf-secret-token");
        let hour = Duration::from_secs(3600);
        assert!(store.put(Kind::Session, id, &value, hour).await.is_ok());
        let got: Option<(String, String)> = store.get(Kind::Session, id, None).await.ok().flatten();
        assert_eq!(
            got,
            Some(("laura.ferrari".into(), "csrf-secret-token".into()))
        );
        let other: Option<(String, String)> =
            store.get(Kind::SignIn, id, None).await.ok().flatten();
        assert_eq!(other, None, "another kind");
        // Nothing in the database says who or what.
        let raw: Vec<(String, String)> =
            sqlx::query_as("SELECT id_hash, sealed FROM trama_console_secret")
                .fetch_all(&store.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        for (hash, sealed) in &raw {
            assert!(!hash.contains("cookie") && !sealed.contains("laura"));
            assert!(
                !String::from_utf8_lossy(&hex::decode(sealed).unwrap_or_default())
                    .contains("csrf-secret")
            );
        }
        // Taken once.
        let taken: Option<(String, String)> = store.take(Kind::Session, id).await.ok().flatten();
        assert!(taken.is_some());
        let again: Option<(String, String)> = store.take(Kind::Session, id).await.ok().flatten();
        assert!(again.is_none());
        // Expired: not found, then purged.
        assert!(
            store
                .put(Kind::SignIn, "s", &1, Duration::ZERO)
                .await
                .is_ok()
        );
        let gone: Option<i32> = store.get(Kind::SignIn, "s", None).await.ok().flatten();
        assert_eq!(gone, None);
        assert_eq!(store.purge().await.ok(), Some(1));
        // Another key cannot open what this one sealed.
        assert!(store.put(Kind::Session, "k", &1, hour).await.is_ok());
        store.close().await;
        std::fs::remove_file(&key).unwrap_or_else(|e| panic!("{e}"));
        let Ok(rekeyed) = Shared::open(&url, &key).await else {
            panic!("reopened")
        };
        let refused = rekeyed.get::<i32>(Kind::Session, "k", None).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("same key_file")),
            "another key"
        );
    }
}
