//! Bringing a connector up from its configuration: its identity checked
//! against its certificate, the mapping loaded, the database opened and
//! the mapping checked against it, the federation linkage key read; and
//! [`check_config`], which runs every one of those checks without serving
//! (`trama connector --check-config`, `trama check`).

use std::path::Path;

use trama_tls::check::NodeConfig;
use trama_tls::{NodeIdentity, Role, TlsError};

use crate::ConnectorError;
use crate::config::{ConfigError, ConnectorConfig};
use crate::linkage::Linkage;
use crate::mapping::Mapping;
use crate::runtime::Connector;
use crate::source::Database;

/// Loads the mapping and opens the database, without checking the mapping
/// yet.
pub async fn open(config: &ConnectorConfig) -> Result<Connector, ConnectorError> {
    let mapping = Mapping::load(&config.mapping)?;
    let db = Database::connect(&config.database, config.limits)
        .await
        .map_err(|source| ConnectorError::Database {
            url: crate::source::redact(&config.database),
            source,
        })?;
    Ok(Connector::new(config.organisation.clone(), mapping, db))
}

/// Loads the mapping, connects to the database and checks the mapping
/// against it: the connector is ready to serve. Fails if the database
/// cannot be reached (`trama check`).
pub async fn prepare(config: &ConnectorConfig) -> Result<Connector, ConnectorError> {
    let connector = open(config).await?;
    connector.check().await?;
    Ok(connector)
}

/// The federation linkage key, required when the mapping counts facts.
pub fn linkage(
    config: &ConnectorConfig,
    connector: &Connector,
) -> Result<Option<Linkage>, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        path: config.path.clone(),
        key: "statistics.linkage_key".into(),
        origin: String::new(),
        problem,
    };
    match &config.linkage_key {
        Some(path) => Linkage::load(path)
            .map(Some)
            .map_err(|e| invalid(e.to_string())),
        None if connector.mapping.facts.is_empty() => Ok(None),
        None => Err(invalid(
            "the mapping counts facts ([[statistics.facts]]): give the federation linkage key file, the same at every connector".into(),
        )),
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
    match prepare(config).await {
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
            match linkage(config, &connector) {
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
    connector: &Connector,
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

async fn check_offer(config: &ConnectorConfig, connector: &Connector, report: &mut Report) {
    let (passed, problems) = offer_report(config, connector).await;
    report.passed.push(passed);
    report.problems.extend(problems);
}
