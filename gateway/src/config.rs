//! The gateway's configuration file (TOML): the federation, where to listen,
//! certificates, limits, and the registry of sources (one connector per
//! partner organisation). Relative paths are resolved against the file's
//! directory; unknown keys are refused; errors name the file and the key.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use trama_node::config::{Environment, Loader, Origins, ProcessEnvironment};
use trama_tls::TlsFiles;

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The federation, for example `demo`.
    pub federation: String,
    /// Address to serve `trama.v1.Federation` on (port 0: any free port).
    pub listen: SocketAddr,
    /// Certificates (a `gateway` identity).
    pub tls: TlsFiles,
    /// Limits.
    pub limits: Limits,
    /// The sources, in registry order.
    pub sources: Vec<SourceConfig>,
    /// The Cedar policy file.
    pub policy: PathBuf,
    /// The audit log.
    pub audit: trama_audit::AuditSettings,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Where to serve `GET /livez` and `GET /readyz`, if anywhere.
    pub health: Option<SocketAddr>,
    /// Logs and the export of traces.
    pub tracing: trama_telemetry::traces::TracingTable,
    /// Statistics: disclosure control and the cache of published tables.
    pub statistics: StatisticsConfig,
    /// How often each partner's offer of services is refreshed.
    pub catalogue_refresh: std::time::Duration,
    /// `[referrals]`, with the partners that take referrals.
    pub referrals: ReferralSettings,
    /// `[cases]`: how the cases callers state are checked.
    pub cases: CasesConfig,
}

/// The `[cases]` table: a case a caller states is confirmed by the
/// connector of the caller's own organisation, except for the
/// organisations listed, whose cases are taken as stated.
#[derive(Debug, Clone, Default)]
pub struct CasesConfig {
    /// Organisations whose connectors map no cases (or that have none):
    /// the case ids their operators state are taken as stated, and the
    /// audit records them as `unverified`.
    pub taken_as_stated: std::collections::BTreeSet<String>,
    /// How long a case its organisation confirmed for a person is taken as
    /// confirmed (zero: asked every time).
    pub cache_ttl: Duration,
}

/// The `[statistics]` table: how published counts are protected.
#[derive(Debug, Clone)]
pub struct StatisticsConfig {
    /// The perturbation parameters.
    pub disclosure: crate::stats::disclosure::Parameters,
    /// The cell-key secret file (created on first start; keep it, and share
    /// it between replicas, or the same people get other values).
    pub cell_key: PathBuf,
    /// How long a published table is served from the cache (zero: never).
    pub cache_ttl: Duration,
    /// The districts and municipalities every table lists.
    pub places: crate::stats::domain::Places,
}

/// Limits that protect the partners and the gateway.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deadline of a call whose client sets none.
    pub default_deadline: Duration,
    /// Largest request accepted, in bytes.
    pub max_request_bytes: usize,
    /// How long a connection to a connector may take to open.
    pub connect_timeout: Duration,
    /// Calls in flight at the gateway at most; beyond, calls are shed with
    /// `RESOURCE_EXHAUSTED`.
    pub max_in_flight: usize,
    /// Failures in a row that open a source's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before a probe.
    pub breaker_cooldown: Duration,
    /// Every client organisation's allowance, unless `[[clients]]` says
    /// otherwise.
    pub client: crate::protect::Allowance,
    /// Allowances of named client organisations.
    pub clients: std::collections::HashMap<String, crate::protect::Allowance>,
    /// How long the locator cache remembers which sources hold a person
    /// (zero: off).
    pub locator_ttl: Duration,
    /// How many people the locator cache remembers at most.
    pub locator_capacity: u64,
}

/// One source of the registry.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The partner organisation; its connector's certificate must carry
    /// `trama://<federation>/org/<organisation>/connector`.
    pub organisation: String,
    /// The connector's address, `host:port`.
    pub address: String,
    /// The budget of one call to this source.
    pub timeout: Duration,
    /// Calls in flight to this source at most.
    pub max_in_flight: usize,
}

pub use trama_node::config::ConfigError;

