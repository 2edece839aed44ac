//! A federation sandbox: a whole federation on this machine, described in a
//! few lines and started as real processes. [`FederationBuilder`] takes the
//! partners, where each one's database lives (SQLite, or a database of its
//! own on a PostgreSQL or MySQL/MariaDB server), the population, the
//! gateway's policy, each partner's export rules, client allowances, and
//! fault proxies in front of a connector or of a database server; it writes
//! the PKI, the databases and every configuration file from typed values,
//! and starts the connectors and the gateway from the `trama` binary.
//! [`Federation`] is the running result: clients, logs, processes to stop,
//! crash or restart, proxies to switch, and a teardown that stops the
//! processes and drops the databases made on servers. The demo, the soak,
//! the federation benchmark and the end-to-end tests all start their
//! federations here.

pub mod databases;
pub mod defaults;
pub mod files;
pub mod process;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Child;
use tonic::transport::Channel;
use trama_proto::v1::federation_client::FederationClient;
use trama_tls::client::ExpectedPeer;
use trama_tls::pki::{self, IssueRequest};
use trama_tls::{Role, TlsFiles};

pub use defaults::{CLIENTS, DEMO_POLICY, FEDERATION, export_rules};
pub use files::{
    CaseTable, ClientLimit, ClientProfile, ConnectorFile, ConnectorLimits, ConsoleAccount,
    ConsoleFile, ExportRule, GatewayFile, ReferralTable, Source, TracingTable,
};
pub use process::READY;
pub use proxy::{FaultProxy, Mode};

use crate::seed::partners::Selection;
use crate::seed::sink::{Engine, Sink};
use crate::seed::{self, Partner, Population};

/// The federation linkage key file the connectors share (in a real
/// federation it is never given to the gateway).
pub const LINKAGE_KEY: &str = "linkage.key";

/// Marks a directory as made by the sandbox, so it may be recreated.
const MARKER: &str = ".trama-demo";
/// How long a stopping process has to shut down before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Where a partner's database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file in the partner's directory, read-only for the connector.
    Sqlite,
    /// A database of its own on the PostgreSQL server at this URL.
    Postgres(String),
    /// A database of its own on the MySQL/MariaDB server at this URL.
    MySql(String),
}

/// The gateway's access policy (Cedar text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy(String);

impl Policy {
    /// The demo federation's policy.
    pub fn demo() -> Policy {
        Policy(DEMO_POLICY.to_string())
    }

    /// A policy given as Cedar text.
    pub fn text(text: impl Into<String>) -> Policy {
        Policy(text.into())
    }

    /// The same policy without the rule annotated `@id("<id>")`: the
    /// paragraph (lines up to a blank line) holding the annotation goes.
    pub fn without(self, id: &str) -> anyhow::Result<Policy> {
        let annotation = format!("@id(\"{id}\")");
        let paragraphs: Vec<&str> = self.0.split("\n\n").collect();
        let kept: Vec<&str> = paragraphs
            .iter()
            .copied()
            .filter(|p| !p.lines().any(|l| l.trim() == annotation))
            .collect();
        if kept.len() == paragraphs.len() {
            bail!("the policy has no rule {annotation}");
        }
        Ok(Policy(kept.join("\n\n")))
    }

