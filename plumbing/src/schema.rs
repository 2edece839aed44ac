//! Every durable store carries its schema version. The migrations a node
//! knows are applied in order when it opens the store (sqlx's migrator,
//! which records each one, with its checksum, in `_sqlx_migrations`); a
//! store that a newer Trama has migrated further is refused, naming both
//! versions, rather than written in a layout this node does not know.

use std::borrow::Cow;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};

/// A store's migrations, oldest first: version, description, and the SQL
/// for SQLite and for PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// What the store is, for messages: `audit log`, `referral store`.
    pub store: &'static str,
    /// The migrations.
    pub migrations: &'static [Step],
}

/// One migration of a store's schema.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Its version, from 1 without gaps.
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// The statements on SQLite.
    pub sqlite: &'static str,
    /// The statements on PostgreSQL.
    pub postgres: &'static str,
}

/// Why a store's schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A newer Trama has migrated the store further than this one knows.
    #[error(
        "the {store} at {url} has schema version {found}, from a newer Trama; this Trama ({software}) \
         knows versions up to {known}: upgrade this node to the version the others run, or restore the \
         backup taken before the upgrade"
    )]
    Newer {
        /// What the store is.
        store: &'static str,
        /// Its address, without credentials.
        url: String,
        /// The version found.
        found: i64,
        /// The newest version this node knows.
        known: i64,
        /// This node's software version.
        software: &'static str,
    },
    /// The store is at an earlier version than this Trama reads without
    /// migrating it (a reader never migrates).
    #[error(
        "the {store} at {url} has schema version {found}; this Trama ({software}) reads version {known}: \
         start the node once with this version (it migrates the store), or read it with the version that wrote it"
    )]
    Older {
        /// What the store is.
        store: &'static str,
        /// Its address, without credentials.
        url: String,
        /// The version found.
        found: i64,
        /// The version this node reads.
        known: i64,
        /// This node's software version.
        software: &'static str,
    },
    /// A migration could not be applied or read.
    #[error("the {store} at {url}: {source}")]
    Migrate {
        /// What the store is.
        store: &'static str,
        /// Its address, without credentials.
        url: String,
        /// The migrator's error.
        source: MigrateError,
    },
}

impl Schema {
    /// The newest version this node knows.
    pub fn known(&self) -> i64 {
        self.migrations.last().map_or(0, |m| m.version)
    }

    /// Brings the store at `pool` (shown as `url`) to the newest version,
    /// applying the migrations it lacks in order; refuses a store a newer
    /// Trama has migrated further. Returns the version it is at.
    pub async fn migrate(&self, pool: &AnyPool, url: &str) -> Result<i64, SchemaError> {
        self.refuse_newer(pool, url).await?;
        let sqlite = url.starts_with("sqlite:");
        let migrations = self
            .migrations
            .iter()
            .map(|m| {
                let sql = if sqlite { m.sqlite } else { m.postgres };
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(pool)
            .await
            .map_err(|source| SchemaError::Migrate {
                store: self.store,
                url: crate::redact(url),
                source,
            })?;
        Ok(self.known())
    }

    /// Refuses a store at any other version than this node's: for readers,
    /// which never migrate.
    pub async fn require_current(&self, pool: &AnyPool, url: &str) -> Result<(), SchemaError> {
        self.refuse_newer(pool, url).await?;
        let found = applied(pool).await.unwrap_or(0);
        if found < self.known() {
            return Err(SchemaError::Older {
                store: self.store,
                url: crate::redact(url),
                found,
                known: self.known(),
                software: env!("CARGO_PKG_VERSION"),
            });
        }
        Ok(())
    }

    /// Refuses a store a newer Trama has migrated further than this node
    /// knows (a store no Trama has migrated yet passes).
    pub async fn refuse_newer(&self, pool: &AnyPool, url: &str) -> Result<(), SchemaError> {
        let found = applied(pool).await.unwrap_or(0);
        if found > self.known() {
            return Err(SchemaError::Newer {
                store: self.store,
                url: crate::redact(url),
                found,
                known: self.known(),
                software: env!("CARGO_PKG_VERSION"),
            });
        }
        Ok(())
    }
}

/// The newest migration applied to the store; `None` before any.
pub async fn applied(pool: &AnyPool) -> Option<i64> {
    sqlx::query_scalar::<_, i64>("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .ok()
}