/// How the gateway reads its configuration: environment variables
/// `TRAMA_GATEWAY__<TABLE>__<KEY>` override the file, and the audit
/// database's and the referral store's URLs may come from a secret file
/// (`audit.database_file`, `referrals.store_file`).
pub const LOADER: Loader<'static> = Loader {
    prefix: "TRAMA_GATEWAY",
    secrets: &["audit.database", "referrals.store"],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    federation: String,
    listen: String,
    tls: TlsFiles,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    clients: Vec<RawClient>,
    policy: Option<PathBuf>,
    #[serde(default)]
    audit: trama_audit::AuditTable,
    #[serde(default)]
    metrics: Option<trama_telemetry::ListenTable>,
    #[serde(default)]
    health: Option<trama_telemetry::ListenTable>,
    #[serde(default)]
    tracing: trama_telemetry::traces::TracingTable,
    #[serde(default)]
    statistics: RawStatistics,
    #[serde(default)]
    catalogue: RawCatalogue,
    #[serde(default)]
    referrals: RawReferrals,
    #[serde(default)]
    cases: RawCases,
}

/// The `[cases]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCases {
    taken_as_stated: Vec<String>,
    cache_seconds: u64,
}

impl Default for RawCases {
    fn default() -> Self {
        RawCases {
            taken_as_stated: Vec::new(),
            cache_seconds: 60,
        }
    }
}

impl RawCases {
    fn resolve(self) -> Result<CasesConfig, (String, String)> {
        if self.cache_seconds > 3_600 {
            return Err((
                "cases.cache_seconds".into(),
                "at most 3600 seconds (0: ask the organisation's connector every time)".into(),
            ));
        }
        let mut taken_as_stated = std::collections::BTreeSet::new();
        for (i, org) in self.taken_as_stated.into_iter().enumerate() {
            trama_tls::identity::validate_name(&org)
                .map_err(|e| (format!("cases.taken_as_stated[{i}]"), e.to_string()))?;
            taken_as_stated.insert(org);
        }
        Ok(CasesConfig {
            taken_as_stated,
            cache_ttl: Duration::from_secs(self.cache_seconds),
        })
    }
}

/// The `[referrals]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawReferrals {
    store: String,
    key: PathBuf,
    poll_seconds: u64,
    deadline_days: RawDeadlines,
}

impl Default for RawReferrals {
    fn default() -> Self {
        RawReferrals {
            store: "referrals.db".into(),
            key: "referrals.key".into(),
            poll_seconds: 30,
            deadline_days: RawDeadlines::default(),
        }
    }
}

/// Business days to accept a referral, by urgency.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDeadlines {
    routine: u32,
    urgent: u32,
    asap: u32,
    stat: u32,
}

impl Default for RawDeadlines {
    fn default() -> Self {
        let d = Deadlines::default();
        RawDeadlines {
            routine: d.routine,
            urgent: d.urgent,
            asap: d.asap,
            stat: d.stat,
        }
    }
}

impl RawDeadlines {
    fn resolve(self, key: &str) -> Result<Deadlines, (String, String)> {
        if [self.routine, self.urgent, self.asap, self.stat]
            .iter()
            .any(|d| *d > 60)
        {
            return Err((key.into(), "at most 60 business days".into()));
        }
        Ok(Deadlines {
            routine: self.routine,
            urgent: self.urgent,
            asap: self.asap,
            stat: self.stat,
        })
    }
}

/// The `[catalogue]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCatalogue {
    refresh_seconds: u64,
}