    /// The Cedar text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How one partner is set up.
#[derive(Debug, Clone)]
struct PartnerSetup {
    partner: Partner,
    database: Database,
    export: Vec<ExportRule>,
    mapping: Option<String>,
    limits: ConnectorLimits,
    proxy: bool,
    database_proxy: Option<Mode>,
}

impl PartnerSetup {
    fn of(partner: Partner) -> PartnerSetup {
        PartnerSetup {
            partner,
            database: Database::Sqlite,
            export: export_rules(partner),
            mapping: None,
            limits: ConnectorLimits::default(),
            proxy: false,
            database_proxy: None,
        }
    }
}

/// Describes a federation to start; [`FederationBuilder::start`] starts it.
/// Unless told otherwise it is the demo federation: the five demo partners
/// on SQLite with their export rules, the demo policy, a gateway on any
/// free port, 2,000 people from seed 2026 in overlapping shares.
#[derive(Debug, Clone)]
pub struct FederationBuilder {
    dir: PathBuf,
    exe: Option<PathBuf>,
    partners: Vec<PartnerSetup>,
    subjects: usize,
    seed: u64,
    everyone: bool,
    policy: Policy,
    gateway: bool,
    port: u16,
    clients: Vec<ClientLimit>,
    database_prefix: String,
    source_timeout_ms: u64,
    announce: bool,
    tracing: TracingTable,
    statistics_cache_seconds: Option<u64>,
    statistics: Vec<(String, String)>,
    catalogue_refresh_seconds: Option<u64>,
    referrals: ReferralTable,
    cases: CaseTable,
    audit_database: Option<String>,
}

impl FederationBuilder {
    /// The demo federation in `dir` (recreated when started; a directory
    /// not made by the sandbox is refused).
    pub fn new(dir: impl Into<PathBuf>) -> FederationBuilder {
        FederationBuilder {
            dir: dir.into(),
            exe: None,
            partners: Partner::ALL.into_iter().map(PartnerSetup::of).collect(),
            subjects: 2000,
            seed: 2026,
            everyone: false,
            policy: Policy::demo(),
            gateway: true,
            port: 0,
            clients: Vec::new(),
            database_prefix: "trama_demo".into(),
            source_timeout_ms: 2000,
            announce: false,
            tracing: TracingTable::default(),
            statistics_cache_seconds: None,
            statistics: declared_places(),
            catalogue_refresh_seconds: None,
            referrals: ReferralTable::default(),
            cases: CaseTable {
                taken_as_stated: defaults::CASES_TAKEN_AS_STATED
                    .iter()
                    .map(|o| (*o).to_string())
                    .collect(),
                cache_seconds: None,
            },
            audit_database: None,
        }
    }

    /// Where the gateway keeps its audit log: a `postgres://` URL shared
    /// with its replicas ([`Federation::start_replica`]); the gateway
    /// writes the chain named `gateway`. By default a SQLite file.
    pub fn audit_database(mut self, url: impl Into<String>) -> Self {
        self.audit_database = Some(url.into());
        self
    }

    /// Sets a key of the gateway's `[statistics]` table to a value written
    /// in TOML (`min_population`, `"12"`), replacing the sandbox's own.
    pub fn statistics_setting(mut self, key: &str, toml_value: &str) -> Self {
        self.statistics.retain(|(k, _)| k != key);
        self.statistics.push((key.into(), toml_value.into()));
        self
    }

    /// The organisations whose stated case ids the gateway takes as stated
    /// (recorded `unverified`) instead of asking their own connector, in
    /// place of the demo's.
    pub fn cases_taken_as_stated(mut self, organisations: &[&str]) -> Self {
        self.cases.taken_as_stated = organisations.iter().map(|o| (*o).to_string()).collect();
        self
    }

    /// How long the gateway remembers a case its organisation confirmed.
    pub fn case_cache_seconds(mut self, seconds: u64) -> Self {
        self.cases.cache_seconds = Some(seconds);
        self
    }

    /// How often the gateway reads the partners' own referral status
    /// changes.
    pub fn referral_poll_seconds(mut self, seconds: u64) -> Self {
        self.referrals.poll_seconds = Some(seconds);
        self
    }

    /// Where the gateway keeps referrals (a `postgres://` URL, or a file).
    pub fn referral_store(mut self, store: impl Into<String>) -> Self {
        self.referrals.store = Some(store.into());
        self
    }

    /// Business days a partner has to accept a referral, whatever its
    /// urgency (0: overdue at once).
    pub fn referral_deadline_days(mut self, days: u32) -> Self {
        self.referrals.deadline_days = Some(days);
        self
    }

    /// Each call from the gateway to a connector may take this long.
    pub fn source_timeout_ms(mut self, ms: u64) -> Self {
        self.source_timeout_ms = ms;
        self
    }

    /// How long the gateway caches published statistics (0: not at all).
    pub fn statistics_cache_seconds(mut self, seconds: u64) -> Self {
        self.statistics_cache_seconds = Some(seconds);
        self
    }

    /// How often the gateway refreshes each partner's offer of services.
    pub fn catalogue_refresh_seconds(mut self, seconds: u64) -> Self {
        self.catalogue_refresh_seconds = Some(seconds);
        self
    }

