//! Writing synthetic rows fast into any of the three engines: rows are
//! buffered per table and written in batches, through `COPY` on PostgreSQL
//! and multi-row `INSERT`s with bound values elsewhere, over one connection
//! whose session is set for bulk loading (synthetic data can be generated
//! again, so commits need not wait for the disk).

use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, MySql, QueryBuilder, Sqlite};
use time::{Date, PrimitiveDateTime};

/// A value of a synthetic row.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedValue {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A decimal number.
    Real(f64),
    /// Text.
    Text(String),
    /// A date (ISO text in SQLite).
    Date(Date),
    /// A date and time (text `YYYY-MM-DD HH:MM:SS` in SQLite).
    Timestamp(PrimitiveDateTime),
}

impl From<&str> for SeedValue {
    fn from(s: &str) -> Self {
        SeedValue::Text(s.to_string())
    }
}

impl From<&String> for SeedValue {
    fn from(s: &String) -> Self {
        SeedValue::Text(s.clone())
    }
}

impl From<String> for SeedValue {
    fn from(s: String) -> Self {
        SeedValue::Text(s)
    }
}

impl From<i64> for SeedValue {
    fn from(i: i64) -> Self {
        SeedValue::Int(i)
    }
}

impl From<f64> for SeedValue {
    fn from(f: f64) -> Self {
        SeedValue::Real(f)
    }
}

impl From<Date> for SeedValue {
    fn from(d: Date) -> Self {
        SeedValue::Date(d)
    }
}

impl From<PrimitiveDateTime> for SeedValue {
    fn from(t: PrimitiveDateTime) -> Self {
        SeedValue::Timestamp(t)
    }
}

impl<T: Into<SeedValue>> From<Option<T>> for SeedValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SeedValue::Null, Into::into)
    }
}

/// The database engine behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

impl Engine {
    /// The engine a database URL names.
    pub fn of(url: &str) -> Option<Engine> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Some(Engine::MySql)
        } else if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else {
            None
        }
    }

    /// The engine's name.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgresql",
            Engine::MySql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }
}

enum Target {
    Postgres(PgConnection),
    MySql(MySqlConnection),
    Sqlite(SqliteConnection),
}

struct Buffer {
    columns: &'static [&'static str],
    rows: Vec<Vec<SeedValue>>,
}

/// A batching writer of synthetic rows.
pub struct Sink {
    target: Target,
    /// Buffers in the order tables were first written: parents before
    /// children, so foreign keys hold at every flush.
    buffers: Vec<(&'static str, Buffer)>,
    /// Rows written so far.
    pub written: u64,
}

/// Values per `INSERT` at most (every engine accepts this many).
const MAX_VALUES: usize = 16_000;
/// Values per `COPY` batch on PostgreSQL.
const MAX_COPY_VALUES: usize = 200_000;

impl Sink {
    /// Opens the database at `url` (a SQLite file is created if missing).
    pub async fn connect(url: &str) -> Result<Sink, sqlx::Error> {
        let target = match Engine::of(url) {
            Some(Engine::Postgres) => {
                let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
                let mut conn = options.connect().await?;
                conn.execute("SET synchronous_commit = off").await?;
                Target::Postgres(conn)
            }
            Some(Engine::MySql) => {
                let options =
                    MySqlConnectOptions::from_str(&url.replacen("mariadb://", "mysql://", 1))?
                        .disable_statement_logging();
                let mut conn = options.connect().await?;
                // One transaction per batch instead of one per statement.
                conn.execute("SET autocommit = 0").await?;
                Target::MySql(conn)
            }
            Some(Engine::Sqlite) => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .synchronous(SqliteSynchronous::Off)
                    .disable_statement_logging();
                Target::Sqlite(options.connect().await?)
            }
            None => {
                return Err(sqlx::Error::Configuration(
                    format!("unsupported database URL {url}").into(),
                ));
            }
        };
        Ok(Sink {
            target,
            buffers: Vec::new(),
            written: 0,
        })
    }