impl Default for RawCatalogue {
    fn default() -> Self {
        RawCatalogue {
            refresh_seconds: 60,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStatistics {
    threshold: u32,
    max_noise: u32,
    variance: f64,
    min_difference: u32,
    min_population: u32,
    max_cells: u32,
    cell_key: PathBuf,
    cache_seconds: u64,
    districts: Vec<String>,
    municipalities: Vec<String>,
}

impl Default for RawStatistics {
    fn default() -> Self {
        let d = crate::stats::disclosure::Parameters::default();
        RawStatistics {
            threshold: d.threshold,
            max_noise: d.max_noise,
            variance: d.variance,
            min_difference: d.min_difference,
            min_population: d.min_population,
            max_cells: d.max_cells,
            cell_key: "statistics-cell.key".into(),
            cache_seconds: 60,
            districts: Vec::new(),
            municipalities: Vec::new(),
        }
    }
}

impl RawStatistics {
    fn resolve(self, base: &Path) -> Result<StatisticsConfig, (String, String)> {
        let disclosure = crate::stats::disclosure::Parameters {
            threshold: self.threshold,
            max_noise: self.max_noise,
            variance: self.variance,
            min_difference: self.min_difference,
            min_population: self.min_population,
            max_cells: self.max_cells,
        }
        .validated()?;
        let places = crate::stats::domain::Places {
            districts: declared_places("statistics.districts", self.districts, |d| {
                (1..=80).contains(&d.chars().count())
                    && !trama_subject::text::is_blank(d)
                    && d != trama_proto::stats::NOT_RECORDED
                    && d != trama_proto::stats::ALL
            })?,
            municipalities: declared_places(
                "statistics.municipalities",
                self.municipalities,
                trama_subject::belfiore::is_known,
            )?,
        };
        Ok(StatisticsConfig {
            disclosure,
            cell_key: base.join(self.cell_key),
            cache_ttl: Duration::from_secs(self.cache_seconds),
            places,
        })
    }
}

/// A list of declared places, each checked by `valid` and none repeated;
/// an error names the key and the value.
fn declared_places(
    key: &str,
    places: Vec<String>,
    valid: impl Fn(&str) -> bool,
) -> Result<Vec<String>, (String, String)> {
    let mut seen = HashSet::new();
    for p in &places {
        if !valid(p) {
            let what = if key.ends_with("municipalities") {
                "not a municipality code (Belfiore, for example D150 for Cremona)"
            } else {
                "a district is named in 1 to 80 characters, not `-` or `*`"
            };
            return Err((key.into(), format!("`{p}`: {what}")));
        }
        if !seen.insert(p.as_str()) {
            return Err((key.into(), format!("`{p}` is listed twice")));
        }
    }
    Ok(places)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    default_deadline_ms: u64,
    max_request_bytes: usize,
    connect_timeout_ms: u64,
    max_in_flight: usize,
    breaker_failures: u32,
    breaker_cooldown_ms: u64,
    client_rate: f64,
    client_burst: f64,
    client_daily_quota: Option<u64>,
    locator_ttl_s: u64,
    locator_capacity: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            default_deadline_ms: 5_000,
            max_request_bytes: 64 * 1024,
            connect_timeout_ms: 1_000,
            max_in_flight: 2_048,
            breaker_failures: 5,
            breaker_cooldown_ms: 5_000,
            client_rate: 5_000.0,
            client_burst: 10_000.0,
            client_daily_quota: None,
            locator_ttl_s: 60,
            locator_capacity: 100_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    organisation: String,
    rate: f64,
    burst: Option<f64>,
    daily_quota: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    organisation: String,
    address: String,
    #[serde(default = "default_source_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_source_max_in_flight")]
    max_in_flight: usize,
    /// Whether the partner takes referrals (its connector maps an inbox).
    #[serde(default)]
    referrals: bool,
    /// The partner's own deadlines, in place of `[referrals]
    /// deadline_days`.
    referral_deadline_days: Option<RawDeadlines>,
}

fn default_source_max_in_flight() -> usize {
    64
}

fn default_source_timeout_ms() -> u64 {
    2_000
}

impl GatewayConfig {
    /// Reads and validates a configuration file, with the process's
    /// environment overriding it.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let loaded = LOADER.load(path, &ProcessEnvironment)?;
        Self::validated(loaded.raw, &loaded.origins)
    }

    /// Parses and validates configuration text without environment
    /// overrides; `path` is used in messages and to resolve relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<GatewayConfig, ConfigError> {
        Self::parse_with(path, text, &std::collections::BTreeMap::new())
    }

    /// Parses and validates configuration text with `env` overriding it.
    pub fn parse_with(
        path: &Path,
        text: &str,
        env: &dyn Environment,
    ) -> Result<GatewayConfig, ConfigError> {
        let loaded = LOADER.parse(path, text, env)?;
        Self::validated(loaded.raw, &loaded.origins)
    }

    /// The one validation pass: every value checked, paths resolved.
    fn validated(raw: RawConfig, origins: &Origins) -> Result<GatewayConfig, ConfigError> {
        let invalid = |key: &str, problem: String| origins.invalid(key, problem);
        let base = origins.base();
        trama_tls::identity::validate_name(&raw.federation)
            .map_err(|e| invalid("federation", e.to_string()))?;
        let listen = raw.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:7400", raw.listen),
            )
        })?;
        let Some(policy) = raw.policy else {
            return Err(invalid(
                "policy",
                "missing: name the Cedar policy file (every call is denied without one); start from deploy/policy.example.cedar".into(),
            ));
        };
        let audit = raw.audit.resolve(base).map_err(|(k, p)| invalid(&k, p))?;
        let metrics = trama_telemetry::ListenTable::optional(raw.metrics, "127.0.0.1:9464")
            .map_err(|p| invalid("metrics.listen", p))?;
        let health = trama_telemetry::ListenTable::optional(raw.health, "0.0.0.0:8080")
            .map_err(|p| invalid("health.listen", p))?;
        let tracing = raw.tracing.validated().map_err(|(k, p)| invalid(&k, p))?;
        let statistics = raw
            .statistics
            .resolve(base)
            .map_err(|(k, p)| invalid(&k, p))?;
        if !(1..=86_400).contains(&raw.catalogue.refresh_seconds) {
            return Err(invalid(
                "catalogue.refresh_seconds",
                "between 1 and 86400 seconds".into(),
            ));
        }
        let referrals = referral_settings(&raw.referrals, &raw.sources, base)
            .map_err(|(k, p)| invalid(&k, p))?;
        let cases = raw.cases.resolve().map_err(|(k, p)| invalid(&k, p))?;
        Ok(GatewayConfig {
            cases,
            referrals,
            catalogue_refresh: std::time::Duration::from_secs(raw.catalogue.refresh_seconds),
            statistics,
            metrics,
            health,
            tracing,
            path: origins.path().to_path_buf(),
            policy: base.join(policy),
            audit,
            federation: raw.federation,
            listen,
            tls: raw.tls.relative_to(base),
            limits: limits(&raw.limits, &raw.clients, origins)?,
            sources: sources(raw.sources, origins)?,
        })
    }
}