    /// Every node exports its spans to the OTLP collector at `endpoint`
    /// (for example `http://127.0.0.1:4317`).
    pub fn otlp(mut self, endpoint: impl Into<String>) -> Self {
        self.tracing.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// Every node writes its logs as JSON lines.
    pub fn json_logs(mut self) -> Self {
        self.tracing.json_logs = true;
        self
    }

    /// The federation's directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// The `trama` binary to run (by default, the running executable).
    pub fn exe(mut self, exe: impl Into<PathBuf>) -> Self {
        self.exe = Some(exe.into());
        self
    }

    /// Only these partners (in this order).
    pub fn partners(mut self, partners: impl IntoIterator<Item = Partner>) -> Self {
        self.partners = partners.into_iter().map(PartnerSetup::of).collect();
        self
    }

    fn setup(&mut self, partner: Partner) -> &mut PartnerSetup {
        if let Some(i) = self.partners.iter().position(|s| s.partner == partner) {
            return &mut self.partners[i];
        }
        self.partners.push(PartnerSetup::of(partner));
        let last = self.partners.len() - 1;
        &mut self.partners[last]
    }

    /// Where `partner`'s database lives.
    pub fn database(mut self, partner: Partner, database: Database) -> Self {
        self.setup(partner).database = database;
        self
    }

    /// The comune on this PostgreSQL server, when given (as `trama demo
    /// --postgres`).
    pub fn postgres(self, server: Option<String>) -> Self {
        match server {
            Some(url) => self.database(Partner::Comune, Database::Postgres(url)),
            None => self,
        }
    }

    /// The asl on this MySQL/MariaDB server, when given (as `trama demo
    /// --mysql`).
    pub fn mysql(self, server: Option<String>) -> Self {
        match server {
            Some(url) => self.database(Partner::Asl, Database::MySql(url)),
            None => self,
        }
    }

    /// People in the synthetic population.
    pub fn subjects(mut self, subjects: usize) -> Self {
        self.subjects = subjects;
        self
    }

    /// Seed of the synthetic data.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Every partner knows every person, instead of overlapping shares.
    pub fn everyone(mut self, everyone: bool) -> Self {
        self.everyone = everyone;
        self
    }

    /// The gateway's policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// `partner`'s export rules instead of its demo rules.
    pub fn export(mut self, partner: Partner, rules: Vec<ExportRule>) -> Self {
        self.setup(partner).export = rules;
        self
    }

    /// `partner`'s mapping file, instead of its own (for example one a test
    /// has broken on purpose).
    pub fn mapping(mut self, partner: Partner, mapping: impl Into<String>) -> Self {
        self.setup(partner).mapping = Some(mapping.into());
        self
    }

    /// `partner`'s database statement timeout.
    pub fn statement_timeout_ms(mut self, partner: Partner, ms: u64) -> Self {
        self.setup(partner).limits.statement_timeout_ms = Some(ms);
        self
    }

    /// `partner`'s connections to its database at most.
    pub fn max_connections(mut self, partner: Partner, n: u32) -> Self {
        self.setup(partner).limits.max_connections = Some(n);
        self
    }

    /// A fault proxy between the gateway and `partner`'s connector (see
    /// [`Federation::proxy`]).
    pub fn fault_proxy(mut self, partner: Partner) -> Self {
        self.setup(partner).proxy = true;
        self
    }

    /// A fault proxy, starting in `mode`, between `partner`'s connector and
    /// its database server (see [`Federation::database_proxy`]); the data
    /// are written straight to the server.
    pub fn database_proxy(mut self, partner: Partner, mode: Mode) -> Self {
        self.setup(partner).database_proxy = Some(mode);
        self
    }

    /// An allowance for client organisation `organisation` at the gateway.
    pub fn client_limit(mut self, organisation: &str, rate: f64, burst: f64) -> Self {
        self.clients.push(ClientLimit {
            organisation: organisation.into(),
            rate,
            burst,
        });
        self
    }

    /// The gateway's port (0, the default: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Prefix of the databases made on servers (`<prefix>_<organisation>`).
    pub fn database_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.database_prefix = prefix.into();
        self
    }

    /// Connectors only, no gateway.
    pub fn without_gateway(mut self) -> Self {
        self.gateway = false;
        self
    }

    /// Print each step as it is done, for people watching (the demo).
    pub fn announce(mut self, announce: bool) -> Self {
        self.announce = announce;
        self
    }

    /// Makes everything and starts the processes. On failure, whatever was
    /// started is stopped and the databases made on servers are dropped.
    pub async fn start(self) -> anyhow::Result<Federation> {
        let exe = match &self.exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe().context("locating the trama binary")?,
        };
        let dir = prepare_dir(&self.dir)?;
        let mut federation = Federation::empty(dir, exe);
        match self.start_into(&mut federation).await {
            Ok(()) => Ok(federation),
            Err(e) => {
                federation.teardown().await;
                Err(e)
            }
        }
    }

