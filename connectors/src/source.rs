//! The partner's database, reached through sqlx with a typed pool per engine
//! (not `sqlx::Any`, whose value model cannot carry dates and decimals), and
//! Trama's own small value model for what comes back.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Column, Executor, Row, SqlSafeStr, Statement, TypeInfo, ValueRef};

use crate::params::{ParamSql, Placeholder};

/// A value read from a result column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point or decimal number.
    Real(f64),
    /// Text (also dates stored as text).
    Text(String),
}

/// A value bound to a query parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL (the caller did not give this field).
    Null,
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
}

/// A column of a query's result, as the engine describes it.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// The engine's type name, upper case (`TEXT`, `INTEGER`, ...); `NULL`
    /// when the engine cannot tell (expressions in SQLite).
    pub type_name: String,
}

/// The rows of a result, with the column names once.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Column names, in result order.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The index of `column` in the result.
    pub fn index_of(&self, column: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
    }
}

/// Errors reaching or querying the database.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database URL names an engine this build does not serve.
    #[error("unsupported database URL `{0}` (expected sqlite://PATH)")]
    UnsupportedUrl(String),
    /// sqlx reported an error.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// The query ran past its time limit.
    #[error("the query ran past its time limit of {0:?}")]
    Timeout(Duration),
}

impl SourceError {
    /// Whether the error means the database cannot be reached (as opposed
    /// to a query that failed).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            SourceError::Sql(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

/// Pool and time limits for the database.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections in the pool at most.
    pub max_connections: u32,
    /// How long one query may run.
    pub statement_timeout: Duration,
}

/// A partner database.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file.
    Sqlite {
        /// The pool.
        pool: SqlitePool,
        /// The limits.
        limits: Limits,
    },
}

impl Database {
    /// Connects to the database named by `url`.
    pub async fn connect(url: &str, limits: Limits) -> Result<Database, SourceError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            let pool = SqlitePoolOptions::new()
                .max_connections(limits.max_connections.max(1))
                .acquire_timeout(limits.statement_timeout)
                .connect_with(options)
                .await?;
            Ok(Database::Sqlite { pool, limits })
        } else {
            Err(SourceError::UnsupportedUrl(redact(url)))
        }
    }

    /// The placeholder style of the engine.
    pub fn placeholder(&self) -> Placeholder {
        match self {
            Database::Sqlite { .. } => Placeholder::Question,
        }
    }

    /// Prepares `sql` and describes its result columns, without running
    /// it. Fails if the SQL does not parse or names missing tables or
    /// columns.
    pub async fn describe(&self, sql: &ParamSql) -> Result<Vec<ColumnInfo>, SourceError> {
        let text = sql.render(self.placeholder());
        match self {
            Database::Sqlite { pool, .. } => {
                let statement = pool.prepare(AssertSqlSafe(text).into_sql_str()).await?;
                Ok(statement
                    .columns()
                    .iter()
                    .map(|c| ColumnInfo {
                        name: c.name().to_string(),
                        type_name: c.type_info().name().to_ascii_uppercase(),
                    })
                    .collect())
            }
        }
    }

    /// Runs `sql` with `params` (one per placeholder, in order).
    ///
    /// The SQL text comes from the partner's mapping file, written by the
    /// partner's own IT person and checked at start; request values reach
    /// the database only as bound parameters, which is why the text may be
    /// asserted safe.
    pub async fn fetch(&self, sql: &ParamSql, params: &[Param]) -> Result<Rows, SourceError> {
        let text = sql.render(self.placeholder());
        match self {
            Database::Sqlite { pool, limits } => {
                let mut query = sqlx::query(AssertSqlSafe(text));
                for p in params {
                    query = match p {
                        Param::Null => query.bind(None::<String>),
                        Param::Text(s) => query.bind(s.clone()),
                        Param::Int(i) => query.bind(*i),
                    };
                }
                let rows = tokio::time::timeout(limits.statement_timeout, query.fetch_all(pool))
                    .await
                    .map_err(|_| SourceError::Timeout(limits.statement_timeout))??;
                Ok(sqlite_rows(&rows))
            }
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), SourceError> {
        match self {
            Database::Sqlite { pool, .. } => {
                pool.execute("SELECT 1").await?;
                Ok(())
            }
        }
    }
}

fn sqlite_rows(rows: &[SqliteRow]) -> Rows {
    let Some(first) = rows.first() else {
        return Rows::default();
    };
    let columns = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|i| sqlite_value(row, i)).collect())
        .collect();
    Rows { columns, rows }
}

/// Reads a SQLite value by its storage class, whatever the declared type.
fn sqlite_value(row: &SqliteRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let class = raw.type_info().name().to_ascii_uppercase();
    match class.as_str() {
        "INTEGER" | "BOOLEAN" => row.try_get::<i64, _>(i).map_or(Value::Null, Value::Int),
        "REAL" | "NUMERIC" => row.try_get::<f64, _>(i).map_or(Value::Null, Value::Real),
        _ => row.try_get::<String, _>(i).map_or(Value::Null, Value::Text),
    }
}

/// A database URL with any password removed, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