/// `[referrals]` and the sources that take referrals.
fn referral_settings(
    raw: &RawReferrals,
    sources: &[RawSource],
    base: &Path,
) -> Result<ReferralSettings, (String, String)> {
    if !(1..=3_600).contains(&raw.poll_seconds) {
        return Err((
            "referrals.poll_seconds".into(),
            "between 1 and 3600 seconds".into(),
        ));
    }
    let store = trama_plumbing::durable::url_of(base, &raw.store)
        .map_err(|p| ("referrals.store".to_string(), p))?;
    let default = raw.deadline_days.resolve("referrals.deadline_days")?;
    let mut targets = std::collections::HashMap::new();
    for (i, s) in sources.iter().enumerate() {
        let own = s
            .referral_deadline_days
            .map(|d| d.resolve(&format!("sources[{i}].referral_deadline_days")))
            .transpose()?;
        if s.referrals {
            targets.insert(s.organisation.clone(), own.unwrap_or(default));
        } else if own.is_some() {
            return Err((
                format!("sources[{i}].referral_deadline_days"),
                "set `referrals = true` too, or remove the deadlines".into(),
            ));
        }
    }
    Ok(ReferralSettings {
        store,
        key: base.join(&raw.key),
        poll: Duration::from_secs(raw.poll_seconds),
        targets,
    })
}

/// The registry of sources: each organisation once, at a host:port.
fn sources(raw: Vec<RawSource>, origins: &Origins) -> Result<Vec<SourceConfig>, ConfigError> {
    let invalid = |key: String, problem: String| origins.invalid(key, problem);
    let mut seen = HashSet::new();
    let mut sources = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        trama_tls::identity::validate_name(&s.organisation)
            .map_err(|e| invalid(format!("sources[{i}].organisation"), e.to_string()))?;
        if !seen.insert(s.organisation.clone()) {
            return Err(invalid(
                format!("sources[{i}].organisation"),
                format!(
                    "`{}` is listed twice; each organisation has one connector",
                    s.organisation
                ),
            ));
        }
        let ok_address = s
            .address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok_address {
            return Err(invalid(
                format!("sources[{i}].address"),
                format!(
                    "`{}` is not host:port, for example 127.0.0.1:7401",
                    s.address
                ),
            ));
        }
        if s.timeout_ms == 0 {
            return Err(invalid(
                format!("sources[{i}].timeout_ms"),
                "must be at least 1".into(),
            ));
        }
        if s.max_in_flight == 0 {
            return Err(invalid(
                format!("sources[{i}].max_in_flight"),
                "must be at least 1".into(),
            ));
        }
        sources.push(SourceConfig {
            organisation: s.organisation,
            address: s.address,
            timeout: Duration::from_millis(s.timeout_ms),
            max_in_flight: s.max_in_flight,
        });
    }
    Ok(sources)
}