    async fn start_into(&self, fed: &mut Federation) -> anyhow::Result<()> {
        self.make_pki(&fed.dir)?;
        let population = seed::generate(self.seed, self.subjects);
        let mut counts = Vec::new();
        for setup in &self.partners {
            let (file, known) = self.make_partner(fed, setup, &population).await?;
            counts.push(known);
            fed.connector_files
                .push((setup.partner.organisation().into(), file));
        }
        self.say(format_args!(
            "2. Data     {} synthetic people; partners know: {}",
            population.people.len(),
            counts.join(", ")
        ));
        std::fs::create_dir_all(fed.logs())?;
        let mut sources = Vec::new();
        for setup in &self.partners {
            let org = setup.partner.organisation();
            let address = fed.spawn_connector(org).await?;
            let reached = if setup.proxy {
                let proxy = FaultProxy::start(address).await?;
                let via = proxy.address.clone();
                fed.proxies.push((org.into(), proxy));
                via
            } else {
                address
            };
            sources.push(Source {
                organisation: org.into(),
                address: reached,
                timeout_ms: self.source_timeout_ms,
            });
        }
        if !self.gateway {
            self.say(format_args!(
                "3. Serving  {} connectors (mutual TLS; logs in {})",
                sources.len(),
                fed.logs().display()
            ));
            return Ok(());
        }
        std::fs::write(fed.dir.join("policy.cedar"), self.policy.as_str())?;
        let file = GatewayFile {
            federation: FEDERATION.into(),
            listen: format!("127.0.0.1:{}", self.port),
            policy: "policy.cedar".into(),
            audit_database: self.audit_database.clone().unwrap_or("audit.db".into()),
            audit_replica: self.audit_database.as_ref().map(|_| "gateway".to_string()),
            checkpoint_file: "audit-checkpoints.jsonl".into(),
            sources,
            clients: self.clients.clone(),
            tracing: self.tracing.clone(),
            statistics_cache_seconds: self.statistics_cache_seconds,
            statistics: self.statistics.clone(),
            catalogue_refresh_seconds: self.catalogue_refresh_seconds,
            referrals: ReferralTable {
                targets: self
                    .partners
                    .iter()
                    .filter(|p| p.partner.takes_referrals())
                    .map(|p| p.partner.organisation().to_string())
                    .collect(),
                ..self.referrals.clone()
            },
            cases: self.cases.clone(),
        };
        fed.gateway = fed.spawn_gateway("gateway", file).await?;
        fed.write_profiles()?;
        self.say(format_args!(
            "3. Serving  {} connectors and the gateway on {} (mutual TLS; logs in {})",
            self.partners.len(),
            fed.gateway,
            fed.logs().display()
        ));
        Ok(())
    }

    fn say(&self, line: std::fmt::Arguments<'_>) {
        if self.announce {
            println!("{line}");
        }
    }

    /// The federation CA and every node's certificate.
    fn make_pki(&self, dir: &Path) -> anyhow::Result<()> {
        let pki_dir = dir.join("pki");
        pki::init(&pki_dir, FEDERATION)?;
        trama_audit::Pseudonymiser::generate(&dir.join(LINKAGE_KEY))?;
        issue(&pki_dir, "gateway", Role::Gateway)?;
        for setup in &self.partners {
            issue(&pki_dir, setup.partner.organisation(), Role::Connector)?;
        }
        for org in defaults::CLIENT_ORGANISATIONS {
            issue(&pki_dir, org, Role::Client)?;
        }
        self.say(format_args!(
            "1. PKI      federation CA and certificates in {}",
            pki_dir.display()
        ));
        Ok(())
    }

    /// One partner's database, filled, and its connector's files; returns
    /// the connector's file and what the partner knows, in words.
    async fn make_partner(
        &self,
        fed: &mut Federation,
        setup: &PartnerSetup,
        population: &Population,
    ) -> anyhow::Result<(ConnectorFile, String)> {
        let partner = setup.partner;
        let org = partner.organisation();
        let pdir = fed.dir.join(org);
        std::fs::create_dir_all(&pdir)?;
        let (seed_url, connector_url, engine) = self.partner_database(fed, setup).await?;
        let mut sink = Sink::connect(&seed_url)
            .await
            .with_context(|| format!("opening the {org} database {}", redact(&seed_url)))?;
        let selection = if self.everyone {
            Selection::Everyone
        } else {
            Selection::Reach
        };
        let known = seed::partners::seed(partner, &mut sink, engine, population, selection, |_| {})
            .await
            .with_context(|| format!("seeding the {org} database {}", redact(&seed_url)))?;
        sink.close().await;
        let mapping = setup.mapping.as_deref().unwrap_or(partner.mapping());
        std::fs::write(pdir.join("mapping.toml"), mapping)?;
        if let Some(schema) = partner.schema(engine) {
            std::fs::write(pdir.join(format!("schema.{}.sql", engine.name())), schema)?;
        }
        let file = ConnectorFile {
            federation: FEDERATION.into(),
            organisation: org.into(),
            listen: "127.0.0.1:0".into(),
            database: connector_url,
            mapping: "mapping.toml".into(),
            pki: "../pki".into(),
            limits: setup.limits,
            export: setup.export.clone(),
            tracing: self.tracing.clone(),
            linkage_key: Some(format!("../{LINKAGE_KEY}")),
        };
        file.write(&pdir.join("connector.toml"))?;
        Ok((file, format!("{org} {known} ({})", engine.name())))
    }

