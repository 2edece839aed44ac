//! The start-up check: every query of the mapping is prepared against the
//! live database, every bound column must be in its result with a type that
//! fits the schema field, and the engine's plan for every query must use an
//! index (a connector never scans a whole table to answer one call). A
//! connector that fails the check does not start; the error names the
//! mapping file, the key and the problem.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::columns::{ColumnSpec, FieldKind, NamedQuery};
use crate::mapping::Mapping;
use crate::source::{ColumnInfo, Database, Prepared, SourceError};

/// The mapping's queries, prepared, by key.
pub type PreparedQueries = HashMap<String, Prepared>;

/// Why the mapping does not fit the database.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The database cannot be reached (the check is retried).
    #[error("the database is unavailable: {0}")]
    Unavailable(SourceError),
    /// The database refused the connection: wrong user, password or
    /// database name (not retried: the configuration must change).
    #[error(
        "the database refused the connection (check the user, password and database name in the URL): {0}"
    )]
    Connect(SourceError),
    /// The query would read a whole table.
    #[error(
        "{path}: key `{key}`: the query scans a whole table ({plan}); add an index its WHERE clause can use, or change the query"
    )]
    FullScan {
        /// The mapping file.
        path: PathBuf,
        /// The key of the query.
        key: String,
        /// The plan step that scans.
        plan: String,
    },
    /// The database refused a query (bad SQL, missing table or column).
    #[error("{path}: key `{key}`: the database refused the query: {message}")]
    Query {
        /// The mapping file.
        path: PathBuf,
        /// The key of the query.
        key: String,
        /// The database's message.
        message: String,
    },
    /// A bound column is not in the query's result.
    #[error(
        "{path}: key `{key}`: column `{column}` is not returned by `{query}` (it returns: {available})"
    )]
    MissingColumn {
        /// The mapping file.
        path: PathBuf,
        /// The key binding the column.
        key: String,
        /// The column.
        column: String,
        /// The query's key.
        query: String,
        /// The columns the query returns.
        available: String,
    },
    /// A column's type cannot hold the field.
    #[error(
        "{path}: key `{key}`: column `{column}` has type {found}, which cannot hold a {kind} field"
    )]
    Type {
        /// The mapping file.
        path: PathBuf,
        /// The key binding the column.
        key: String,
        /// The column.
        column: String,
        /// The engine's type.
        found: String,
        /// The field's kind.
        kind: String,
    },
}

/// Checks every query and binding of `mapping` against `db`, and returns
/// the queries prepared.
pub async fn check(db: &Database, mapping: &Mapping) -> Result<PreparedQueries, CheckError> {
    let mut prepared = PreparedQueries::new();
    check_matching(db, mapping, &mut prepared).await?;
    check_sections(db, mapping, &mut prepared).await?;
    check_whole_reads(db, mapping, &mut prepared).await?;
    if let Some(inbox) = &mapping.inbox {
        // Prepared, so that a missing table or column stops the start; not
        // planned: the inbox is written and read by the partner's keys.
        for q in [&inbox.exists, &inbox.insert, &inbox.changes]
            .into_iter()
            .chain(inbox.update.as_ref())
            .chain(inbox.read.as_ref())
        {
            let p = prepare(db, mapping, &q.key, q).await?;
            prepared.insert(q.key.clone(), p);
        }
    }
    Ok(prepared)
}

/// The blocking queries: each planned on an index, and each giving every
/// column the subject's fields are read from.
async fn check_matching(
    db: &Database,
    mapping: &Mapping,
    prepared: &mut PreparedQueries,
) -> Result<(), CheckError> {
    let subject_bindings: Vec<(String, FieldKind, &ColumnSpec)> = mapping
        .subject
        .fields
        .iter()
        .map(|(field, spec)| {
            (
                format!("subject.columns.{}", field.name()),
                field.kind(),
                spec,
            )
        })
        .collect();
    let match_queries = [
        mapping.matching.tax_code.as_ref(),
        Some(&mapping.matching.local_id),
    ]
    .into_iter()
    .flatten()
    .chain(&mapping.matching.demographics);
    for query in match_queries {
        let p = describe(db, mapping, &query.key, query).await?;
        for (key, kind, spec) in &subject_bindings {
            check_binding(mapping, key, *kind, spec, &query.key, &p.columns)?;
        }
        prepared.insert(query.key.clone(), p);
    }
    Ok(())
}

/// Each section's queries: planned on an index, giving the record id, the
/// last update when mapped, and every field's column.
async fn check_sections(
    db: &Database,
    mapping: &Mapping,
    prepared: &mut PreparedQueries,
) -> Result<(), CheckError> {
    for q in mapping.sections.values().flatten() {
        let key = &q.query.key;
        let p = describe(db, mapping, key, &q.query).await?;
        let bind = |field: &str, kind: FieldKind, spec: &ColumnSpec| {
            let named = format!("{}.columns.{field}", q.key);
            check_binding(mapping, &named, kind, spec, key, &p.columns)
        };
        bind("record_id", FieldKind::Text, &q.record_id)?;
        if let Some(spec) = &q.last_updated {
            bind("last_updated", FieldKind::Timestamp, spec)?;
        }
        for (field, kind, spec) in &q.fields {
            bind(field, *kind, spec)?;
        }
        prepared.insert(key.clone(), p);
    }
    Ok(())
}

