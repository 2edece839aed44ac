//! The partner's database, reached through sqlx with one typed pool per
//! engine (PostgreSQL, MySQL/MariaDB, SQLite; not `sqlx::Any`, whose value
//! model cannot carry dates and decimals), and Trama's own small value model
//! for what comes back.
//!
//! Every query is prepared once at start ([`Database::prepare`]): the engine
//! parses it, names its result columns and (PostgreSQL) infers the type of
//! each parameter, so that values are bound with the type the database
//! expects. sqlx keeps prepared statements per connection, so each query is
//! parsed once per connection, not once per call. Statement timeouts are set
//! in the database session, so a query that runs too long is cancelled by
//! the database itself, not merely abandoned.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::types::Decimal;
use sqlx::types::time::{Date, OffsetDateTime, PrimitiveDateTime};
use sqlx::{
    AssertSqlSafe, Column, Either, Executor, MySql, Postgres, Row, SqlSafeStr, Statement, Type,
    TypeInfo, ValueRef,
};

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
    /// A calendar date.
    Date(Date),
    /// A point in time, seconds since the Unix epoch (UTC).
    Timestamp(i64),
    /// A boolean.
    Bool(bool),
}

/// A value bound to a query parameter, typed by what it means; `None` is
/// SQL NULL (the caller did not give this field).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Text.
    Text(Option<String>),
    /// An integer.
    Int(Option<i64>),
    /// A calendar date.
    Date(Option<Date>),
}

impl Param {
    /// Whether the value is known (not NULL).
    pub fn is_known(&self) -> bool {
        match self {
            Param::Text(v) => v.is_some(),
            Param::Int(v) => v.is_some(),
            Param::Date(v) => v.is_some(),
        }
    }
}

/// The type the database expects for a parameter (PostgreSQL infers it;
/// the other engines convert what they get).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Whatever the value is.
    Any,
    /// Text.
    Text,
    /// 16-bit integer.
    Int2,
    /// 32-bit integer.
    Int4,
    /// 64-bit integer.
    Int8,
    /// A calendar date.
    Date,
}

/// A column of a query's result, as the engine describes it.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// The engine's type name, upper case (`TEXT`, `INT4`, ...); `NULL`
    /// when the engine cannot tell (expressions in SQLite).
    pub type_name: String,
}

/// A query prepared against the database: its SQL in the engine's
/// placeholders, its result columns and its parameter types.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The SQL with engine placeholders.
    pub text: Arc<str>,
    /// Parameter names, one per placeholder.
    pub names: Vec<String>,
    /// Parameter types, one per placeholder.
    pub types: Vec<ParamType>,
    /// Result columns.
    pub columns: Vec<ColumnInfo>,
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
    #[error(
        "unsupported database URL `{0}` (expected postgres://, mysql://, mariadb:// or sqlite://)"
    )]
    UnsupportedUrl(String),
    /// sqlx reported an error.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// The query ran past its time limit and was cancelled.
    #[error("the query ran past its time limit of {0:?} and was cancelled")]
    Timeout(Duration),
    /// A parameter value cannot have the type the query needs.
    #[error("parameter `:{name}` cannot be {expected}")]
    ParamType {
        /// The parameter.
        name: String,
        /// The type the database expects.
        expected: &'static str,
    },
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
                    | sqlx::Error::Protocol(_)
            )
        )
    }

    /// Whether the server refused the connection itself: authentication,
    /// authorisation or an unknown database (PostgreSQL SQLSTATE classes
    /// 28 and 3D; MySQL 1044, 1045, 1049).
    pub fn is_refused_connection(&self) -> bool {
        let SourceError::Sql(sqlx::Error::Database(db)) = self else {
            return false;
        };
        match db.code().as_deref() {
            Some(code) => {
                code.starts_with("28")
                    || code.starts_with("3D")
                    || matches!(code, "1044" | "1045" | "1049" | "42000")
                        && (db.message().contains("Access denied")
                            || db.message().contains("Unknown database"))
            }
            None => false,
        }
    }

    /// Turns a database error that means "cancelled by the statement
    /// timeout" into [`SourceError::Timeout`].
    fn classify(e: sqlx::Error, limit: Duration) -> SourceError {
        if let sqlx::Error::Database(db) = &e {
            let code = db.code();
            // PostgreSQL query_canceled; MariaDB ER_STATEMENT_TIMEOUT;
            // MySQL ER_QUERY_TIMEOUT.
            if matches!(code.as_deref(), Some("57014") | Some("70100"))
                || db.message().contains("max_statement_time")
                || db.message().contains("maximum statement execution time")
            {
                return SourceError::Timeout(limit);
            }
        }
        SourceError::Sql(e)
    }
}

