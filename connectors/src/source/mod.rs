//! The partner's database, reached through sqlx with one typed pool per
//! engine (PostgreSQL, MySQL/MariaDB, SQLite; not `sqlx::Any`, whose value
//! model cannot carry dates and decimals), and Trama's own small value model
//! for what comes back.
//!
//! Each engine is one module behind the [`Engine`] interface: how it
//! connects, prepares, binds, reads its column types, explains a plan and
//! names a full scan. [`Database`] is the one type the rest of the connector
//! sees; it dispatches to the engine and adds what is the same for all:
//! the queue for a connection (`gate`: a call waits its turn up to its
//! caller's deadline), the statement timeout's backstop and its
//! classification, and the [`Session`] of a request.
//!
//! Every query is prepared once at start ([`Database::prepare`]): the engine
//! parses it, names its result columns and (PostgreSQL) infers the type of
//! each parameter, so that values are bound with the type the database
//! expects. sqlx keeps prepared statements per connection, so each query is
//! parsed once per connection, not once per call. Statement timeouts are set
//! in the database session, so a query that runs too long is cancelled by
//! the database itself, not merely abandoned.

mod gate;
mod mysql;
mod postgres;
mod sqlite;
mod typed;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use sqlx::types::Decimal;
use sqlx::types::time::Date;

use crate::params::{ParamSql, Placeholder};

