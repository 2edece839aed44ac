//! MySQL and MariaDB: the statement timeout set in each session (each
//! server names it differently), parameters bound as they are (the server
//! converts), unsigned columns read as such.

use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow, MySqlTypeInfo};
use sqlx::types::Decimal;
use sqlx::types::time::{Date, OffsetDateTime, PrimitiveDateTime};
use sqlx::{AssertSqlSafe, Executor, Row, SqlSafeStr, Statement, Type, TypeInfo};

use super::typed::{self, Decode};
use super::{ColumnInfo, Engine, Limits, Param, ParamType, Prepared, Rows, SourceError, Value};
use crate::params::Placeholder;

/// A MySQL or MariaDB pool.
#[derive(Debug, Clone)]
pub(super) struct MySql {
    pool: MySqlPool,
}

impl MySql {
    /// A pool that connects lazily (the connector starts while its
    /// database is down), each session cancelling statements past the
    /// limit.
    pub(super) fn connect(url: &str, limits: Limits) -> Result<MySql, SourceError> {
        let url = url.replacen("mariadb://", "mysql://", 1);
        let options = MySqlConnectOptions::from_str(&url)?;
        let seconds = limits.statement_timeout.as_secs_f64();
        let millis = limits.statement_timeout.as_millis().max(1);
        let pool = MySqlPoolOptions::new()
            .max_connections(limits.max_connections.max(1))
            .acquire_timeout(limits.statement_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    // MariaDB cancels with max_statement_time (seconds),
                    // MySQL with max_execution_time (milliseconds).
                    let mariadb = format!("SET SESSION max_statement_time = {seconds}");
                    if conn.execute(AssertSqlSafe(mariadb)).await.is_err() {
                        let mysql = format!("SET SESSION max_execution_time = {millis}");
                        conn.execute(AssertSqlSafe(mysql)).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(MySql { pool })
    }
}

type MySqlQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;

/// Binds `params` as they are; the server converts them to the column's
/// type.
fn bind_all<'q>(mut q: MySqlQuery<'q>, params: &[Param]) -> MySqlQuery<'q> {
    for p in params {
        q = match p {
            Param::Text(v) => q.bind(v.clone()),
            Param::Int(v) => q.bind(*v),
            Param::Date(v) => q.bind(*v),
        };
    }
    q
}

impl Engine for MySql {
    const NAME: &'static str = "mysql";
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

    async fn fetch(&self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        let q = bind_all(sqlx::query(AssertSqlSafe(query.text.clone())), params);
        let rows = q.fetch_all(&self.pool).await?;
        Ok(typed::rows(&rows, decoder, read))
    }

    async fn write_once(
        &self,
        check: super::Bound<'_>,
        write: super::Bound<'_>,
    ) -> Result<bool, SourceError> {
        let mut tx = self.pool.begin().await?;
        let found = bind_all(sqlx::query(AssertSqlSafe(check.0.text.clone())), check.1)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            bind_all(sqlx::query(AssertSqlSafe(write.0.text.clone())), write.1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(found.is_none())
    }

    async fn explain(
        &self,
        query: &Prepared,
        params: &[Param],
    ) -> Result<Vec<String>, SourceError> {
        let text = format!("EXPLAIN {}", query.text);
        let rows = bind_all(sqlx::query(AssertSqlSafe(text)), params)
            .fetch_all(&self.pool)
            .await?;
        // Columns: id, select_type, table, partitions, type,
        // possible_keys, key, ...
        Ok(rows
            .iter()
            .map(|r| {
                let get = |c: &str| {
                    r.try_get::<Option<String>, _>(c)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                };
                format!(
                    "table={} type={} possible_keys={} key={}",
                    get("table"),
                    get("type"),
                    get("possible_keys"),
                    get("key")
                )
            })
            .collect())
    }

    /// `type=ALL` with no usable key; small tables may be scanned by choice
    /// even when an index exists, which is fine.
    fn scans(step: &str) -> bool {
        (step.contains("type=ALL") || step.contains("type=index"))
            && step.contains("possible_keys= key=")
    }
}

/// How a column of type `ti` is read.
fn decoder(ti: &MySqlTypeInfo) -> Decode {
    if <i64 as Type<sqlx::MySql>>::compatible(ti) {
        Decode::I64
    } else if <u64 as Type<sqlx::MySql>>::compatible(ti) {
        Decode::U64
    } else if <f32 as Type<sqlx::MySql>>::compatible(ti) && ti.name() == "FLOAT" {
        Decode::F32
    } else if <f64 as Type<sqlx::MySql>>::compatible(ti) {
        Decode::F64
    } else if <Decimal as Type<sqlx::MySql>>::compatible(ti) {
        Decode::Decimal
    } else if <Date as Type<sqlx::MySql>>::compatible(ti) {
        Decode::Date
    } else if <PrimitiveDateTime as Type<sqlx::MySql>>::compatible(ti) {
        Decode::DateTime
    } else if <OffsetDateTime as Type<sqlx::MySql>>::compatible(ti) {
        Decode::DateTimeTz
    } else if <String as Type<sqlx::MySql>>::compatible(ti) {
        Decode::Text
    } else {
        Decode::Bytes
    }
}

/// Reads one value; unsigned columns decode only as unsigned integers, and
/// one beyond `i64` stays exact as a decimal.
fn read(row: &MySqlRow, i: usize, decode: Decode) -> Value {
    match decode {
        Decode::U64 => row
            .try_get::<Option<u64>, _>(i)
            .ok()
            .flatten()
            .map_or(Value::Null, |v| {
                i64::try_from(v).map_or_else(|_| Value::Decimal(Decimal::from(v)), Value::Int)
            }),
        d => typed::read(row, i, d),
    }
}