    /// Where the partner's data are written and where its connector reads
    /// them (through a proxy, when asked), and the engine.
    async fn partner_database(
        &self,
        fed: &mut Federation,
        setup: &PartnerSetup,
    ) -> anyhow::Result<(String, String, Engine)> {
        let org = setup.partner.organisation();
        let (server, engine) = match &setup.database {
            Database::Sqlite => {
                // Absolute: a URL's first path segment would read as a host.
                let file = std::path::absolute(fed.dir.join(org).join(format!("{org}.db")))?;
                return Ok((
                    format!("sqlite://{}", file.display()),
                    // Read-only, but for a partner whose inbox takes referrals.
                    format!(
                        "sqlite://{org}.db?mode={}",
                        if setup.partner.takes_referrals() {
                            "rw"
                        } else {
                            "ro"
                        }
                    ),
                    Engine::Sqlite,
                ));
            }
            Database::Postgres(server) => (server, Engine::Postgres),
            Database::MySql(server) => (server, Engine::MySql),
        };
        let name = format!("{}_{org}", self.database_prefix);
        let url = databases::fresh_database(server, &name).await?;
        fed.databases.push((server.clone(), name));
        let Some(mode) = setup.database_proxy else {
            return Ok((url.clone(), url, engine));
        };
        let target = databases::address_of(&url)
            .with_context(|| format!("no host:port in {}", redact(&url)))?;
        let proxy = FaultProxy::start_in(target, mode).await?;
        let via = databases::with_address(&url, &proxy.address);
        fed.database_proxies.push((org.into(), proxy));
        Ok((url, via, engine))
    }
}

fn redact(url: &str) -> String {
    trama_connector::source::redact(url)
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    redact(url)
}

/// Issues a certificate of the federation (in `pki_dir`) for
/// `organisation` in `role`, for this machine's loopback names.
pub fn issue(pki_dir: &Path, organisation: &str, role: Role) -> anyhow::Result<()> {
    pki::issue(
        pki_dir,
        &IssueRequest {
            organisation: organisation.into(),
            role,
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            valid_days: 30,
            not_before_days_ago: 0,
        },
    )?;
    Ok(())
}

/// Recreates `dir` if the sandbox made it (or it is empty), and marks it.
fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by `trama demo`; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("removing the previous {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by trama demo; recreated on each run\n",
    )?;
    Ok(dir.to_path_buf())
}

/// A running federation. Its processes are killed if it is dropped;
/// [`Federation::stop`] stops them gracefully and [`Federation::teardown`]
/// also drops the databases made on servers.
#[derive(Debug)]
pub struct Federation {
    /// The gateway's address (empty without a gateway).
    pub gateway: String,
    /// Each connector's organisation and address.
    pub connectors: Vec<(String, String)>,
    /// The federation's directory.
    pub dir: PathBuf,
    exe: PathBuf,
    children: Vec<(String, Child)>,
    connector_files: Vec<(String, ConnectorFile)>,
    gateway_files: Vec<(String, GatewayFile)>,
    proxies: Vec<(String, FaultProxy)>,
    database_proxies: Vec<(String, FaultProxy)>,
    databases: Vec<(String, String)>,
}

impl Federation {
    fn empty(dir: PathBuf, exe: PathBuf) -> Federation {
        Federation {
            gateway: String::new(),
            connectors: Vec::new(),
            dir,
            exe,
            children: Vec::new(),
            connector_files: Vec::new(),
            gateway_files: Vec::new(),
            proxies: Vec::new(),
            database_proxies: Vec::new(),
            databases: Vec::new(),
        }
    }

    fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Stops every process: asks each to shut down (SIGTERM, so the
    /// gateway and the connectors seal their audit logs with a last signed
    /// checkpoint), and kills what has not stopped after a few seconds.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Like [`Federation::stop`], keeping the handle (for tests that look
    /// at what the processes left behind).
    pub async fn shut_down(&mut self) {
        for (_, child) in &self.children {
            process::terminate(child);
        }
        for (_, child) in &mut self.children {
            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }

    /// Stops every process and drops the databases made on servers.
    pub async fn teardown(mut self) {
        self.shut_down().await;
        self.drop_databases().await;
    }

    /// Drops the databases made on servers (after the processes stopped).
    pub async fn drop_databases(&self) {
        for (server, name) in &self.databases {
            if let Err(e) = databases::drop_database(server, name).await {
                tracing::warn!(database = %name, error = %e, "database not dropped");
            }
        }
    }

    /// Kills one process (by organisation, or `gateway`) at once (SIGKILL:
    /// no shutdown, no last checkpoint), as a crash would; returns whether
    /// it was running.
    pub async fn crash(&mut self, name: &str) -> bool {
        match self.children.iter_mut().find(|(n, _)| n == name) {
            Some((_, child)) => child.kill().await.is_ok(),
            None => false,
        }
    }

    /// The same as [`Federation::crash`].
    pub async fn kill(&mut self, name: &str) -> bool {
        self.crash(name).await
    }

    /// The process id of one process (by organisation, or `gateway`).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| c.id())
    }

    /// Every process's name and process id.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter_map(|(n, c)| c.id().map(|pid| (n.clone(), pid)))
            .collect()
    }