/// A value read from a result column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A decimal number, exact: `NUMERIC`/`DECIMAL` columns as the database
    /// holds them, floating-point columns as the shortest decimal that
    /// reads back to the same float (what the database's own client shows).
    Decimal(Decimal),
    /// Text (also dates stored as text).
    Text(String),
    /// A calendar date.
    Date(Date),
    /// A point in time, seconds since the Unix epoch (UTC).
    Timestamp(i64),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// A floating-point column's value as its shortest exact decimal
    /// (`12.1` stays `12.1`, never `12.0999999999999996447`); NULL when it
    /// has no decimal form (infinite, not a number, beyond 28 digits).
    pub fn float(f: f64) -> Value {
        Value::shortest(f.is_finite(), &f.to_string())
    }

    /// A single-precision column's value, read as [`Value::float`] reads a
    /// double: `0.1` stays `0.1`, not the double nearest to the float.
    pub fn float32(f: f32) -> Value {
        Value::shortest(f.is_finite(), &f.to_string())
    }

    /// The decimal a float's shortest representation writes.
    fn shortest(finite: bool, text: &str) -> Value {
        if !finite {
            return Value::Null;
        }
        Decimal::from_str(text).map_or(Value::Null, Value::Decimal)
    }
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

    /// SQL NULL, typed as the database expects.
    fn null(ty: ParamType) -> Param {
        match ty {
            ParamType::Int2 | ParamType::Int4 | ParamType::Int8 => Param::Int(None),
            ParamType::Date => Param::Date(None),
            ParamType::Any | ParamType::Text => Param::Text(None),
        }
    }

    /// A value of `ty` that names nothing real, for plans.
    fn sample(ty: ParamType) -> Param {
        match ty {
            ParamType::Int2 | ParamType::Int4 | ParamType::Int8 => Param::Int(Some(1)),
            ParamType::Date => {
                Param::Date(Date::from_calendar_date(2000, time::Month::January, 1).ok())
            }
            ParamType::Any | ParamType::Text => Param::Text(Some("X".into())),
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

impl Prepared {
    /// One harmless value per placeholder, of the type the database
    /// expects, for plans.
    fn samples(&self) -> Vec<Param> {
        self.types.iter().map(|t| Param::sample(*t)).collect()
    }
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
    /// Every connection stayed busy for as long as the caller could wait.
    #[error(
        "every connection to the partner database stayed busy for {waited:?}; retry in {retry_after:?}"
    )]
    Busy {
        /// How long the call waited for a connection.
        waited: Duration,
        /// When a retry is likely to find one.
        retry_after: Duration,
    },
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
    fn classify(e: SourceError, limit: Duration) -> SourceError {
        if let SourceError::Sql(sqlx::Error::Database(db)) = &e {
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
        e
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

/// What each engine provides: the one internal interface behind
/// [`Database`]. Methods return raw engine errors; [`Database`] adds the
/// backstop and the classification that are the same for all engines.
pub(crate) trait Engine {
    /// The engine's name, for messages.
    const NAME: &'static str;
    /// The engine's placeholder style.
    const PLACEHOLDER: Placeholder;

    /// Prepares `text` without running it: its result columns and the type
    /// of each of its `params` placeholders.
    async fn prepare(
        &self,
        text: &str,
        params: usize,
    ) -> Result<(Vec<ColumnInfo>, Vec<ParamType>), SourceError>;

    /// Runs a prepared query with `params` on a pooled connection.
    async fn fetch(&self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError>;

    /// The engine's plan for a prepared query run with `params`, one line
    /// per step.
    async fn explain(&self, query: &Prepared, params: &[Param])
    -> Result<Vec<String>, SourceError>;

    /// Whether one step of the engine's plan reads a whole table.
    fn scans(step: &str) -> bool;

    /// In one transaction: runs `check`, and `write` only if `check`
    /// found no row; whether it wrote.
    async fn write_once(&self, check: Bound<'_>, write: Bound<'_>) -> Result<bool, SourceError>;
}

/// A prepared query with its values.
pub(crate) type Bound<'a> = (&'a Prepared, &'a [Param]);

/// The engine behind a [`Database`].
#[derive(Debug, Clone)]
enum Pool {
    Postgres(postgres::Postgres),
    MySql(mysql::MySql),
    Sqlite(sqlite::Sqlite),
}

/// Runs `$body` with `$e` bound to the engine behind `$pool` (and `$E` to
/// its type), whichever it is.
macro_rules! on_engine {
    ($pool:expr, $e:ident : $E:ident => $body:expr) => {
        match $pool {
            Pool::Postgres($e) => {
                type $E = postgres::Postgres;
                $body
            }
            Pool::MySql($e) => {
                type $E = mysql::MySql;
                $body
            }
            Pool::Sqlite($e) => {
                type $E = sqlite::Sqlite;
                $body
            }
        }
    };
}

/// A partner database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    limits: Limits,
    gate: Arc<gate::Gate>,
}

impl Database {
    /// Opens a pool for the database named by `url`. PostgreSQL and MySQL
    /// pools connect lazily, so a connector starts while its database is
    /// down; SQLite opens the file now. TLS to the database is used when
    /// the URL asks for it (`sslmode=require`, `ssl-mode=REQUIRED`).
    pub async fn connect(url: &str, limits: Limits) -> Result<Database, SourceError> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(postgres::Postgres::connect(url, limits)?)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Pool::MySql(mysql::MySql::connect(url, limits)?)
        } else if url.starts_with("sqlite:") {
            Pool::Sqlite(sqlite::Sqlite::connect(url, limits).await?)
        } else {
            return Err(SourceError::UnsupportedUrl(redact(url)));
        };
        Ok(Database {
            pool,
            limits,
            gate: Arc::new(gate::Gate::new(limits.max_connections)),
        })
    }

    /// The engine's name, for messages.
    pub fn engine(&self) -> &'static str {
        on_engine!(&self.pool, _e: E => E::NAME)
    }

    /// The placeholder style of the engine.
    pub fn placeholder(&self) -> Placeholder {
        on_engine!(&self.pool, _e: E => E::PLACEHOLDER)
    }

    /// Prepares `sql` without running it: the engine parses it, names its
    /// result columns and parameter types. Fails if the SQL does not parse
    /// or names missing tables or columns.
    pub async fn prepare(&self, sql: &ParamSql) -> Result<Prepared, SourceError> {
        let text: Arc<str> = sql.render(self.placeholder()).into();
        let names: Vec<String> = sql.param_names().map(str::to_string).collect();
        let (columns, types) =
            on_engine!(&self.pool, e: _E => e.prepare(&text, names.len()).await)?;
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
    /// the database only as bound parameters, which is why the engines may
    /// assert the text safe.
    pub async fn fetch(&self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        let _pass = self.gate.enter(self.limits.statement_timeout).await?;
        self.within_backstop(async {
            on_engine!(&self.pool, e: _E => e.fetch(query, params).await)
        })
        .await
    }

    /// Runs a query under a local timeout: the database cancels a query at
    /// the statement timeout, and this is the backstop for an unresponsive
    /// server. A cancellation by the database is reported as
    /// [`SourceError::Timeout`] too.
    async fn within_backstop(
        &self,
        run: impl Future<Output = Result<Rows, SourceError>>,
    ) -> Result<Rows, SourceError> {
        let limit = self.limits.statement_timeout;
        let backstop = limit + Duration::from_millis(500);
        // One span per query, for traces: the engine and how many rows,
        // never the values bound or read.
        let span = tracing::info_span!(
            "query",
            db.system = self.engine(),
            rows = tracing::field::Empty
        );
        let timed = tokio::time::timeout(backstop, run).instrument(span.clone());
        match timed.await {
            Ok(Ok(rows)) => {
                span.record("rows", rows.rows.len());
                Ok(rows)
            }
            Ok(Err(e)) => Err(SourceError::classify(e, limit)),
            Err(_) => Err(SourceError::Timeout(limit)),
        }
    }

    /// Writes once: in one transaction, `write` runs only if `check`
    /// finds no row (a row keyed by the same id is already there); whether
    /// it wrote. Under the statement timeout like every query.
    pub async fn write_once(
        &self,
        check: (&Prepared, &[Param]),
        write: (&Prepared, &[Param]),
    ) -> Result<bool, SourceError> {
        let limit = self.limits.statement_timeout;
        let _pass = self.gate.enter(limit).await?;
        let run = async { on_engine!(&self.pool, e: _E => e.write_once(check, write).await) };
        match tokio::time::timeout(limit + Duration::from_millis(500), run).await {
            Ok(Ok(wrote)) => Ok(wrote),
            Ok(Err(e)) => Err(SourceError::classify(e, limit)),
            Err(_) => Err(SourceError::Timeout(limit)),
        }
    }

    /// A session for the queries of one request (see [`Session`]).
    pub async fn session(&self) -> Result<Session<'_>, SourceError> {
        let (sqlite, pass) = match &self.pool {
            Pool::Sqlite(lite) => {
                let pass = self.gate.enter(self.limits.statement_timeout).await?;
                (Some(lite.begin().await?), Some(pass))
            }
            _ => (None, None),
        };
        Ok(Session {
            db: self,
            sqlite,
            _pass: pass,
        })
    }

    /// A session that runs each query on the pool.
    pub fn pooled(&self) -> Session<'_> {
        Session {
            db: self,
            sqlite: None,
            _pass: None,
        }
    }

    /// The engine's plan for a prepared query, one line per step, with
    /// sequential scans forbidden where the engine allows it (PostgreSQL),
    /// so that a plan that still scans a whole table proves no index can
    /// serve the query. The query is planned with harmless sample values.
    pub async fn explain(&self, query: &Prepared) -> Result<Vec<String>, SourceError> {
        let samples = query.samples();
        on_engine!(&self.pool, e: _E => e.explain(query, &samples).await)
    }

    /// Whether one step of the engine's plan reads a whole table.
    pub fn scans(&self, step: &str) -> bool {
        on_engine!(&self.pool, _e: E => E::scans(step))
    }
}

