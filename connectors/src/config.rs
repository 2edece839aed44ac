//! The connector's configuration file (TOML): who it is, where it listens,
//! which database and mapping it serves, and its certificates. Relative
//! paths are resolved against the file's own directory. Unknown keys are
//! refused; every error names the file and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
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
}

/// Why a configuration or mapping file is refused. Every variant names
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML, unknown or missing keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A key's value cannot work.
    #[error("{path}: key `{key}`: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

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
    metrics: Option<trama_telemetry::MetricsTable>,
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
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<ConnectorConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: &str, problem: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        let base = path.parent().unwrap_or(Path::new("."));
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
        let metrics = raw
            .metrics
            .map(|m| m.address("127.0.0.1:9465"))
            .transpose()
            .map_err(|p| invalid("metrics.listen", p))?;
        Ok(ConnectorConfig {
            metrics,
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
        assert_eq!(c.export.rules.len(), 2);
        assert!(c.export.rules[0].require_case_id);
        assert!(
            c.audit.database.starts_with("sqlite://") && c.audit.database.ends_with("audit.db")
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
