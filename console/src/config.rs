//! The console's configuration file (`console.toml`): where it serves
//! HTTPS, the organisation's client certificate and gateway, the accounts
//! of its operators, and the session timeout. Relative paths are relative
//! to the file; environment variables `TRAMA_CONSOLE__<TABLE>__<KEY>`
//! override keys; errors name the file and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use trama_node::config::{ConfigError, Loader, ProcessEnvironment};
use trama_tls::TlsFiles;

/// How the console reads its configuration.
pub const LOADER: Loader<'static> = Loader {
    prefix: "TRAMA_CONSOLE",
    secrets: &[],
};

/// The console's configuration, checked.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The member organisation that runs it (its client certificate's).
    pub organisation: String,
    /// Where operators' browsers reach it (HTTPS).
    pub listen: SocketAddr,
    /// The HTTPS certificate and key browsers see.
    pub https: Https,
    /// The gateway and the organisation's client certificate.
    pub federation: Federation,
    /// The local accounts file.
    pub accounts: PathBuf,
    /// Sessions end after this long without a request.
    pub idle_timeout: Duration,
}

/// The HTTPS certificate (a server certificate for the console's host
/// name) and its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Https {
    /// The certificate chain, PEM.
    pub cert: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

/// The federation the console is a client of.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Federation {
    /// The federation's name.
    pub name: String,
    /// The gateway, `host:port`.
    pub gateway: String,
    /// The organisation's `client` certificate, its key and the federation
    /// CA.
    pub tls: TlsFiles,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    organisation: String,
    listen: String,
    https: Https,
    federation: Federation,
    accounts: PathBuf,
    #[serde(default = "default_idle_minutes")]
    idle_minutes: u64,
}

fn default_idle_minutes() -> u64 {
    15
}

impl ConsoleConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<ConsoleConfig, ConfigError> {
        let loaded = LOADER.load::<RawConfig>(path, &ProcessEnvironment)?;
        let origins = &loaded.origins;
        let raw = loaded.raw;
        let base = origins.base();
        let listen = raw.listen.parse().map_err(|_| {
            origins.invalid(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8443", raw.listen),
            )
        })?;
        trama_tls::identity::validate_name(&raw.organisation)
            .map_err(|e| origins.invalid("organisation", e.to_string()))?;
        if !(1..=24 * 60).contains(&raw.idle_minutes) {
            return Err(origins.invalid("idle_minutes", "between 1 and 1440 minutes"));
        }
        Ok(ConsoleConfig {
            path: origins.path().to_path_buf(),
            organisation: raw.organisation,
            listen,
            https: Https {
                cert: base.join(raw.https.cert),
                key: base.join(raw.https.key),
            },
            federation: Federation {
                tls: raw.federation.tls.relative_to(base),
                ..raw.federation
            },
            accounts: base.join(raw.accounts),
            idle_timeout: Duration::from_secs(raw.idle_minutes * 60),
        })
    }
}
