//! The connector's configuration file (TOML): who it is, where it listens,
//! which database and mapping it serves, and its certificates. Relative
//! paths are resolved against the file's own directory. Unknown keys are
//! refused; every error names the file and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use trama_node::config::{Environment, Loader, Origins, ProcessEnvironment};
use trama_tls::TlsFiles;

use crate::export::{ExportPolicy, RawRule};
use crate::source::Limits;

/// A validated connector configuration.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The federation, for example `demo`.
    pub federation: String,
    /// The partner organisation, for example `caritas`.
    pub organisation: String,
    /// Address to serve `trama.v1.Connector` on (port 0: any free port).
    pub listen: SocketAddr,
    /// The database URL (`postgres://`, `mysql://`, `mariadb://` or
    /// `sqlite://`).
    pub database: String,
    /// The mapping file.
    pub mapping: PathBuf,
    /// Certificates.
    pub tls: TlsFiles,
    /// Database limits.
    pub limits: Limits,
    /// What the partner releases, to whom, for which purposes.
    pub export: ExportPolicy,
    /// The connector's own audit of what it released.
    pub audit: trama_audit::AuditSettings,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Where to serve `GET /livez` and `GET /readyz`, if anywhere.
    pub health: Option<SocketAddr>,
    /// Logs and the export of traces.
    pub tracing: trama_telemetry::traces::TracingTable,
    /// The federation linkage key file (`[statistics] linkage_key`), for
    /// counting people across partners; required when the mapping has
    /// `[[statistics.facts]]`.
    pub linkage_key: Option<PathBuf>,
}

/// Why a configuration or mapping file is refused: the nodes' one error
/// type; every variant names the file.
pub use trama_node::config::ConfigError;

/// How the connector reads its configuration: environment variables
/// `TRAMA_CONNECTOR__<TABLE>__<KEY>` override the file, and the database
/// URLs (with their passwords) may come from secret files
/// (`database_file`, `audit.database_file`).
pub const LOADER: Loader<'static> = Loader {
    prefix: "TRAMA_CONNECTOR",
    secrets: &["database", "audit.database"],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    federation: String,
    organisation: String,
    listen: String,
    database: String,
    mapping: PathBuf,
    tls: TlsFiles,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    export: Vec<RawRule>,
    #[serde(default)]
    audit: trama_audit::AuditTable,
    #[serde(default)]
    metrics: Option<trama_telemetry::ListenTable>,
    #[serde(default)]
    health: Option<trama_telemetry::ListenTable>,
    #[serde(default)]
    tracing: trama_telemetry::traces::TracingTable,
    #[serde(default)]
    statistics: Option<RawStatistics>,
}

/// `[statistics]`: the federation linkage key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatistics {
    linkage_key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_max_connections")]
    max_connections: u32,
    #[serde(default = "default_statement_timeout_ms")]
    statement_timeout_ms: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_connections: default_max_connections(),
            statement_timeout_ms: default_statement_timeout_ms(),
        }
    }
}

fn default_max_connections() -> u32 {
    8
}

fn default_statement_timeout_ms() -> u64 {
    2_000
}

impl ConnectorConfig {
    /// Reads and validates a configuration file, with the process's
    /// environment overriding it.
    pub fn load(path: &Path) -> Result<ConnectorConfig, ConfigError> {
        Self::load_with(path, &ProcessEnvironment)
    }

    /// Reads and validates a configuration file with `env` overriding it.
    pub fn load_with(path: &Path, env: &dyn Environment) -> Result<ConnectorConfig, ConfigError> {
        let loaded = LOADER.load::<RawConfig>(path, env)?;
        Self::validated(loaded.raw, &loaded.origins)
    }