    /// The first process that has exited, if any.
    pub fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|(name, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| name.clone()))
    }

    /// Adds a process started beside the federation's, to be stopped with
    /// them.
    pub fn adopt(&mut self, name: &str, child: Child) {
        self.children.push((name.to_string(), child));
    }

    /// The fault proxy between the gateway and `organisation`'s connector,
    /// if the builder placed one.
    pub fn proxy(&self, organisation: &str) -> Option<&FaultProxy> {
        self.proxies
            .iter()
            .find(|(o, _)| o == organisation)
            .map(|(_, p)| p)
    }

    /// The fault proxy between `organisation`'s connector and its database
    /// server, if the builder placed one.
    pub fn database_proxy(&self, organisation: &str) -> Option<&FaultProxy> {
        self.database_proxies
            .iter()
            .find(|(o, _)| o == organisation)
            .map(|(_, p)| p)
    }

    /// The address of `organisation`'s connector.
    pub fn connector(&self, organisation: &str) -> Option<&str> {
        self.connectors
            .iter()
            .find(|(o, _)| o == organisation)
            .map(|(_, a)| a.as_str())
    }

    /// The URL `organisation`'s connector reads its database at.
    pub fn database_url(&self, organisation: &str) -> Option<&str> {
        self.connector_files
            .iter()
            .find(|(o, _)| o == organisation)
            .map(|(_, f)| f.database.as_str())
    }

    /// Certificate files of `organisation` in `role` (`client`,
    /// `connector`, `gateway`) from the federation's PKI.
    pub fn tls(&self, organisation: &str, role: &str) -> TlsFiles {
        let pki = self.dir.join("pki");
        TlsFiles {
            ca: pki.join("ca.pem"),
            cert: pki.join(format!("{organisation}-{role}.pem")),
            key: pki.join(format!("{organisation}-{role}-key.pem")),
            crl: None,
        }
    }

    /// A Federation client of the gateway presenting `files`.
    pub fn client_with(&self, files: &TlsFiles) -> anyhow::Result<FederationClient<Channel>> {
        self.client_at(&self.gateway, files)
    }

    /// A Federation client of the gateway at `address` (a replica)
    /// presenting `files`.
    pub fn client_at(
        &self,
        address: &str,
        files: &TlsFiles,
    ) -> anyhow::Result<FederationClient<Channel>> {
        let config = trama_tls::client::client_config(files)?;
        let channel = trama_tls::client::channel(
            address,
            config,
            ExpectedPeer {
                federation: FEDERATION.into(),
                organisation: None,
                role: Role::Gateway,
            },
            Duration::from_secs(5),
        )?;
        Ok(FederationClient::new(channel).max_decoding_message_size(64 << 20))
    }

    /// A Federation client of `organisation`'s client system.
    pub fn client(&self, organisation: &str) -> anyhow::Result<FederationClient<Channel>> {
        self.client_with(&self.tls(organisation, "client"))
    }

    /// What a process (by organisation, or `gateway`) has logged so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Replaces the gateway's policy; the gateway reloads it within
    /// seconds (or keeps the one in force if this one is broken).
    pub fn set_policy(&self, policy: &Policy) -> anyhow::Result<()> {
        let path = self.dir.join("policy.cedar");
        std::fs::write(&path, policy.as_str())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Starts another connector, `name`, from `file` (written to
    /// `<name>/connector.toml`; its relative paths are relative to that
    /// directory), stopped with the others; returns its address.
    pub async fn start_connector(
        &mut self,
        name: &str,
        file: ConnectorFile,
    ) -> anyhow::Result<String> {
        std::fs::create_dir_all(self.dir.join(name))?;
        file.write(&self.dir.join(name).join("connector.toml"))?;
        self.connector_files.push((name.into(), file));
        self.spawn_connector(name).await
    }

    /// Starts a console `name` for `organisation` (its client certificate)
    /// with `accounts`, calling the federation's gateway; its HTTPS
    /// certificate is issued by the federation CA for `localhost` and
    /// `127.0.0.1`. Returns its address (`https://` + it).
    pub async fn start_console(
        &mut self,
        name: &str,
        organisation: &str,
        accounts: Vec<ConsoleAccount>,
    ) -> anyhow::Result<String> {
        let file = self.console_file(name, organisation, accounts);
        self.start_console_file(file).await
    }

    /// A console file for `name` of `organisation` with `accounts`,
    /// calling the federation's gateway, on any free port: to change
    /// before [`Federation::start_console_file`].
    pub fn console_file(
        &self,
        name: &str,
        organisation: &str,
        accounts: Vec<ConsoleAccount>,
    ) -> ConsoleFile {
        ConsoleFile {
            federation: FEDERATION.into(),
            organisation: organisation.into(),
            gateway: self.gateway.clone(),
            name: name.into(),
            accounts,
            listen: "127.0.0.1:0".into(),
            extra: String::new(),
        }
    }

    /// Starts the console `file` describes (see
    /// [`Federation::start_console`]); returns its address.
    pub async fn start_console_file(&mut self, file: ConsoleFile) -> anyhow::Result<String> {
        let name = file.name.clone();
        let name = name.as_str();
        let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
        trama_tls::pki::issue_web(&self.dir.join("pki"), name, &hosts, 30)?;
        std::fs::write(
            self.dir.join(format!("{name}-accounts.toml")),
            file.accounts_toml().map_err(anyhow::Error::msg)?,
        )?;
        let config = self.dir.join(format!("{name}.toml"));
        std::fs::write(&config, file.toml())?;
        let (child, address) = process::spawn(
            &self.exe,
            name,
            &["console", "--config"],
            &config,
            &self.logs(),
        )
        .await?;
        self.children.push((name.into(), child));
        Ok(address)
    }

    /// Starts another gateway, `name`, as the federation's but asking
    /// `sources` and keeping its own audit log; returns its address.
    pub async fn start_gateway(
        &mut self,
        name: &str,
        sources: Vec<Source>,
    ) -> anyhow::Result<String> {
        let base = self
            .gateway_files
            .first()
            .map(|(_, f)| f.clone())
            .context("the federation has no gateway")?;
        let file = GatewayFile {
            listen: "127.0.0.1:0".into(),
            audit_database: format!("audit-{name}.db"),
            audit_replica: None,
            checkpoint_file: format!("audit-{name}-checkpoints.jsonl"),
            sources,
            ..base
        };
        self.spawn_gateway(name, file).await
    }

    /// Starts a replica of the federation's gateway, `name`: the same
    /// configuration (sources, keys, stores), its own address and its own
    /// chain of the shared audit log, named `name`. The gateway's audit log
    /// must be in PostgreSQL ([`FederationBuilder::audit_database`]).
    /// Returns its address.
    pub async fn start_replica(&mut self, name: &str) -> anyhow::Result<String> {
        let base = self
            .gateway_files
            .first()
            .map(|(_, f)| f.clone())
            .context("the federation has no gateway")?;
        if !base.audit_database.starts_with("postgres") {
            bail!(
                "replicas share a PostgreSQL audit database: set FederationBuilder::audit_database"
            );
        }
        let file = GatewayFile {
            listen: "127.0.0.1:0".into(),
            audit_replica: Some(name.into()),
            checkpoint_file: format!("audit-{name}-checkpoints.jsonl"),
            ..base
        };
        self.spawn_gateway(name, file).await
    }

    /// Starts `name` (an organisation's connector, or a gateway) again from
    /// its configuration, after it stopped or crashed. A connector comes
    /// back on the address it had, so the gateway finds it again by itself;
    /// a gateway may come back on another port (see
    /// [`Federation::gateway`]; the client profiles are rewritten).
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        self.restart_at(name).await.map(drop)
    }

    /// [`Federation::restart`], returning the address `name` listens on.
    pub async fn restart_at(&mut self, name: &str) -> anyhow::Result<String> {
        let Some(index) = self.children.iter().position(|(n, _)| n == name) else {
            bail!("no process named {name}");
        };
        let _ = self.children[index].1.kill().await;
        let (child, address) = if self.gateway_files.iter().any(|(n, _)| n == name) {
            self.run_gateway(name).await?
        } else {
            self.pin_connector(name)?;
            self.rerun_connector(name).await?
        };
        self.children[index].1 = child;
        if name == "gateway" {
            self.gateway.clone_from(&address);
            self.write_profiles()?;
        }
        Ok(address)
    }

    /// Rewrites `name`'s connector file to listen where it listened.
    fn pin_connector(&mut self, name: &str) -> anyhow::Result<()> {
        let old = self
            .connector(name)
            .context("unknown connector")?
            .to_string();
        let (_, file) = self
            .connector_files
            .iter_mut()
            .find(|(n, _)| n == name)
            .context("unknown connector")?;
        file.listen = old;
        file.write(&self.dir.join(name).join("connector.toml"))?;
        Ok(())
    }

    /// Runs `name`'s connector again, retrying while its pinned port
    /// lingers after a kill.
    async fn rerun_connector(&mut self, name: &str) -> anyhow::Result<(Child, String)> {
        let mut attempt = 0;
        loop {
            match self.run_connector(name).await {
                Ok(x) => return Ok(x),
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(error = %e, "restart retry");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the connector whose file is in `<name>/`, and keeps it.
    async fn spawn_connector(&mut self, name: &str) -> anyhow::Result<String> {
        let (child, address) = self.run_connector(name).await?;
        self.children.push((name.into(), child));
        self.connectors.push((name.into(), address.clone()));
        Ok(address)
    }

    async fn run_connector(&self, name: &str) -> anyhow::Result<(Child, String)> {
        let config = self.dir.join(name).join("connector.toml");
        process::spawn(
            &self.exe,
            name,
            &["connector", "--config"],
            &config,
            &self.logs(),
        )
        .await
    }

    /// Writes gateway `name`'s file, starts it, and keeps it.
    async fn spawn_gateway(&mut self, name: &str, file: GatewayFile) -> anyhow::Result<String> {
        file.write(&self.dir.join(format!("{name}.toml")))?;
        self.gateway_files.push((name.into(), file));
        let (child, address) = self.run_gateway(name).await?;
        self.children.push((name.into(), child));
        Ok(address)
    }

    async fn run_gateway(&self, name: &str) -> anyhow::Result<(Child, String)> {
        let config = self.dir.join(format!("{name}.toml"));
        process::spawn(
            &self.exe,
            name,
            &["gateway", "--config"],
            &config,
            &self.logs(),
        )
        .await
    }

    /// Writes the client profiles for the gateway's current address.
    fn write_profiles(&self) -> anyhow::Result<()> {
        for client in CLIENTS {
            std::fs::write(
                self.dir.join(format!("client-{}.toml", client.profile)),
                client.toml(FEDERATION, &self.gateway),
            )?;
        }
        Ok(())
    }
}

/// The places the demo federation declares for its statistics: the
/// quarters of the city and the municipality, so that every table lists
/// them all whoever lives there.
fn declared_places() -> Vec<(String, String)> {
    let list = |values: &[&str]| {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("[{}]", quoted.join(", "))
    };
    vec![
        ("districts".into(), list(seed::population::DISTRICTS)),
        ("municipalities".into(), list(&["D150"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_leaves_the_policy_by_its_id() {
        let policy = Policy::demo();
        let without = policy
            .clone()
            .without("caritas-verifica-presa-in-carico")
            .unwrap();
        assert!(
            !without
                .as_str()
                .contains("caritas-verifica-presa-in-carico")
        );
        assert!(without.as_str().contains("@id(\"caritas-find\")"));
        assert!(without.as_str().len() < policy.as_str().len());
        assert!(policy.without("no-such-rule").is_err());
    }
}