/// Pool and time limits for the database.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections in the pool at most: the most queries the connector
    /// runs against the partner's database at once.
    pub max_connections: u32,
    /// How long one query may run before the database cancels it.
    pub statement_timeout: Duration,
}

/// A partner database.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL.
    Postgres {
        /// The pool.
        pool: PgPool,
        /// The limits.
        limits: Limits,
    },
    /// MySQL or MariaDB.
    MySql {
        /// The pool.
        pool: MySqlPool,
        /// The limits.
        limits: Limits,
    },
    /// A SQLite file.
    Sqlite {
        /// The pool.
        pool: SqlitePool,
        /// The limits.
        limits: Limits,
    },
}

impl Database {
    /// Opens a pool for the database named by `url`. PostgreSQL and MySQL
    /// pools connect lazily, so a connector starts while its database is
    /// down; SQLite opens the file now. TLS to the database is used when
    /// the URL asks for it (`sslmode=require`, `ssl-mode=REQUIRED`).
    pub async fn connect(url: &str, limits: Limits) -> Result<Database, SourceError> {
        let timeout_ms = limits.statement_timeout.as_millis().max(1);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?
                .options([("statement_timeout", timeout_ms.to_string())])
                .application_name("trama-connector");
            let pool = PgPoolOptions::new()
                .max_connections(limits.max_connections.max(1))
                .acquire_timeout(limits.statement_timeout)
                .connect_lazy_with(options);
            Ok(Database::Postgres { pool, limits })
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let options = MySqlConnectOptions::from_str(&url)?;
            let seconds = limits.statement_timeout.as_secs_f64();
            let millis = timeout_ms;
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
            Ok(Database::MySql { pool, limits })
        } else if url.starts_with("sqlite:") {
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

    /// The engine's name, for messages.
    pub fn engine(&self) -> &'static str {
        match self {
            Database::Postgres { .. } => "postgresql",
            Database::MySql { .. } => "mysql",
            Database::Sqlite { .. } => "sqlite",
        }
    }

    /// The placeholder style of the engine.
    pub fn placeholder(&self) -> Placeholder {
        match self {
            Database::Postgres { .. } => Placeholder::Dollar,
            Database::MySql { .. } | Database::Sqlite { .. } => Placeholder::Question,
        }
    }

    fn limits(&self) -> Limits {
        match self {
            Database::Postgres { limits, .. }
            | Database::MySql { limits, .. }
            | Database::Sqlite { limits, .. } => *limits,
        }
    }

    /// Prepares `sql` without running it: the engine parses it, names its
    /// result columns and parameter types. Fails if the SQL does not parse
    /// or names missing tables or columns.
    pub async fn prepare(&self, sql: &ParamSql) -> Result<Prepared, SourceError> {
        let text: Arc<str> = sql.render(self.placeholder()).into();
        let names: Vec<String> = sql.param_names().map(str::to_string).collect();
        let stmt_sql = AssertSqlSafe(text.clone()).into_sql_str();
        let (columns, types) = match self {
            Database::Postgres { pool, .. } => {
                let statement = pool.prepare(stmt_sql).await?;
                let types = match statement.parameters() {
                    Some(Either::Left(types)) => types
                        .iter()
                        .map(|t| match t.name() {
                            "INT2" => ParamType::Int2,
                            "INT4" => ParamType::Int4,
                            "INT8" => ParamType::Int8,
                            "DATE" => ParamType::Date,
                            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => ParamType::Text,
                            _ => ParamType::Any,
                        })
                        .collect(),
                    _ => vec![ParamType::Any; names.len()],
                };
                (columns_of(statement.columns()), types)
            }
            Database::MySql { pool, .. } => {
                let statement = pool.prepare(stmt_sql).await?;
                (
                    columns_of(statement.columns()),
                    vec![ParamType::Any; names.len()],
                )
            }
            Database::Sqlite { pool, .. } => {
                let statement = pool.prepare(stmt_sql).await?;
                (
                    columns_of(statement.columns()),
                    vec![ParamType::Any; names.len()],
                )
            }
        };
        Ok(Prepared {
            text,
            names,
            types,
            columns,
        })
    }