/// The limits, with every client organisation's allowance.
fn limits(
    l: &RawLimits,
    raw_clients: &[RawClient],
    origins: &Origins,
) -> Result<Limits, ConfigError> {
    let invalid = |key: String, problem: String| origins.invalid(key, problem);
    if l.default_deadline_ms == 0 {
        return Err(invalid(
            "limits.default_deadline_ms".into(),
            "must be at least 1".into(),
        ));
    }
    if l.max_in_flight == 0 || l.breaker_failures == 0 {
        return Err(invalid(
            "limits.max_in_flight".into(),
            "max_in_flight and breaker_failures must be at least 1".into(),
        ));
    }
    let allowance = |key: String, rate: f64, burst: Option<f64>, quota: Option<u64>| {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(invalid(
                key,
                format!("rate {rate} must be a positive number of calls per second"),
            ));
        }
        let burst = burst.unwrap_or(rate * 2.0);
        if !(burst.is_finite() && burst >= 1.0) {
            return Err(invalid(key, format!("burst {burst} must be at least 1")));
        }
        Ok(crate::protect::Allowance {
            rate,
            burst,
            daily_quota: quota,
        })
    };
    let client = allowance(
        "limits.client_rate".into(),
        l.client_rate,
        Some(l.client_burst),
        l.client_daily_quota,
    )?;
    let mut clients = std::collections::HashMap::new();
    for (i, c) in raw_clients.iter().enumerate() {
        trama_tls::identity::validate_name(&c.organisation)
            .map_err(|e| invalid(format!("clients[{i}].organisation"), e.to_string()))?;
        let a = allowance(format!("clients[{i}].rate"), c.rate, c.burst, c.daily_quota)?;
        if clients.insert(c.organisation.clone(), a).is_some() {
            return Err(invalid(
                format!("clients[{i}].organisation"),
                format!("`{}` is listed twice", c.organisation),
            ));
        }
    }
    Ok(Limits {
        default_deadline: Duration::from_millis(l.default_deadline_ms),
        max_request_bytes: l.max_request_bytes,
        connect_timeout: Duration::from_millis(l.connect_timeout_ms),
        max_in_flight: l.max_in_flight,
        breaker_failures: l.breaker_failures,
        breaker_cooldown: Duration::from_millis(l.breaker_cooldown_ms),
        client,
        clients,
        locator_ttl: Duration::from_secs(l.locator_ttl_s),
        locator_capacity: l.locator_capacity,
    })
}

/// How a gateway handles referrals (the `[referrals]` table).
#[derive(Debug, Clone)]
pub struct ReferralSettings {
    /// The store's URL.
    pub store: String,
    /// The referral key file.
    pub key: std::path::PathBuf,
    /// How often the partners' own status changes are read.
    pub poll: Duration,
    /// The partners that take referrals, with their deadlines.
    pub targets: HashMap<String, Deadlines>,
}

/// Business days to accept or reject a referral, by urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Routine referrals.
    pub routine: u32,
    /// Urgent ones.
    pub urgent: u32,
    /// As soon as possible.
    pub asap: u32,
    /// Immediately: 0 is the same day.
    pub stat: u32,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            routine: 5,
            urgent: 2,
            asap: 1,
            stat: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