/// The queries of one request. On SQLite they share one connection and one
/// read transaction: one snapshot, so the sections of a record agree with
/// each other, and one lock taken instead of one per query. On PostgreSQL
/// and MySQL each query takes a pooled connection.
pub struct Session<'a> {
    db: &'a Database,
    sqlite: Option<sqlite::ReadTransaction>,
    /// The connection slot a SQLite session holds for its whole length.
    _pass: Option<gate::Pass<'a>>,
}

impl Session<'_> {
    /// Asks the database a prepared query bounded to no row: wrapped in
    /// `SELECT * FROM (…) WHERE 1 = 0`, every parameter NULL. The engine
    /// still has to find the query's tables and columns, so a table
    /// dropped, a file emptied or a server stopped fails it; but every
    /// engine sees the condition is false and reads nothing, so the probe
    /// costs the same at a thousand people as at a million (a query that
    /// reads a whole table, such as a statistics fact query, is not run).
    pub async fn probe(&mut self, query: &Prepared) -> Result<(), SourceError> {
        let bounded = Prepared {
            text: format!("SELECT * FROM ({}) AS trama_probe WHERE 1 = 0", query.text).into(),
            names: query.names.clone(),
            types: query.types.clone(),
            columns: query.columns.clone(),
        };
        let nulls: Vec<Param> = query.types.iter().map(|t| Param::null(*t)).collect();
        self.fetch(&bounded, &nulls).await.map(|_| ())
    }

    /// Runs a prepared query with `params` (see [`Database::fetch`]).
    pub async fn fetch(&mut self, query: &Prepared, params: &[Param]) -> Result<Rows, SourceError> {
        match self.sqlite.as_mut() {
            None => self.db.fetch(query, params).await,
            Some(tx) => {
                self.db
                    .within_backstop(sqlite::fetch_in(tx, query, params))
                    .await
            }
        }
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

/// A database URL with any password removed, for messages: the one
/// redaction every node uses ([`trama_plumbing::redact`]).
pub fn redact(url: &str) -> String {
    trama_plumbing::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_their_shortest_decimal() {
        let cases = [
            (12.1, Some("12.1")),
            (1.005, Some("1.005")),
            (0.1 + 0.2, Some("0.30000000000000004")),
            (-3.0, Some("-3")),
            (f64::NAN, None),
            (f64::INFINITY, None),
            (1e40, None),
        ];
        assert_eq!(Value::float32(0.1), Value::Decimal(Decimal::new(1, 1)));
        for (f, want) in cases {
            let got = match Value::float(f) {
                Value::Decimal(d) => Some(d.normalize().to_string()),
                _ => None,
            };
            assert_eq!(got.as_deref(), want, "{f}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://trama:secret@db:5432/comune"),
            "postgres://trama:***@db:5432/comune"
        );
        assert_eq!(redact("sqlite://caritas.db"), "sqlite://caritas.db");
        // No password, nothing to hide: the URL as written, as every node
        // shows it.
        assert_eq!(
            redact("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
    }
}