    /// Runs a prepared query with `params` (one per placeholder, in order).
    ///
    /// The SQL text comes from the partner's mapping file, written by the
    /// partner's own IT person and checked at start; request values reach
    /// the database only as bound parameters, which is why the text may be
    /// asserted safe.
    pub async fn fetch(&self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        let limits = self.limits();
        let sql = || AssertSqlSafe(query.text.clone());
        let run = async {
            match self {
                Database::Postgres { pool, .. } => {
                    let mut q = sqlx::query::<Postgres>(sql());
                    for (i, p) in params.iter().enumerate() {
                        let ty = query.types.get(i).copied().unwrap_or(ParamType::Any);
                        let name = query.names.get(i).map_or("?", String::as_str);
                        q = bind_pg(q, p, ty, name)?;
                    }
                    let rows = q.fetch_all(pool).await;
                    rows.map(|r| pg_rows(&r))
                        .map_err(|e| SourceError::classify(e, limits.statement_timeout))
                }
                Database::MySql { pool, .. } => {
                    let mut q = sqlx::query::<MySql>(sql());
                    for p in params {
                        q = match p {
                            Param::Text(v) => q.bind(v.clone()),
                            Param::Int(v) => q.bind(*v),
                            Param::Date(v) => q.bind(*v),
                        };
                    }
                    let rows = q.fetch_all(pool).await;
                    rows.map(|r| mysql_rows(&r))
                        .map_err(|e| SourceError::classify(e, limits.statement_timeout))
                }
                Database::Sqlite { pool, .. } => {
                    let rows = sqlite_query(query, params).fetch_all(pool).await;
                    rows.map(|r| sqlite_rows(&r))
                        .map_err(|e| SourceError::classify(e, limits.statement_timeout))
                }
            }
        };
        within_backstop(limits, run).await
    }

    /// A session for the queries of one request (see [`Session`]).
    pub async fn session(&self) -> Result<Session<'_>, SourceError> {
        let sqlite = match self {
            Database::Sqlite { pool, .. } => Some(pool.begin().await?),
            _ => None,
        };
        Ok(Session { db: self, sqlite })
    }

    /// A session that runs each query on the pool.
    pub fn pooled(&self) -> Session<'_> {
        Session {
            db: self,
            sqlite: None,
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), SourceError> {
        match self {
            Database::Postgres { pool, .. } => pool.execute("SELECT 1").await.map(|_| ())?,
            Database::MySql { pool, .. } => pool.execute("SELECT 1").await.map(|_| ())?,
            Database::Sqlite { pool, .. } => pool.execute("SELECT 1").await.map(|_| ())?,
        }
        Ok(())
    }

    /// The engine's plan for a prepared query, one line per step, with
    /// sequential scans forbidden where the engine allows it (PostgreSQL),
    /// so that a plan that still scans a whole table proves no index can
    /// serve the query.
    pub async fn explain(&self, query: &Prepared) -> Result<Vec<String>, SourceError> {
        let nulls: Vec<Param> = query
            .types
            .iter()
            .map(|t| match t {
                ParamType::Int2 | ParamType::Int4 | ParamType::Int8 => Param::Int(Some(1)),
                ParamType::Date => {
                    Param::Date(Date::from_calendar_date(2000, time::Month::January, 1).ok())
                }
                _ => Param::Text(Some("X".into())),
            })
            .collect();
        match self {
            Database::Postgres { pool, .. } => {
                let mut conn = pool.acquire().await?;
                conn.execute("SET enable_seqscan = off").await?;
                let text = format!("EXPLAIN {}", query.text);
                let mut q = sqlx::query::<Postgres>(AssertSqlSafe(text));
                for (i, p) in nulls.iter().enumerate() {
                    let ty = query.types.get(i).copied().unwrap_or(ParamType::Any);
                    q = bind_pg(q, p, ty, "?")?;
                }
                let rows = q.fetch_all(&mut *conn).await;
                let _ = conn.execute("RESET enable_seqscan").await;
                Ok(rows?
                    .iter()
                    .filter_map(|r| r.try_get::<String, _>(0).ok())
                    .collect())
            }
            Database::MySql { pool, .. } => {
                let text = format!("EXPLAIN {}", query.text);
                let mut q = sqlx::query::<MySql>(AssertSqlSafe(text));
                for p in &nulls {
                    q = match p {
                        Param::Text(v) => q.bind(v.clone()),
                        Param::Int(v) => q.bind(*v),
                        Param::Date(v) => q.bind(*v),
                    };
                }
                let rows = q.fetch_all(pool).await?;
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
            Database::Sqlite { pool, .. } => {
                let text = format!("EXPLAIN QUERY PLAN {}", query.text);
                let mut q = sqlx::query(AssertSqlSafe(text));
                for p in &nulls {
                    q = match p {
                        Param::Text(v) => q.bind(v.clone()),
                        Param::Int(v) => q.bind(*v),
                        Param::Date(v) => q.bind(v.map(|d| d.to_string())),
                    };
                }
                let rows = q.fetch_all(pool).await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| r.try_get::<String, _>("detail").ok())
                    .collect())
            }
        }
    }
}

