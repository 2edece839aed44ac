//! The console's configuration file (`console.toml`): where it serves
//! HTTPS, the organisation's client certificate and gateway, how operators
//! sign in (the organisation's OpenID Connect provider, a local accounts
//! file, or both), and the session timeout. Relative paths are relative
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
    secrets: &["oidc.client_secret"],
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
    /// The local accounts file, if operators may sign in with one.
    pub accounts: Option<PathBuf>,
    /// The organisation's identity provider, if operators sign in there.
    pub oidc: Option<Oidc>,
    /// Sessions end after this long without a request.
    pub idle_timeout: Duration,
    /// The public catalogue of services, if served (`[public]`).
    pub public: Option<Public>,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Where to serve `GET /livez` and `GET /readyz`, if anywhere.
    pub health: Option<SocketAddr>,
    /// Logs and the export of traces.
    pub tracing: trama_telemetry::traces::TracingTable,
    /// The reverse proxies whose `X-Forwarded-For` names the client.
    pub proxies: crate::proxies::TrustedProxies,
    /// Where sessions are kept; `None`: in this console's memory.
    pub sessions: Option<SessionStore>,
}

/// The public catalogue's listener: citizens and portals, no sign-in.
#[derive(Debug, Clone)]
pub struct Public {
    /// Where it listens (HTTPS, the console's certificate).
    pub listen: SocketAddr,
    /// Requests each address may make a minute.
    pub requests_per_minute: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublic {
    listen: String,
    #[serde(default = "default_public_rate")]
    requests_per_minute: u32,
}

fn default_public_rate() -> u32 {
    120
}

/// Sign-in through the organisation's OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oidc {
    /// The issuer, for example `https://login.comune.example/realms/servizi`
    /// (its `/.well-known/openid-configuration` is read at start).
    pub issuer: String,
    /// The console's client id at the provider.
    pub client_id: String,
    /// Its client secret (better: `client_secret_file`); none for a public
    /// client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the provider sends browsers back: the console's
    /// `https://…/oidc/callback`, as registered at the provider.
    pub redirect_url: String,
    /// A CA certificate (PEM) to trust for the provider, beside the usual
    /// roots; relative to the file.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Scopes asked beside `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The user-info claim that holds the operator's groups or roles.
    pub role_claim: String,
    /// Claim values to Trama roles, the first that matches wins.
    pub roles: Vec<RoleMapping>,
    /// What the sign-in button says.
    #[serde(default = "default_label")]
    pub label: String,
}

/// One claim value and the Trama role it gives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// The value the role claim holds, for example `servizi-sociali`.
    pub claim: String,
    /// The Trama role, for example `assistente_sociale`.
    pub role: String,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into()]
}

fn default_label() -> String {
    "Accedi con l'identità dell'ente".into()
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
    #[serde(default)]
    accounts: Option<PathBuf>,
    #[serde(default)]
    oidc: Option<Oidc>,
    #[serde(default = "default_idle_minutes")]
    idle_minutes: u64,
    #[serde(default)]
    public: Option<RawPublic>,
    #[serde(default)]
    metrics: Option<trama_telemetry::ListenTable>,
    #[serde(default)]
    health: Option<trama_telemetry::ListenTable>,
    #[serde(default)]
    tracing: trama_telemetry::traces::TracingTable,
    #[serde(default)]
    proxies: RawProxies,
    #[serde(default)]
    sessions: Option<RawSessions>,
}

/// `[sessions]`: where sessions are kept when not in memory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    database: String,
    #[serde(default = "default_session_key")]
    key_file: PathBuf,
}

fn default_session_key() -> PathBuf {
    "sessions.key".into()
}

/// Where operators' sessions and sign-ins in progress are kept, shared by
/// the console's replicas (`[sessions]`).
#[derive(Debug, Clone)]
pub struct SessionStore {
    /// `postgres://...` for replicas, or a SQLite URL.
    pub database: String,
    /// The key that seals what sessions hold (made on first start).
    pub key_file: PathBuf,
}