federation = "demo"
listen = "127.0.0.1:7400"
policy = "policy.cedar"
[tls]
ca = "pki/ca.pem"
cert = "pki/gateway-gateway.pem"
key = "pki/gateway-gateway-key.pem"
[[sources]]
organisation = "comune"
address = "127.0.0.1:7401"
"#;

    fn check(text: &str) -> String {
        match GatewayConfig::parse(Path::new("/etc/trama/gateway.toml"), text) {
            Ok(c) => format!("ok {}", c.tls.ca.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_file_and_key() {
        assert_eq!(check(GOOD), "ok /etc/trama/pki/ca.pem");
        let cases = [
            (
                GOOD.replace("127.0.0.1:7401", "comune"),
                "key `sources[0].address`",
            ),
            (
                GOOD.replace("listen = \"127.0.0.1:7400\"", "listen = \"nowhere\""),
                "key `listen`",
            ),
            (
                format!("{GOOD}[[sources]]\norganisation = \"comune\"\naddress = \"h:1\"\n"),
                "key `sources[1].organisation`: `comune` is listed twice",
            ),
            (
                GOOD.replace(
                    "federation = \"demo\"",
                    "federation = \"demo\"\nfederaton = 1",
                ),
                "unknown field `federaton`",
            ),
            (
                GOOD.replace("federation = \"demo\"", "federation = \"Demo Fed\""),
                "key `federation`",
            ),
            (
                GOOD.replace("policy = \"policy.cedar\"", ""),
                "key `policy`: missing",
            ),
            (
                format!("{GOOD}[audit]\ndatabase = \"mysql://x/y\"\n"),
                "key `audit.database`",
            ),
            (
                format!("{GOOD}[cases]\ntaken_as_stated = [\"ASL\"]\n"),
                "key `cases.taken_as_stated[0]`",
            ),
            (
                format!("{GOOD}[cases]\ncache_seconds = 86400\n"),
                "key `cases.cache_seconds`",
            ),
        ];
        for (text, want) in cases {
            let got = check(&text);
            assert!(got.contains(want), "want `{want}` in: {got}");
            assert!(
                got.starts_with("/etc/trama/gateway.toml"),
                "names the file: {got}"
            );
        }
    }
}

#[cfg(test)]
mod environment_tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_environment_overrides_the_file_and_is_named_in_errors() {
        let file = include_str!("../../deploy/gateway.example.toml");
        let path = Path::new("/etc/trama/gateway.toml");
        let env: BTreeMap<String, String> = [
            ("TRAMA_GATEWAY__LIMITS__MAX_IN_FLIGHT", "7"),
            ("TRAMA_GATEWAY__SOURCES__1__ADDRESS", "10.1.2.3:7402"),
            (
                "TRAMA_GATEWAY__AUDIT__DATABASE",
                "postgres://audit@db/audit",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let parsed = GatewayConfig::parse_with(path, file, &env);
        let Ok(c) = parsed else { panic!("{parsed:?}") };
        assert_eq!(c.limits.max_in_flight, 7);
        assert_eq!(c.sources[1].address, "10.1.2.3:7402");
        assert_eq!(c.audit.database, "postgres://audit@db/audit");
        let bad: BTreeMap<String, String> =
            [("TRAMA_GATEWAY__LISTEN".to_string(), "nowhere".to_string())].into();
        let got = GatewayConfig::parse_with(path, file, &bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            got.starts_with("/etc/trama/gateway.toml: key `listen` (from TRAMA_GATEWAY__LISTEN)"),
            "{got}"
        );
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_kubernetes_example_parses_and_names_each_pod_its_own_chain() {
        let parsed = GatewayConfig::parse(
            Path::new("/etc/trama/gateway.toml"),
            include_str!("../../deploy/kubernetes/gateway.toml"),
        );
        let Ok(c) = parsed else { panic!("{parsed:?}") };
        assert!(c.audit.database.starts_with("postgres://"));
        assert!(c.referrals.store.starts_with("postgres://"));
        // No replica named: the host name (the pod's) names the chain.
        assert!(!c.audit.chain.is_empty());
        let sqlite_replica = include_str!("../../deploy/gateway.example.toml").replace(
            "checkpoint_every = 1000",
            "checkpoint_every = 1000\nreplica = \"gateway-a\"",
        );
        let refused = GatewayConfig::parse(Path::new("/etc/trama/gateway.toml"), &sqlite_replica)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            refused.contains("audit.replica") && refused.contains("one writer"),
            "{refused}"
        );
    }

    #[test]
    fn the_deployment_example_parses() {
        let parsed = GatewayConfig::parse(
            Path::new("/etc/trama/gateway.toml"),
            include_str!("../../deploy/gateway.example.toml"),
        );
        let Ok(c) = parsed else { panic!("{parsed:?}") };
        assert_eq!(c.policy, Path::new("/etc/trama/policy.cedar"));
        assert_eq!(c.audit.database, "sqlite:///var/lib/trama/gateway/audit.db");
        assert_eq!(c.tls.crl, Some(PathBuf::from("/etc/trama/pki/crl.pem")));
        assert_eq!(c.sources.len(), 2);
        assert_eq!(
            c.referrals.store,
            "sqlite:///var/lib/trama/gateway/referrals.db"
        );
        // Under its systemd unit /etc/trama is read-only: every file the
        // gateway writes or creates on first start is in its state
        // directory.
        let state = Path::new("/var/lib/trama/gateway");
        for written in [
            &c.audit.pseudonym_key,
            &c.audit.checkpoint_file,
            &c.statistics.cell_key,
            &c.referrals.key,
        ] {
            assert!(written.starts_with(state), "{}", written.display());
        }
        let comune = c
            .referrals
            .targets
            .get("comune")
            .copied()
            .unwrap_or_default();
        assert_eq!((comune.routine, comune.urgent), (10, 2));
        assert!(
            !c.referrals.targets.contains_key("caritas"),
            "takes no referrals"
        );
    }

    #[test]
    fn referral_settings_are_checked_naming_the_key() {
        for (from, to, key) in [
            (
                "poll_seconds = 30 ",
                "poll_seconds = 0 ",
                "referrals.poll_seconds",
            ),
            ("routine = 5,", "routine = 61,", "referrals.deadline_days"),
            (
                "referrals = true ",
                "referrals = false ",
                "sources[0].referral_deadline_days",
            ),
            (
                "store = \"/var/lib/trama/gateway/referrals.db\"",
                "store = \"mysql://db/x\"",
                "referrals.store",
            ),
        ] {
            let got = refusal_of_example(from, to);
            assert!(got.contains(&format!("key `{key}`")), "{key}: {got}");
        }
    }

    /// What the gateway says of the deployment example with `from`
    /// replaced by `to` (empty when it is accepted).
    fn refusal_of_example(from: &str, to: &str) -> String {
        let base = include_str!("../../deploy/gateway.example.toml");
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        GatewayConfig::parse(Path::new("/etc/trama/gateway.toml"), &text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_referral_store_url_comes_from_a_secret_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let secret = dir.path().join("referrals-url");
        std::fs::write(
            &secret,
            "postgres://trama:s3cret@db.example.org/referrals\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let base = include_str!("../../deploy/gateway.example.toml");
        let text = base.replacen(
            "store = \"/var/lib/trama/gateway/referrals.db\"",
            &format!("store_file = \"{}\"", secret.display()),
            1,
        );
        let parsed = GatewayConfig::parse(Path::new("/etc/trama/gateway.toml"), &text);
        let Ok(config) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            config.referrals.store,
            "postgres://trama:s3cret@db.example.org/referrals"
        );
    }

    #[test]
    fn declared_places_are_checked_naming_the_key() {
        let base = include_str!("../../deploy/gateway.example.toml");
        let path = Path::new("/etc/trama/gateway.toml");
        let ok = GatewayConfig::parse(path, base).map(|c| c.statistics.places);
        assert!(ok.is_ok_and(|p| p.districts.len() == 8 && p.municipalities == ["D150"]));
        for (from, to, key, why) in [
            (
                "municipalities = [\"D150\"]",
                "municipalities = [\"D150\", \"XXXX\"]",
                "statistics.municipalities",
                "`XXXX`: not a municipality code",
            ),
            (
                "\"Po\",",
                "\"Centro\",",
                "statistics.districts",
                "`Centro` is listed twice",
            ),
            (
                "\"Po\",",
                "\"-\",",
                "statistics.districts",
                "not `-` or `*`",
            ),
            (
                "min_population = 20 ",
                "min_population = 4 ",
                "statistics.min_population",
                "at least min_difference",
            ),
        ] {
            let got = refusal_of_example(from, to);
            assert!(got.contains(&format!("key `{key}`")), "{key}: {got}");
            assert!(got.contains(why), "{why}: {got}");
        }
    }
}