fn columns_of<C: Column>(columns: &[C]) -> Vec<ColumnInfo> {
    columns
        .iter()
        .map(|c| ColumnInfo {
            name: c.name().to_string(),
            type_name: c.type_info().name().to_ascii_uppercase(),
        })
        .collect()
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds a parameter with the type PostgreSQL inferred for it.
fn bind_pg<'q>(
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

/// How a column's values are decoded, decided once per result.
#[derive(Debug, Clone, Copy)]
enum Decode {
    I16,
    I32,
    I64,
    U64,
    F32,
    F64,
    Decimal,
    Bool,
    Date,
    DateTime,
    DateTimeTz,
    Text,
    Bytes,
}

fn pg_decoder(ti: &sqlx::postgres::PgTypeInfo) -> Decode {
    if <i16 as Type<Postgres>>::compatible(ti) {
        Decode::I16
    } else if <i32 as Type<Postgres>>::compatible(ti) {
        Decode::I32
    } else if <i64 as Type<Postgres>>::compatible(ti) {
        Decode::I64
    } else if <f32 as Type<Postgres>>::compatible(ti) {
        Decode::F32
    } else if <f64 as Type<Postgres>>::compatible(ti) {
        Decode::F64
    } else if <Decimal as Type<Postgres>>::compatible(ti) {
        Decode::Decimal
    } else if <bool as Type<Postgres>>::compatible(ti) {
        Decode::Bool
    } else if <Date as Type<Postgres>>::compatible(ti) {
        Decode::Date
    } else if <PrimitiveDateTime as Type<Postgres>>::compatible(ti) {
        Decode::DateTime
    } else if <OffsetDateTime as Type<Postgres>>::compatible(ti) {
        Decode::DateTimeTz
    } else {
        Decode::Text
    }
}

fn mysql_decoder(ti: &sqlx::mysql::MySqlTypeInfo) -> Decode {
    if <i64 as Type<MySql>>::compatible(ti) {
        Decode::I64
    } else if <u64 as Type<MySql>>::compatible(ti) {
        Decode::U64
    } else if <f32 as Type<MySql>>::compatible(ti) && ti.name() == "FLOAT" {
        Decode::F32
    } else if <f64 as Type<MySql>>::compatible(ti) {
        Decode::F64
    } else if <Decimal as Type<MySql>>::compatible(ti) {
        Decode::Decimal
    } else if <Date as Type<MySql>>::compatible(ti) {
        Decode::Date
    } else if <PrimitiveDateTime as Type<MySql>>::compatible(ti) {
        Decode::DateTime
    } else if <OffsetDateTime as Type<MySql>>::compatible(ti) {
        Decode::DateTimeTz
    } else if <String as Type<MySql>>::compatible(ti) {
        Decode::Text
    } else {
        Decode::Bytes
    }
}

/// Reads one value with the column's decoder; a value that does not decode
/// becomes NULL (reported by the field conversion, never with its content).
fn read<'r, R>(row: &'r R, i: usize, decode: Decode) -> Value
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i16: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    i32: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    f32: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Decimal: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Date: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    PrimitiveDateTime: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    OffsetDateTime: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
{
    fn get<'r, R, T>(row: &'r R, i: usize) -> Option<T>
    where
        R: Row,
        usize: sqlx::ColumnIndex<R>,
        T: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    {
        row.try_get::<Option<T>, _>(i).ok().flatten()
    }
    let v = match decode {
        Decode::I16 => get::<R, i16>(row, i).map(|v| Value::Int(i64::from(v))),
        Decode::I32 => get::<R, i32>(row, i).map(|v| Value::Int(i64::from(v))),
        Decode::I64 => get::<R, i64>(row, i).map(Value::Int),
        Decode::U64 => None,
        Decode::F32 => get::<R, f32>(row, i).map(|v| Value::Real(f64::from(v))),
        Decode::F64 => get::<R, f64>(row, i).map(Value::Real),
        Decode::Decimal => get::<R, Decimal>(row, i)
            .and_then(|d| d.to_string().parse().ok())
            .map(Value::Real),
        Decode::Bool => get::<R, bool>(row, i).map(Value::Bool),
        Decode::Date => get::<R, Date>(row, i).map(Value::Date),
        Decode::DateTime => get::<R, PrimitiveDateTime>(row, i)
            .map(|t| Value::Timestamp(t.assume_utc().unix_timestamp())),
        Decode::DateTimeTz => {
            get::<R, OffsetDateTime>(row, i).map(|t| Value::Timestamp(t.unix_timestamp()))
        }
        Decode::Text => get::<R, String>(row, i).map(Value::Text),
        Decode::Bytes => {
            get::<R, Vec<u8>>(row, i).map(|b| Value::Text(String::from_utf8_lossy(&b).into_owned()))
        }
    };
    v.unwrap_or(Value::Null)
}

