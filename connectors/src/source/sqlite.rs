//! SQLite: a file opened at start, dates bound as ISO text, values read by
//! their storage class whatever the column declares, and one read
//! transaction per request.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Column, Executor, Row, SqlSafeStr, Statement, TypeInfo, ValueRef};

use super::typed;
use super::{ColumnInfo, Engine, Limits, Param, ParamType, Prepared, Rows, SourceError, Value};
use crate::params::Placeholder;

/// A SQLite pool.
#[derive(Debug, Clone)]
pub(super) struct Sqlite {
    pool: SqlitePool,
}

/// The read transaction of one request.
pub(super) type ReadTransaction = sqlx::Transaction<'static, sqlx::Sqlite>;

impl Sqlite {
    /// Opens the file now: a file that is missing fails the start.
    pub(super) async fn connect(url: &str, limits: Limits) -> Result<Sqlite, SourceError> {
        let options = SqliteConnectOptions::from_str(url)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(limits.max_connections.max(1))
            .acquire_timeout(limits.statement_timeout)
            .connect_with(options)
            .await?;
        Ok(Sqlite { pool })
    }

    /// Begins the read transaction of one request.
    pub(super) async fn begin(&self) -> Result<ReadTransaction, SourceError> {
        Ok(self.pool.begin().await?)
    }
}

/// A SQLite query with its parameters bound.
fn query<'q>(
    query: &Prepared,
    params: &[Param],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    query_text(AssertSqlSafe(query.text.clone()).into_sql_str(), params)
}

fn query_text<'q>(
    sql: sqlx::SqlStr,
    params: &[Param],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut q = sqlx::query(sql);
    for p in params {
        q = match p {
            Param::Text(v) => q.bind(v.clone()),
            Param::Int(v) => q.bind(*v),
            // Dates are ISO text in SQLite.
            Param::Date(v) => q.bind(v.map(|d| d.to_string())),
        };
    }
    q
}

/// Runs a prepared query inside a request's read transaction.
pub(super) async fn fetch_in(
    tx: &mut ReadTransaction,
    prepared: &Prepared,
    params: &[Param],
) -> Result<Rows, SourceError> {
    let rows = query(prepared, params).fetch_all(&mut **tx).await?;
    Ok(rows_of(&rows))
}

impl Engine for Sqlite {
    const NAME: &'static str = "sqlite";
    const PLACEHOLDER: Placeholder = Placeholder::Question;

    async fn prepare(
        &self,
        text: &str,
        params: usize,
    ) -> Result<(Vec<ColumnInfo>, Vec<ParamType>), SourceError> {
        let sql = AssertSqlSafe(text.to_string()).into_sql_str();
        let statement = self.pool.prepare(sql).await?;
        Ok((
            typed::columns_of(statement.columns()),
            vec![ParamType::Any; params],
        ))
    }

    async fn fetch(&self, prepared: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        let rows = query(prepared, params).fetch_all(&self.pool).await?;
        Ok(rows_of(&rows))
    }

    async fn write_once(
        &self,
        check: super::Bound<'_>,
        write: super::Bound<'_>,
    ) -> Result<bool, SourceError> {
        // BEGIN IMMEDIATE: the write lock first, so that two deliveries of
        // one id cannot both find it missing.
        let mut conn = self.pool.acquire().await?;
        conn.execute("BEGIN IMMEDIATE").await?;
        let done = async {
            let found = query(check.0, check.1).fetch_optional(&mut *conn).await?;
            if found.is_none() {
                query(write.0, write.1).execute(&mut *conn).await?;
            }
            Ok::<bool, sqlx::Error>(found.is_none())
        }
        .await;
        match done {
            Ok(wrote) => {
                conn.execute("COMMIT").await?;
                Ok(wrote)
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                Err(e.into())
            }
        }
    }

    async fn explain(
        &self,
        prepared: &Prepared,
        params: &[Param],
    ) -> Result<Vec<String>, SourceError> {
        let text = format!("EXPLAIN QUERY PLAN {}", prepared.text);
        let rows = query_text(AssertSqlSafe(text).into_sql_str(), params)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("detail").ok())
            .collect())
    }

    /// SQLite plans name a full scan `SCAN <table>` (an index lookup is
    /// `SEARCH`); scanning a one-row constant is harmless.
    fn scans(step: &str) -> bool {
        step.starts_with("SCAN ") && !step.contains("CONSTANT ROW")
    }
}

fn rows_of(rows: &[SqliteRow]) -> Rows {
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
        .map(|row| (0..row.len()).map(|i| value(row, i)).collect())
        .collect();
    Rows { columns, rows }
}

/// Reads a SQLite value by its storage class, whatever the declared type.
fn value(row: &SqliteRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let class = raw.type_info();
    let is = |names: &[&str]| names.iter().any(|n| class.name().eq_ignore_ascii_case(n));
    if is(&["INTEGER", "BOOLEAN"]) {
        row.try_get::<i64, _>(i).map_or(Value::Null, Value::Int)
    } else if is(&["REAL", "NUMERIC"]) {
        row.try_get::<f64, _>(i).map_or(Value::Null, Value::float)
    } else {
        row.try_get::<String, _>(i).map_or(Value::Null, Value::Text)
    }
}
