//! PostgreSQL: the statement timeout set in each session, parameters bound
//! with the type the server inferred for them, plans made with sequential
//! scans disabled.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgTypeInfo};
use sqlx::types::Decimal;
use sqlx::types::time::{Date, OffsetDateTime, PrimitiveDateTime};
use sqlx::{AssertSqlSafe, Either, Executor, Row, SqlSafeStr, Statement, Type, TypeInfo};

use super::typed::{self, Decode};
use super::{ColumnInfo, Engine, Limits, Param, ParamType, Prepared, Rows, SourceError};
use crate::params::Placeholder;

/// A PostgreSQL pool.
#[derive(Debug, Clone)]
pub(super) struct Postgres {
    pool: PgPool,
}

impl Postgres {
    /// A pool that connects lazily (the connector starts while its
    /// database is down), each session cancelling statements past the
    /// limit.
    pub(super) fn connect(url: &str, limits: Limits) -> Result<Postgres, SourceError> {
        let timeout_ms = limits.statement_timeout.as_millis().max(1);
        let options = PgConnectOptions::from_str(url)?
            .options([("statement_timeout", timeout_ms.to_string())])
            .application_name("trama-connector");
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections.max(1))
            .acquire_timeout(limits.statement_timeout)
            .connect_lazy_with(options);
        Ok(Postgres { pool })
    }
}

impl Engine for Postgres {
    const NAME: &'static str = "postgresql";
    const PLACEHOLDER: Placeholder = Placeholder::Dollar;

    async fn prepare(
        &self,
        text: &str,
        params: usize,
    ) -> Result<(Vec<ColumnInfo>, Vec<ParamType>), SourceError> {
        let sql = AssertSqlSafe(text.to_string()).into_sql_str();
        let statement = self.pool.prepare(sql).await?;
        let types = match statement.parameters() {
            Some(Either::Left(types)) => types.iter().map(param_type).collect(),
            _ => vec![ParamType::Any; params],
        };
        Ok((typed::columns_of(statement.columns()), types))
    }

    async fn fetch(&self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        let q = bind_all(
            sqlx::query(AssertSqlSafe(query.text.clone())),
            query,
            params,
        )?;
        let rows = q.fetch_all(&self.pool).await?;
        Ok(typed::rows(&rows, decoder, |row: &PgRow, i, d| {
            typed::read(row, i, d)
        }))
    }

    async fn write_once(
        &self,
        check: super::Bound<'_>,
        write: super::Bound<'_>,
    ) -> Result<bool, SourceError> {
        let mut tx = self.pool.begin().await?;
        let found = bind_all(
            sqlx::query(AssertSqlSafe(check.0.text.clone())),
            check.0,
            check.1,
        )?
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            bind_all(
                sqlx::query(AssertSqlSafe(write.0.text.clone())),
                write.0,
                write.1,
            )?
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
        let mut conn = self.pool.acquire().await?;
        conn.execute("SET enable_seqscan = off").await?;
        let text = format!("EXPLAIN {}", query.text);
        let q = bind_all(sqlx::query(AssertSqlSafe(text)), query, params)?;
        let rows = q.fetch_all(&mut *conn).await;
        let _ = conn.execute("RESET enable_seqscan").await;
        Ok(rows?
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect())
    }

    /// Planned with sequential scans disabled: one that remains has no
    /// index to use instead.
    fn scans(step: &str) -> bool {
        step.contains("Seq Scan on")
    }
}

/// The parameter type PostgreSQL inferred.
fn param_type(t: &PgTypeInfo) -> ParamType {
    match t.name() {
        "INT2" => ParamType::Int2,
        "INT4" => ParamType::Int4,
        "INT8" => ParamType::Int8,
        "DATE" => ParamType::Date,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => ParamType::Text,
        _ => ParamType::Any,
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds every parameter of `query` with the type PostgreSQL inferred.
fn bind_all<'q>(
    mut q: PgQuery<'q>,
    query: &Prepared,
    params: &[Param],
) -> Result<PgQuery<'q>, SourceError> {
    for (i, p) in params.iter().enumerate() {
        let ty = query.types.get(i).copied().unwrap_or(ParamType::Any);
        let name = query.names.get(i).map_or("?", String::as_str);
        q = bind(q, p, ty, name)?;
    }
    Ok(q)
}

/// Binds a parameter with the type PostgreSQL inferred for it: text sent
/// for a numeric parameter is converted here, or refused as
/// [`SourceError::ParamType`] (an identifier that cannot have the column's
/// type names nobody).
fn bind<'q>(
    q: PgQuery<'q>,
    p: &Param,
    ty: ParamType,
    name: &str,
) -> Result<PgQuery<'q>, SourceError> {
    let bad = |expected| SourceError::ParamType {
        name: name.to_string(),
        expected,
    };
    let int = |v: &Option<String>| -> Result<Option<i64>, SourceError> {
        v.as_deref()
            .map(|s| s.trim().parse::<i64>())
            .transpose()
            .map_err(|_| bad("a whole number"))
    };
    Ok(match (p, ty) {
        (Param::Text(v), ParamType::Int2) => q.bind(
            int(v)?
                .map(i16::try_from)
                .transpose()
                .map_err(|_| bad("a small number"))?,
        ),
        (Param::Text(v), ParamType::Int4) => q.bind(
            int(v)?
                .map(i32::try_from)
                .transpose()
                .map_err(|_| bad("a 32-bit number"))?,
        ),
        (Param::Text(v), ParamType::Int8) => q.bind(int(v)?),
        (Param::Text(v), _) => q.bind(v.clone()),
        (Param::Int(v), ParamType::Int2) => q.bind(v.and_then(|i| i16::try_from(i).ok())),
        (Param::Int(v), ParamType::Int4) => q.bind(v.and_then(|i| i32::try_from(i).ok())),
        (Param::Int(v), ParamType::Text) => q.bind(v.map(|i| i.to_string())),
        (Param::Int(v), _) => q.bind(*v),
        (Param::Date(v), ParamType::Text) => q.bind(v.map(|d| d.to_string())),
        (Param::Date(v), _) => q.bind(*v),
    })
}

/// How a column of type `ti` is read.
fn decoder(ti: &PgTypeInfo) -> Decode {
    if <i16 as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::I16
    } else if <i32 as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::I32
    } else if <i64 as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::I64
    } else if <f32 as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::F32
    } else if <f64 as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::F64
    } else if <Decimal as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::Decimal
    } else if <bool as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::Bool
    } else if <Date as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::Date
    } else if <PrimitiveDateTime as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::DateTime
    } else if <OffsetDateTime as Type<sqlx::Postgres>>::compatible(ti) {
        Decode::DateTimeTz
    } else {
        Decode::Text
    }
}
