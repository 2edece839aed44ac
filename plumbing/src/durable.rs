//! A durable store: a sqlx pool on SQLite or PostgreSQL (through sqlx's
//! `Any` driver: plain integers and text) where a commit is on disk before
//! it is acknowledged. On SQLite: write-ahead log with a full sync at each
//! commit and a busy timeout, plus the pragmas the store asks for; the
//! file opened read-write-create for a writer and read-only for a reader.

use std::path::{Path, PathBuf};

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

/// Connections in a store's pool.
const CONNECTIONS: u32 = 4;

/// Opens the store at `url` (`sqlite://...` or `postgres://...`); with
/// `create`, a missing SQLite file is created. `pragmas` are run on every
/// new SQLite connection after the durable ones.
pub async fn open(
    url: &str,
    create: bool,
    pragmas: &'static [&'static str],
) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let options: AnyConnectOptions = with_mode(url, create).parse()?;
    AnyPoolOptions::new()
        .max_connections(CONNECTIONS)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // Durable before acknowledged. A reader leaves the
                    // journal mode as it finds it: a backup copy
                    // (`sqlite3 .backup`, `VACUUM INTO`) is not in WAL mode,
                    // and a read-only connection cannot change that.
                    let journal: &[&str] = if create {
                        &["PRAGMA journal_mode = WAL"]
                    } else {
                        &[]
                    };
                    let durable = ["PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 5000"];
                    for pragma in journal.iter().chain(&durable).chain(pragmas) {
                        // The store's own constants, never input.
                        sqlx::query(sqlx::AssertSqlSafe(*pragma))
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
}

/// `url` with the SQLite open mode a writer (`create`: `rwc`) or a reader
/// (`ro`) needs, unless it names one; other URLs as they are.
pub fn with_mode(url: &str, create: bool) -> String {
    let mut full = url.to_string();
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        full.push(if url.contains('?') { '&' } else { '?' });
        full.push_str(if create { "mode=rwc" } else { "mode=ro" });
    }
    full
}

/// The SQLite URL of a file path.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The file of a SQLite URL, `None` for other databases and in-memory
/// ones.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(':')).then(|| PathBuf::from(path))
}

/// The store a configuration names, as a URL: a `postgres://` or
/// `sqlite://` URL as it is, or a file path (relative to `base`, the
/// configuration's directory) as a SQLite URL. `Err` says what is accepted.
pub fn url_of(base: &Path, value: &str) -> Result<String, String> {
    if !value.contains("://") {
        return Ok(sqlite_url(&base.join(value)));
    }
    if ["sqlite://", "postgres://", "postgresql://"]
        .iter()
        .any(|p| value.starts_with(p))
    {
        Ok(value.to_string())
    } else {
        Err("use a file path (SQLite) or a postgres:// URL".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_the_mode_their_user_needs() {
        assert_eq!(with_mode("sqlite:///a.db", true), "sqlite:///a.db?mode=rwc");
        assert_eq!(
            with_mode("sqlite:///a.db?x=1", false),
            "sqlite:///a.db?x=1&mode=ro"
        );
        assert_eq!(
            with_mode("sqlite:///a.db?mode=ro", true),
            "sqlite:///a.db?mode=ro"
        );
        assert_eq!(with_mode("postgres://h/db", true), "postgres://h/db");
        let base = Path::new("/etc/trama");
        assert_eq!(
            url_of(base, "audit.db").as_deref(),
            Ok("sqlite:///etc/trama/audit.db")
        );
        assert!(url_of(base, "mysql://h/db").is_err());
    }
}
