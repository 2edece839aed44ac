//! The start-up check: every query of the mapping is prepared against the
//! live database, every bound column must be in its result with a type that
//! fits the schema field, and the engine's plan for every query must use an
//! index (a connector never scans a whole table to answer one call). A
//! connector that fails the check does not start; the error names the
//! mapping file, the key and the problem.
//!
//! Before any of it, the connector's certificate is checked against its
//! configuration ([`identity`]); [`check_config`] runs every start-up check
//! for `trama connector --check-config`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use trama_tls::check::NodeConfig;
use trama_tls::{NodeIdentity, Role, TlsError};

use crate::ConnectorConfig;
use crate::mapping::{ColumnSpec, FieldKind, Mapping, NamedQuery};
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

/// The connector's identity from its certificate, refused unless the
/// certificate fits the configuration (a `connector` of the configured
/// federation and organisation, issued by the configured CA).
pub fn identity(config: &ConnectorConfig) -> Result<NodeIdentity, TlsError> {
    trama_tls::check::node_identity(&config.tls, &node(config))
}

/// The connector as the owner of its audit log.
pub fn owner(config: &ConnectorConfig, identity: &NodeIdentity) -> trama_audit::Owner {
    trama_node::check::owner(identity, &config.path, config.listen)
}

fn node(config: &ConnectorConfig) -> NodeConfig<'_> {
    NodeConfig {
        file: &config.path,
        federation: &config.federation,
        organisation: Some(&config.organisation),
        role: Role::Connector,
    }
}

pub use trama_node::check::Report;

/// Runs every start-up check on the configuration at `path` without
/// starting: the file, the certificates, the mapping against the live
/// database, and the audit log's files and database (nothing is created or
/// locked). Unlike a start, a database that cannot be reached is a problem.
pub async fn check_config(path: &Path) -> Report {
    let mut report = Report::default();
    let config = match ConnectorConfig::load(path) {
        Ok(config) => config,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    report.passed.push(format!(
        "{}: organisation {} of federation {}, listening on {}",
        path.display(),
        config.organisation,
        config.federation,
        config.listen
    ));
    let identity = report.certificates(&config.tls, &node(&config));
    check_database(&config, &mut report).await;
    let owner = identity.as_ref().map(|i| owner(&config, i));
    report.audit(&config.audit, owner.as_ref(), path).await;
    report
}

/// The database answers and the mapping fits it.
async fn check_database(config: &ConnectorConfig, report: &mut Report) {
    match crate::service::prepare(config).await {
        Ok(connector) => {
            report.passed.push(format!(
                "mapping {}: {} section(s) and {} fact quer(ies) of {}, matches the database {}",
                config.mapping.display(),
                connector.mapping.sections.len(),
                connector.mapping.facts.len(),
                connector.mapping.system,
                crate::source::redact(&config.database)
            ));
            if !connector.mapping.services.is_empty() {
                check_offer(config, &connector, report).await;
            }
            match crate::service::linkage(config, &connector) {
                Ok(Some(_)) => report
                    .passed
                    .push("statistics: the federation linkage key is readable".into()),
                Ok(None) => {}
                Err(e) => report.problems.push(e.to_string()),
            }
        }
        Err(e @ crate::ConnectorError::Database { .. }) => report
            .problems
            .push(format!("{}: key `database`: {e}", config.path.display())),
        Err(e) => report.problems.push(e.to_string()),
    }
    if config.export.rules.is_empty() {
        report.passed.push(format!(
            "note: {}: no [[export]] rules: this connector releases nothing",
            config.path.display()
        ));
    }
}

/// Reads the partner's offer as the gateway would: what publishes, and
/// every row that does not map, by mapping key and row id (`trama check`
/// and `--check-config` report them; the other rows still publish).
pub async fn offer_report(
    config: &ConnectorConfig,
    connector: &crate::runtime::Connector,
) -> (String, Vec<String>) {
    match connector.offer().await {
        Ok(offer) => (
            format!("offer: {} service(s) publish", offer.services.len()),
            offer
                .problems
                .into_iter()
                .map(|p| {
                    format!(
                        "{}: key `{}`: row `{}` is left out of the offer: {}",
                        config.mapping.display(),
                        p.key,
                        p.row_id,
                        p.problem
                    )
                })
                .collect(),
        ),
        Err(e) => (
            "offer: none read".into(),
            vec![format!(
                "{}: the offer cannot be read: {e}",
                config.mapping.display()
            )],
        ),
    }
}

async fn check_offer(
    config: &ConnectorConfig,
    connector: &crate::runtime::Connector,
    report: &mut Report,
) {
    let (passed, problems) = offer_report(config, connector).await;
    report.passed.push(passed);
    report.problems.extend(problems);
}
