//! Databases the sandbox makes on PostgreSQL and MySQL/MariaDB servers:
//! each partner's in a database of its own, recreated at the start and
//! dropped at the end.

use anyhow::{Context, bail};
use trama_connector::source::redact;

use crate::seed::sink::{Engine, Sink};

/// Creates (or recreates) database `name` on the server of `server_url`,
/// and returns the URL of the new database.
pub async fn fresh_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("`{name}` is not a usable database name (letters, digits and _)");
    }
    let mut admin = Sink::connect(server_url)
        .await
        .with_context(|| format!("connecting to {}", redact(server_url)))?;
    match Engine::of(server_url) {
        Some(Engine::Postgres) => {
            admin
                .statement(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
            admin.statement(format!("CREATE DATABASE {name}")).await?;
        }
        Some(Engine::MySql) => {
            admin
                .statement(format!("DROP DATABASE IF EXISTS {name}"))
                .await?;
            admin
                .statement(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                .await?;
        }
        _ => bail!(
            "{} is not a PostgreSQL or MySQL/MariaDB URL",
            redact(server_url)
        ),
    }
    admin.close().await;
    Ok(with_database(server_url, name))
}

/// The same server URL naming database `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}/{name}{query}")
}

/// Drops database `name` on the server of `server_url`, if it exists.
pub async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("`{name}` is not a usable database name (letters, digits and _)");
    }
    let mut admin = Sink::connect(server_url).await?;
    let force = if Engine::of(server_url) == Some(Engine::Postgres) {
        " WITH (FORCE)"
    } else {
        ""
    };
    admin
        .statement(format!("DROP DATABASE IF EXISTS {name}{force}"))
        .await?;
    admin.close().await;
    Ok(())
}

/// The `host:port` of a server URL (`scheme://[user@]host:port/...`).
pub fn address_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_string())
}

/// The same URL reaching the server at `address` (`host:port`) instead.
pub fn with_address(url: &str, address: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = match authority.rsplit_once('@') {
        Some((user, _)) => format!("{user}@"),
        None => String::new(),
    };
    format!("{scheme}://{user}{address}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_change_database_or_address_and_keep_the_rest() {
        let url = "postgres://postgres:pw@127.0.0.1:5432/postgres?sslmode=disable";
        assert_eq!(
            with_database(url, "trama_x"),
            "postgres://postgres:pw@127.0.0.1:5432/trama_x?sslmode=disable"
        );
        assert_eq!(address_of(url).as_deref(), Some("127.0.0.1:5432"));
        assert_eq!(
            with_address(url, "127.0.0.1:9"),
            "postgres://postgres:pw@127.0.0.1:9/postgres?sslmode=disable"
        );
        assert_eq!(
            with_address("mysql://root@127.0.0.1:3306", "127.0.0.1:9"),
            "mysql://root@127.0.0.1:9"
        );
    }
}