/// `[proxies]`: the operator's reverse proxies.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxies {
    #[serde(default)]
    trusted: Vec<String>,
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
        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
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
        if raw.accounts.is_none() && raw.oidc.is_none() {
            return Err(origins.invalid(
                "accounts",
                "nobody could sign in: give a local accounts file (`accounts`), an identity provider (`[oidc]`), or both",
            ));
        }
        let oidc = raw.oidc.map(|o| check_oidc(o, base, origins)).transpose()?;
        let public = raw
            .public
            .map(|p| {
                let public: SocketAddr = p.listen.parse().map_err(|_| {
                    origins.invalid(
                        "public.listen",
                        format!("`{}` is not an address like 0.0.0.0:8444", p.listen),
                    )
                })?;
                if public == listen && listen.port() != 0 {
                    return Err(origins.invalid(
                        "public.listen",
                        "give the public catalogue an address of its own, not the operators' one",
                    ));
                }
                if !(1..=100_000).contains(&p.requests_per_minute) {
                    return Err(
                        origins.invalid("public.requests_per_minute", "between 1 and 100000")
                    );
                }
                Ok(Public {
                    listen: public,
                    requests_per_minute: p.requests_per_minute,
                })
            })
            .transpose()?;
        let metrics = trama_telemetry::ListenTable::optional(raw.metrics, "127.0.0.1:9466")
            .map_err(|p| origins.invalid("metrics.listen", p))?;
        let health = trama_telemetry::ListenTable::optional(raw.health, "0.0.0.0:8082")
            .map_err(|p| origins.invalid("health.listen", p))?;
        let tracing = raw
            .tracing
            .validated()
            .map_err(|(k, p)| origins.invalid(&k, p))?;
        let proxies = crate::proxies::TrustedProxies::parse(&raw.proxies.trusted)
            .map_err(|p| origins.invalid("proxies.trusted", p))?;
        let sessions = raw
            .sessions
            .map(|s| {
                let database = trama_plumbing::durable::url_of(base, &s.database)
                    .map_err(|p| origins.invalid("sessions.database", p))?;
                Ok(SessionStore {
                    database,
                    key_file: base.join(s.key_file),
                })
            })
            .transpose()?;
        Ok(ConsoleConfig {
            proxies,
            sessions,
            metrics,
            health,
            tracing,
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
            accounts: raw.accounts.map(|a| base.join(a)),
            oidc,
            idle_timeout: Duration::from_secs(raw.idle_minutes * 60),
            public,
        })
    }
}

/// The `[oidc]` table, checked: HTTPS addresses, a role for each mapping.
fn check_oidc(
    oidc: Oidc,
    base: &Path,
    origins: &trama_node::config::Origins,
) -> Result<Oidc, ConfigError> {
    for (key, url) in [
        ("oidc.issuer", &oidc.issuer),
        ("oidc.redirect_url", &oidc.redirect_url),
    ] {
        if !url.starts_with("https://") {
            return Err(origins.invalid(key, format!("`{url}` is not an https:// address")));
        }
    }
    if !oidc.redirect_url.ends_with("/oidc/callback") {
        return Err(origins.invalid(
            "oidc.redirect_url",
            "the console's callback ends in /oidc/callback, for example https://console.comune.example/oidc/callback",
        ));
    }
    if oidc.roles.is_empty()
        || oidc
            .roles
            .iter()
            .any(|m| m.claim.is_empty() || m.role.is_empty())
    {
        return Err(origins.invalid(
            "oidc.roles",
            "map at least one claim value to a Trama role: [[oidc.roles]] claim = \"servizi-sociali\" role = \"assistente_sociale\"",
        ));
    }
    Ok(Oidc {
        ca: oidc.ca.map(|c| base.join(c)),
        ..oidc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_example_parses() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("console.toml");
        std::fs::write(&path, include_str!("../../deploy/console.example.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let config = ConsoleConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.organisation, "comune");
        assert_eq!(config.federation.gateway, "gateway.example.org:7400");
        assert_eq!(
            config.https.cert,
            dir.path().join("pki/console-comune-web.pem")
        );
        assert_eq!(config.health.map(|a| a.port()), Some(8082));
        assert_eq!(config.metrics.map(|a| a.port()), Some(9466));
        assert_eq!(
            config.accounts,
            Some(dir.path().join("console-accounts.toml"))
        );
    }

    #[test]
    fn the_kubernetes_example_parses_with_shared_sessions() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("console.toml");
        std::fs::write(&path, include_str!("../../deploy/kubernetes/console.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let config = ConsoleConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let sessions = config.sessions.unwrap_or_else(|| panic!("[sessions]"));
        assert!(sessions.database.starts_with("postgres://"));
        assert_eq!(
            sessions.key_file,
            std::path::PathBuf::from("/etc/trama/secrets/sessions.key")
        );
        assert!(
            config.proxies.trusts(
                "10.1.2.3"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
            )
        );
    }
}