    /// The one validation pass: every value checked, paths resolved.
    fn validated(raw: RawConfig, origins: &Origins) -> Result<ConnectorConfig, ConfigError> {
        let path = origins.path();
        let invalid = |key: &str, problem: String| origins.invalid(key, problem);
        let base = origins.base();
        trama_tls::identity::validate_name(&raw.federation)
            .map_err(|e| invalid("federation", e.to_string()))?;
        trama_tls::identity::validate_name(&raw.organisation)
            .map_err(|e| invalid("organisation", e.to_string()))?;
        let listen = raw.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:7401", raw.listen),
            )
        })?;
        if raw.limits.max_connections == 0 {
            return Err(invalid(
                "limits.max_connections",
                "must be at least 1".into(),
            ));
        }
        if raw.limits.statement_timeout_ms == 0 {
            return Err(invalid(
                "limits.statement_timeout_ms",
                "must be at least 1".into(),
            ));
        }
        // A relative SQLite path is relative to the configuration file.
        let database = match raw.database.strip_prefix("sqlite://") {
            Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
                format!("sqlite://{}", base.join(rest).display())
            }
            _ => raw.database,
        };
        let export = ExportPolicy::from_raw(raw.export).map_err(|(key, p)| invalid(&key, p))?;
        let audit = raw.audit.resolve(base).map_err(|(k, p)| invalid(&k, p))?;
        let metrics = trama_telemetry::ListenTable::optional(raw.metrics, "127.0.0.1:9465")
            .map_err(|p| invalid("metrics.listen", p))?;
        let health = trama_telemetry::ListenTable::optional(raw.health, "0.0.0.0:8081")
            .map_err(|p| invalid("health.listen", p))?;
        let tracing = raw.tracing.validated().map_err(|(k, p)| invalid(&k, p))?;
        Ok(ConnectorConfig {
            linkage_key: raw.statistics.map(|s| base.join(s.linkage_key)),
            metrics,
            health,
            tracing,
            export,
            audit,
            path: path.to_path_buf(),
            federation: raw.federation,
            organisation: raw.organisation,
            listen,
            database,
            mapping: base.join(raw.mapping),
            tls: raw.tls.relative_to(base),
            limits: Limits {
                max_connections: raw.limits.max_connections,
                statement_timeout: Duration::from_millis(raw.limits.statement_timeout_ms),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ConnectorConfig, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("connector.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        ConnectorConfig::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn the_deployment_example_parses_with_its_export_rules() {
        let c = load(include_str!("../../deploy/connector.example.toml"));
        let Ok(c) = c else { panic!("{c:?}") };
        assert_eq!(c.export.rules.len(), 3);
        assert!(c.export.rules[0].require_case_id);
        let counts = &c.export.rules[2];
        assert!(counts.aggregates && counts.sections.is_empty());
        assert_eq!(
            c.linkage_key.as_deref(),
            Some(std::path::Path::new("/etc/trama/linkage.key"))
        );
        // Under its systemd unit /etc/trama is read-only: the audit log's
        // files are in the connector's state directory.
        assert_eq!(
            c.audit.database,
            "sqlite:///var/lib/trama/connector/audit.db"
        );
        let state = std::path::Path::new("/var/lib/trama/connector");
        assert!(c.audit.pseudonym_key.starts_with(state));
        assert!(c.audit.checkpoint_file.starts_with(state));
    }

    #[test]
    fn the_database_url_comes_from_the_environment_or_a_secret_file() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let path = dir.path().join("connector.toml");
        let text = include_str!("../../deploy/connector.example.toml");
        assert!(std::fs::write(&path, text).is_ok());
        let secret = dir.path().join("db-url");
        assert!(std::fs::write(&secret, "postgres://trama:s3cret@db/cartella\n").is_ok());
        let env: std::collections::BTreeMap<String, String> = [
            (
                "TRAMA_CONNECTOR__DATABASE_FILE".to_string(),
                secret.display().to_string(),
            ),
            (
                "TRAMA_CONNECTOR__LIMITS__STATEMENT_TIMEOUT_MS".to_string(),
                "750".to_string(),
            ),
        ]
        .into();
        let c = ConnectorConfig::load_with(&path, &env);
        let Ok(c) = c else { panic!("{c:?}") };
        assert_eq!(c.database, "postgres://trama:s3cret@db/cartella");
        assert_eq!(c.limits.statement_timeout, Duration::from_millis(750));
        let bad: std::collections::BTreeMap<String, String> = [(
            "TRAMA_CONNECTOR__LISTEN".to_string(),
            "somewhere".to_string(),
        )]
        .into();
        let e = ConnectorConfig::load_with(&path, &bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("key `listen` (from TRAMA_CONNECTOR__LISTEN)"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_export_rule_names_the_key() {
        let text = include_str!("../../deploy/connector.example.toml").replace(
            "sections = [\"case_membership\"]",
            "sections = [\"casemembership\"]",
        );
        let e = load(&text).err().unwrap_or_default();
        assert!(e.contains("key `export[1].sections`"), "{e}");
        assert!(e.contains("unknown section `casemembership`"), "{e}");
    }
}