/// The statistics facts and the offer of services: read whole (a
/// whole-table scan is expected, bounded by the statement timeout like
/// every query), each giving every field's column.
async fn check_whole_reads(
    db: &Database,
    mapping: &Mapping,
    prepared: &mut PreparedQueries,
) -> Result<(), CheckError> {
    for q in &mapping.facts {
        let p = prepare(db, mapping, &q.query.key, &q.query).await?;
        for (field, spec) in &q.fields {
            let key = format!("{}.columns.{}", q.key, field.name());
            check_binding(mapping, &key, field.kind(), spec, &q.query.key, &p.columns)?;
        }
        prepared.insert(q.query.key.clone(), p);
    }
    for q in &mapping.services {
        let p = prepare(db, mapping, &q.query.key, &q.query).await?;
        for (field, spec) in &q.fields {
            let key = format!("{}.columns.{}", q.key, field.name);
            check_binding(mapping, &key, field.kind, spec, &q.query.key, &p.columns)?;
        }
        prepared.insert(q.query.key.clone(), p);
    }
    Ok(())
}

/// Prepares a query and refuses one whose plan reads a whole table: every
/// lookup must be served by an index.
async fn describe(
    db: &Database,
    mapping: &Mapping,
    key: &str,
    q: &NamedQuery,
) -> Result<Prepared, CheckError> {
    let prepared = prepare(db, mapping, key, q).await?;
    let plan = db
        .explain(&prepared)
        .await
        .map_err(|e| refused(mapping, key, e))?;
    if let Some(step) = plan.iter().find(|step| db.scans(step)) {
        return Err(CheckError::FullScan {
            path: mapping.path.clone(),
            key: key.to_string(),
            plan: step.trim().to_string(),
        });
    }
    Ok(prepared)
}

/// Prepares a query: its columns and parameter types.
async fn prepare(
    db: &Database,
    mapping: &Mapping,
    key: &str,
    q: &NamedQuery,
) -> Result<Prepared, CheckError> {
    db.prepare(&q.sql)
        .await
        .map_err(|e| refused(mapping, key, e))
}

/// The check error a database error becomes.
fn refused(mapping: &Mapping, key: &str, e: SourceError) -> CheckError {
    if e.is_unavailable() {
        CheckError::Unavailable(e)
    } else if e.is_refused_connection() {
        CheckError::Connect(e)
    } else {
        CheckError::Query {
            path: mapping.path.clone(),
            key: key.to_string(),
            message: e.to_string(),
        }
    }
}

fn check_binding(
    mapping: &Mapping,
    key: &str,
    kind: FieldKind,
    spec: &ColumnSpec,
    query: &str,
    columns: &[ColumnInfo],
) -> Result<(), CheckError> {
    let Some(column) = spec.column() else {
        return Ok(());
    };
    let Some(info) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(column)) else {
        return Err(CheckError::MissingColumn {
            path: mapping.path.clone(),
            key: key.to_string(),
            column: column.to_string(),
            query: query.to_string(),
            available: columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if !fits(kind, &info.type_name) {
        return Err(CheckError::Type {
            path: mapping.path.clone(),
            key: key.to_string(),
            column: column.to_string(),
            found: info.type_name.clone(),
            kind: kind.name().to_string(),
        });
    }
    Ok(())
}

/// Whether a column of the engine type `type_name` can hold a field of
/// `kind`. Unknown or untyped columns (expressions) are given the benefit
/// of the doubt: rows that do not convert are reported when read.
pub fn fits(kind: FieldKind, type_name: &str) -> bool {
    let t = type_name.to_ascii_uppercase();
    let is = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if t.is_empty() || t == "NULL" {
        return true;
    }
    if is(&["BLOB", "BYTEA", "BINARY"]) {
        return false;
    }
    match kind {
        FieldKind::Text | FieldKind::Coding => true,
        FieldKind::Date | FieldKind::Timestamp => {
            is(&["DATE", "TIME", "TEXT", "CHAR", "INT", "CLOB"])
        }
        // Legacy systems often keep numbers as text ("12,50"): accepted,
        // and converted (or reported) row by row.
        FieldKind::Money => is(&[
            "INT", "REAL", "NUM", "DEC", "FLOAT", "DOUBLE", "MONEY", "TEXT", "CHAR",
        ]),
        FieldKind::Int => is(&["INT", "NUM", "DEC", "BOOL", "TEXT", "CHAR"]),
        FieldKind::Bool => is(&["INT", "BOOL", "TEXT", "CHAR", "BIT", "NUM"]),
    }
}