/// Reads a result whose columns are typed: each column's decoder is chosen
/// once, from the first row's column types, then applied to every row.
fn typed_rows<R: Row>(
    rows: &[R],
    decoder: impl Fn(&<R::Database as sqlx::Database>::TypeInfo) -> Decode,
    read_value: impl Fn(&R, usize, Decode) -> Value,
) -> Rows {
    let Some(first) = rows.first() else {
        return Rows::default();
    };
    let columns = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let decoders: Vec<Decode> = first
        .columns()
        .iter()
        .map(|c| decoder(c.type_info()))
        .collect();
    let rows = rows
        .iter()
        .map(|row| {
            decoders
                .iter()
                .enumerate()
                .map(|(i, d)| read_value(row, i, *d))
                .collect()
        })
        .collect();
    Rows { columns, rows }
}

fn pg_rows(rows: &[PgRow]) -> Rows {
    typed_rows(rows, pg_decoder, |row, i, d| read(row, i, d))
}

fn mysql_rows(rows: &[MySqlRow]) -> Rows {
    typed_rows(rows, mysql_decoder, |row, i, d| match d {
        // Unsigned columns: sqlx decodes them only as unsigned integers.
        Decode::U64 => row
            .try_get::<Option<u64>, _>(i)
            .ok()
            .flatten()
            .map_or(Value::Null, |v| {
                i64::try_from(v).map_or(Value::Real(v as f64), Value::Int)
            }),
        d => read(row, i, d),
    })
}

/// Runs a query under a local timeout: the database cancels a query at the
/// statement timeout, and this is the backstop for an unresponsive server.
async fn within_backstop(
    limits: Limits,
    run: impl Future<Output = Result<Rows, SourceError>>,
) -> Result<Rows, SourceError> {
    let backstop = limits.statement_timeout + Duration::from_millis(500);
    tokio::time::timeout(backstop, run)
        .await
        .map_err(|_| SourceError::Timeout(limits.statement_timeout))?
}

/// A SQLite query with its parameters bound.
fn sqlite_query<'q>(
    query: &Prepared,
    params: &[Param],
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut q = sqlx::query(AssertSqlSafe(query.text.clone()));
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

/// The queries of one request. On SQLite they share one connection and one
/// read transaction: one snapshot, so the sections of a record agree with
/// each other, and one lock taken instead of one per query. On PostgreSQL
/// and MySQL each query takes a pooled connection.
pub struct Session<'a> {
    db: &'a Database,
    sqlite: Option<sqlx::Transaction<'static, Sqlite>>,
}

impl Session<'_> {
    /// Runs a prepared query with `params` (see [`Database::fetch`]).
    pub async fn fetch(&mut self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        let Some(tx) = self.sqlite.as_mut() else {
            return self.db.fetch(query, params).await;
        };
        let limits = self.db.limits();
        let run = async {
            sqlite_query(query, params)
                .fetch_all(&mut **tx)
                .await
                .map(|r| sqlite_rows(&r))
                .map_err(|e| SourceError::classify(e, limits.statement_timeout))
        };
        within_backstop(limits, run).await
    }

    /// Ends the session (a read transaction has nothing to keep; dropping
    /// the session without this rolls it back, to the same effect).
    pub async fn finish(mut self) -> Result<(), SourceError> {
        if let Some(tx) = self.sqlite.take() {
            tx.commit().await?;
        }
        Ok(())
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