    /// Runs a DDL script (several statements).
    pub async fn script(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match &mut self.target {
            Target::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Target::MySql(c) => {
                sqlx::raw_sql(sql).execute(&mut *c).await?;
                c.execute("COMMIT").await.map(|_| ())
            }
            Target::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
    }

    /// Runs one statement written by this program (not from input).
    pub async fn statement(&mut self, sql: String) -> Result<(), sqlx::Error> {
        match &mut self.target {
            Target::Postgres(c) => sqlx::query(AssertSqlSafe(sql)).execute(c).await.map(|_| ()),
            Target::MySql(c) => {
                sqlx::query(AssertSqlSafe(sql)).execute(&mut *c).await?;
                c.execute("COMMIT").await.map(|_| ())
            }
            Target::Sqlite(c) => sqlx::query(AssertSqlSafe(sql)).execute(c).await.map(|_| ()),
        }
    }

    /// Adds a row to `table`; writes the table's buffer when it is full.
    pub async fn insert(
        &mut self,
        table: &'static str,
        columns: &'static [&'static str],
        row: Vec<SeedValue>,
    ) -> Result<(), sqlx::Error> {
        let index = match self.buffers.iter().position(|(t, _)| *t == table) {
            Some(i) => i,
            None => {
                self.buffers.push((
                    table,
                    Buffer {
                        columns,
                        rows: Vec::new(),
                    },
                ));
                self.buffers.len() - 1
            }
        };
        let buffer = &mut self.buffers[index].1;
        buffer.rows.push(row);
        let limit = match self.target {
            Target::Postgres(_) => MAX_COPY_VALUES,
            _ => MAX_VALUES,
        };
        if buffer.rows.len() * columns.len() >= limit {
            self.finish().await?;
        }
        Ok(())
    }

    /// Writes every buffered row, parents first.
    pub async fn finish(&mut self) -> Result<(), sqlx::Error> {
        for i in 0..self.buffers.len() {
            self.flush(i).await?;
        }
        if let Target::MySql(c) = &mut self.target {
            c.execute("COMMIT").await?;
        }
        Ok(())
    }

    async fn flush(&mut self, index: usize) -> Result<(), sqlx::Error> {
        let Some((table, buffer)) = self.buffers.get_mut(index) else {
            return Ok(());
        };
        let table = *table;
        if buffer.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut buffer.rows);
        let head = format!("INSERT INTO {table} ({}) ", buffer.columns.join(", "));
        self.written += rows.len() as u64;
        match &mut self.target {
            Target::Postgres(conn) => {
                let copy = format!("COPY {table} ({}) FROM STDIN", buffer.columns.join(", "));
                let mut data = Vec::with_capacity(rows.len() * 64);
                for row in rows {
                    for (i, v) in row.into_iter().enumerate() {
                        if i > 0 {
                            data.push(b'\t');
                        }
                        copy_text(&mut data, v);
                    }
                    data.push(b'\n');
                }
                let mut stream = conn.copy_in_raw(&copy).await?;
                stream.send(data).await?;
                stream.finish().await?;
            }
            Target::MySql(conn) => {
                let mut qb = QueryBuilder::<MySql>::new(head);
                qb.push_values(rows, |mut b, row| {
                    for v in row {
                        match v {
                            SeedValue::Null => b.push("NULL"),
                            SeedValue::Int(i) => b.push_bind(i),
                            SeedValue::Real(f) => b.push_bind(f),
                            SeedValue::Text(s) => b.push_bind(s),
                            SeedValue::Date(d) => b.push_bind(d),
                            SeedValue::Timestamp(t) => b.push_bind(t),
                        };
                    }
                });
                qb.build().execute(&mut *conn).await?;
            }
            Target::Sqlite(conn) => {
                let mut qb = QueryBuilder::<Sqlite>::new(head);
                qb.push_values(rows, |mut b, row| {
                    for v in row {
                        match v {
                            SeedValue::Null => b.push("NULL"),
                            SeedValue::Int(i) => b.push_bind(i),
                            SeedValue::Real(f) => b.push_bind(f),
                            SeedValue::Text(s) => b.push_bind(s),
                            SeedValue::Date(d) => b.push_bind(d.to_string()),
                            SeedValue::Timestamp(t) => b.push_bind(format!(
                                "{} {:02}:{:02}:{:02}",
                                t.date(),
                                t.hour(),
                                t.minute(),
                                t.second()
                            )),
                        };
                    }
                });
                qb.build().execute(&mut *conn).await?;
            }
        }
        Ok(())
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = match self.target {
            Target::Postgres(c) => c.close().await,
            Target::MySql(c) => c.close().await,
            Target::Sqlite(c) => c.close().await,
        };
    }
}

/// Appends a value in PostgreSQL's COPY text format.
fn copy_text(out: &mut Vec<u8>, v: SeedValue) {
    let text = match v {
        SeedValue::Null => {
            out.extend_from_slice(b"\\N");
            return;
        }
        SeedValue::Int(i) => i.to_string(),
        SeedValue::Real(f) => f.to_string(),
        SeedValue::Text(s) => s,
        SeedValue::Date(d) => d.to_string(),
        SeedValue::Timestamp(t) => format!(
            "{} {:02}:{:02}:{:02}",
            t.date(),
            t.hour(),
            t.minute(),
            t.second()
        ),
    };
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}
