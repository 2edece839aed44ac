//! `trama demo`: a whole federation on this machine in one command. It
//! creates a development PKI, four partner databases (SQLite), each in its
//! own legacy schema filled with synthetic people, starts four connectors
//! and a gateway as separate processes on loopback, and walks through the
//! questions a social worker asks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use trama_connector::source::redact;
use trama_proto::v1;
use trama_tls::Role;
use trama_tls::pki::{self, IssueRequest};

use crate::cli::{DemoArgs, status_error};
use crate::client::Profile;
use crate::render;
use crate::seed::partners::Selection;
use crate::seed::sink::{Engine, Sink};
use crate::seed::{self, Partner};

/// Marks a directory as made by `trama demo`, so it may be recreated.
const MARKER: &str = ".trama-demo";
/// The demo federation's name.
pub const FEDERATION: &str = "demo";
/// The line a server prints on standard output once it serves.
pub const READY: &str = "trama: ready on ";

/// The demo federation's access policy.
pub const DEMO_POLICY: &str = include_str!("../deploy/policy.example.cedar");

/// A client profile the demo writes (`client-<profile>.toml`).
#[derive(Debug, Clone, Copy)]
pub struct DemoClient {
    /// The profile's name.
    pub profile: &'static str,
    /// Who it stands for, in words.
    pub who: &'static str,
    /// The client organisation (its certificate).
    pub organisation: &'static str,
    /// The operator's id.
    pub operator: &'static str,
    /// The operator's role.
    pub role: &'static str,
    /// The default purpose.
    pub purpose: &'static str,
    /// The default case id.
    pub case_id: Option<&'static str>,
}

/// The demo's client profiles.
pub const CLIENTS: [DemoClient; 4] = [
    DemoClient {
        profile: "comune",
        who: "the comune's social services app",
        organisation: "comune",
        operator: "op-comune-01",
        role: "assistente_sociale",
        purpose: "presa_in_carico",
        case_id: Some("CS-DEMO-0001"),
    },
    DemoClient {
        profile: "caritas",
        who: "the Caritas listening centre's desk",
        organisation: "caritas",
        operator: "op-caritas-01",
        role: "operatore_centro_ascolto",
        purpose: "verifica_presa_in_carico",
        case_id: None,
    },
    DemoClient {
        profile: "planning",
        who: "the comune's planning office (statistics)",
        organisation: "comune",
        operator: "op-piano-01",
        role: "ufficio_di_piano",
        purpose: "programmazione",
        case_id: None,
    },
    DemoClient {
        profile: "dpo",
        who: "the data-protection officer",
        organisation: "comune",
        operator: "dpo-01",
        role: "audit",
        purpose: "controllo_accessi",
        case_id: None,
    },
];

/// Each demo partner's export policy (`[[export]]` rules of its
/// `connector.toml`).
pub fn export_rules(partner: Partner) -> &'static str {
    match partner {
        Partner::Comune => {
            "[[export]]\n\
             clients = [\"comune\"]\n\
             purposes = [\"presa_in_carico\", \"valutazione_multidimensionale\", \"tutela_minori\"]\n\
             sections = [\"*\"]\n\
             require_case_id = true\n\n\
             [[export]]\n\
             clients = [\"comune\"]\n\
             purposes = [\"orientamento\"]\n\
             sections = [\"housing\", \"needs\", \"support_network\", \"interventions\", \"case_membership\"]\n\n\
             # Other services may learn whether the person is followed, and by whom.\n\
             [[export]]\n\
             clients = [\"caritas\"]\n\
             purposes = [\"verifica_presa_in_carico\"]\n\
             sections = [\"case_membership\"]\n"
        }
        Partner::Asl => {
            "# Health data leave only for the comune's case work.\n\
             [[export]]\n\
             clients = [\"comune\"]\n\
             purposes = [\"presa_in_carico\", \"valutazione_multidimensionale\"]\n\
             roles = [\"assistente_sociale\"]\n\
             sections = [\"health\", \"referrals\"]\n\
             require_case_id = true\n"
        }
        Partner::Caritas => {
            "[[export]]\n\
             clients = [\"comune\"]\n\
             purposes = [\"presa_in_carico\"]\n\
             sections = [\"needs\", \"support_network\", \"interventions\"]\n\
             require_case_id = true\n\n\
             # The centre's own desk finds its own people.\n\
             [[export]]\n\
             clients = [\"caritas\"]\n\
             purposes = [\"verifica_presa_in_carico\"]\n\
             sections = [\"case_membership\"]\n"
        }
        Partner::Caf => {
            "# ISEE declarations, for the comune's case work only.\n\
             [[export]]\n\
             clients = [\"comune\"]\n\
             purposes = [\"presa_in_carico\"]\n\
             sections = [\"socio_economic\"]\n\
             require_case_id = true\n"
        }
    }
}

/// Issues a certificate of the demo federation (in `pki_dir`) for
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

/// A demo connector's `connector.toml` (in a directory beside `pki/`):
/// its organisation, database URL, mapping file and export rules.
pub fn connector_toml(organisation: &str, database: &str, mapping: &str, export: &str) -> String {
    format!(
        "# Connector of `{organisation}` in the demo federation.\n\
         federation = \"{FEDERATION}\"\n\
         organisation = \"{organisation}\"\n\
         listen = \"127.0.0.1:0\"\n\
         database = \"{database}\"\n\
         mapping = \"{mapping}\"\n\n\
         [tls]\n\
         ca = \"../pki/ca.pem\"\n\
         cert = \"../pki/{organisation}-connector.pem\"\n\
         key = \"../pki/{organisation}-connector-key.pem\"\n\
         crl = \"../pki/crl.pem\"\n\n\
         # What {organisation} releases, to whom, for which purposes: the partner decides,\n\
         # whatever the gateway allowed. Nothing else is released.\n{export}"
    )
}

/// The running federation's processes; dropping it stops them.
#[derive(Debug)]
pub struct Running {
    children: Vec<(String, Child)>,
    /// The gateway's address.
    pub gateway: String,
    /// Each connector's organisation and address.
    pub connectors: Vec<(String, String)>,
    /// The demo directory.
    pub dir: PathBuf,
}

impl Running {
    /// Stops every process: asks each to shut down (SIGTERM, so the
    /// gateway and the connectors seal their audit logs with a last signed
    /// checkpoint), and kills what has not stopped after a few seconds.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Like [`Running::stop`], keeping the handle (for tests that look at
    /// what the processes left behind).
    pub async fn shut_down(&mut self) {
        for (_, child) in &mut self.children {
            terminate(child);
        }
        for (_, child) in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    /// Stops one process (by organisation, or `gateway`); returns whether
    /// it was running.
    pub async fn kill(&mut self, name: &str) -> bool {
        match self.children.iter_mut().find(|(n, _)| n == name) {
            Some((_, child)) => child.kill().await.is_ok(),
            None => false,
        }
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

    /// Kills one process at once (SIGKILL: no shutdown, no last
    /// checkpoint), as a crash would.
    pub async fn crash(&mut self, name: &str) -> bool {
        self.kill(name).await
    }

    /// Starts `name` (an organisation's connector, or `gateway`) again from
    /// its configuration, after it stopped or crashed. A connector comes
    /// back on the address it had, so the gateway finds it again by
    /// itself; the gateway may come back on another port (see
    /// [`Running::gateway`]).
    pub async fn restart(&mut self, name: &str, exe: &Path) -> anyhow::Result<()> {
        let Some(index) = self.children.iter().position(|(n, _)| n == name) else {
            bail!("no process named {name}");
        };
        let _ = self.children[index].1.kill().await;
        let logs = self.dir.join("logs");
        let (child, address) = if name == "gateway" {
            spawn(
                exe,
                "gateway",
                &["gateway", "--config"],
                &self.dir.join("gateway.toml"),
                &logs,
            )
            .await?
        } else {
            let config = self.dir.join(name).join("connector.toml");
            let old = self
                .connectors
                .iter()
                .find(|(o, _)| o == name)
                .map(|(_, a)| a.clone())
                .context("unknown connector")?;
            let text = std::fs::read_to_string(&config)?;
            let pinned: String = text
                .lines()
                .map(|l| {
                    if l.starts_with("listen = ") {
                        format!("listen = \"{old}\"")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(&config, pinned + "\n")?;
            let mut attempt = 0;
            loop {
                // The port may linger a moment after a kill.
                match spawn(exe, name, &["connector", "--config"], &config, &logs).await {
                    Ok(x) => break x,
                    Err(e) if attempt < 20 => {
                        attempt += 1;
                        tracing::debug!(error = %e, "restart retry");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if name == "gateway" {
            self.gateway = address;
        }
        self.children[index].1 = child;
        Ok(())
    }

    /// Adds a process started beside the demo's (see [`spawn`]), to be
    /// stopped with them.
    pub fn adopt(&mut self, name: &str, child: Child) {
        self.children.push((name.to_string(), child));
    }

    /// The first process that has exited, if any.
    pub fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|(name, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| name.clone()))
    }
}

/// Sends SIGTERM to a child process (`kill -TERM`; no unsafe code here).
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    println!("Trama demo: a local federation of four partners.\n");
    let exe = std::env::current_exe().context("locating the trama binary")?;
    let running = start(&args, &exe).await?;
    let tax_code = match walkthrough(&running).await {
        Ok(code) => code,
        Err(e) => {
            running.stop().await;
            return Err(e);
        }
    };
    print_try(&running.dir, &tax_code);
    if args.once {
        running.stop().await;
        return Ok(());
    }
    println!("\nThe federation keeps serving; press Ctrl-C to stop it.");
    let mut running = running;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Some(name) = running.exited() {
                    eprintln!("the {name} process stopped; see {}/logs/{name}.log", running.dir.display());
                    break;
                }
            }
        }
    }
    running.stop().await;
    println!("stopped.");
    Ok(())
}

/// Prepares everything and starts the processes, running `exe` (the
/// `trama` binary) for each server.
pub async fn start(args: &DemoArgs, exe: &Path) -> anyhow::Result<Running> {
    // Every partner knows everyone for benchmarks; overlapping shares
    // otherwise.
    let selection = if args.everyone {
        Selection::Everyone
    } else {
        Selection::Reach
    };
    let dir = prepare_dir(&args.dir)?;
    let pki_dir = dir.join("pki");
    pki::init(&pki_dir, FEDERATION)?;
    issue(&pki_dir, "gateway", Role::Gateway)?;
    for p in Partner::ALL {
        issue(&pki_dir, p.organisation(), Role::Connector)?;
    }
    issue(&pki_dir, "comune", Role::Client)?;
    issue(&pki_dir, "caritas", Role::Client)?;
    println!(
        "1. PKI      federation CA and certificates in {}",
        pki_dir.display()
    );

    let population = seed::generate(args.seed, args.subjects);
    let mut counts = Vec::new();
    for p in Partner::ALL {
        let org = p.organisation();
        let pdir = dir.join(org);
        std::fs::create_dir_all(&pdir)?;
        // Where the partner's database lives: PostgreSQL for the comune and
        // MariaDB for the asl when asked, SQLite otherwise.
        let (seed_url, connector_url, engine) = match (p, &args.postgres, &args.mysql) {
            (Partner::Comune, Some(server), _) => {
                let url =
                    fresh_database(server, &format!("{}_{org}", args.database_prefix)).await?;
                (url.clone(), url, Engine::Postgres)
            }
            (Partner::Asl, _, Some(server)) => {
                let url =
                    fresh_database(server, &format!("{}_{org}", args.database_prefix)).await?;
                (url.clone(), url, Engine::MySql)
            }
            _ => {
                let file = pdir.join(format!("{org}.db"));
                (
                    format!("sqlite://{}", file.display()),
                    format!("sqlite://{org}.db?mode=ro"),
                    Engine::Sqlite,
                )
            }
        };
        let mut sink = Sink::connect(&seed_url)
            .await
            .with_context(|| format!("opening the {org} database {}", redact(&seed_url)))?;
        let n = seed::partners::seed(p, &mut sink, engine, &population, selection, |_| {})
            .await
            .with_context(|| format!("seeding the {org} database {}", redact(&seed_url)))?;
        sink.close().await;
        counts.push(format!("{org} {n} ({})", engine.name()));
        std::fs::write(pdir.join("mapping.toml"), p.mapping())?;
        if let Some(schema) = p.schema(engine) {
            std::fs::write(pdir.join(format!("schema.{}.sql", engine.name())), schema)?;
        }
        std::fs::write(
            pdir.join("connector.toml"),
            connector_toml(org, &connector_url, "mapping.toml", export_rules(p)),
        )?;
    }
    println!(
        "2. Data     {} synthetic people; partners know: {}",
        population.people.len(),
        counts.join(", ")
    );

    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut children: Vec<(String, Child)> = Vec::new();
    let mut connectors = Vec::new();
    let mut sources = String::new();
    for p in Partner::ALL {
        let org = p.organisation();
        let config = dir.join(org).join("connector.toml");
        let (child, address) =
            match spawn(exe, org, &["connector", "--config"], &config, &logs).await {
                Ok(x) => x,
                Err(e) => {
                    for (_, mut c) in children {
                        let _ = c.kill().await;
                    }
                    return Err(e);
                }
            };
        children.push((org.to_string(), child));
        connectors.push((org.to_string(), address.clone()));
        sources.push_str(&format!(
            "\n[[sources]]\norganisation = \"{org}\"\naddress = \"{address}\"\ntimeout_ms = 2000\n"
        ));
    }
    let gateway_config = dir.join("gateway.toml");
    std::fs::write(
        &gateway_config,
        format!(
            "# The demo federation's gateway.\n\
             federation = \"{FEDERATION}\"\n\
             listen = \"127.0.0.1:{port}\"\n\n\
             # Who may read what, for which purpose (Cedar; reloaded on change).\n\
             policy = \"policy.cedar\"\n\n\
             [tls]\n\
             ca = \"pki/ca.pem\"\n\
             cert = \"pki/gateway-gateway.pem\"\n\
             key = \"pki/gateway-gateway-key.pem\"\n\
             crl = \"pki/crl.pem\"\n\n\
             [audit]\n\
             database = \"audit.db\"\n\
             checkpoint_file = \"audit-checkpoints.jsonl\"\n\
             checkpoint_interval_s = 10\n\n\
             [metrics]\n\
             listen = \"127.0.0.1:0\"\n{sources}",
            port = args.port
        ),
    )?;
    std::fs::write(dir.join("policy.cedar"), DEMO_POLICY)?;
    let (child, gateway) = match spawn(
        exe,
        "gateway",
        &["gateway", "--config"],
        &gateway_config,
        &logs,
    )
    .await
    {
        Ok(x) => x,
        Err(e) => {
            for (_, mut c) in children {
                let _ = c.kill().await;
            }
            return Err(e);
        }
    };
    children.push(("gateway".into(), child));
    println!(
        "3. Serving  4 connectors and the gateway on {gateway} (mutual TLS; logs in {})",
        logs.display()
    );

    for client in CLIENTS {
        let case = match client.case_id {
            Some(c) => format!("case_id = \"{c}\"\n"),
            None => String::new(),
        };
        std::fs::write(
            dir.join(format!("client-{}.toml", client.profile)),
            format!(
                "# How `trama query` reaches the gateway as {}.\n\
                 gateway = \"{gateway}\"\n\
                 federation = \"{FEDERATION}\"\n\
                 purpose = \"{}\"\n{case}\n\
                 [operator]\nid = \"{}\"\nrole = \"{}\"\n\n\
                 [tls]\n\
                 ca = \"pki/ca.pem\"\n\
                 cert = \"pki/{org}-client.pem\"\n\
                 key = \"pki/{org}-client-key.pem\"\n",
                client.who,
                client.purpose,
                client.operator,
                client.role,
                org = client.organisation,
            ),
        )?;
    }
    Ok(Running {
        children,
        gateway,
        connectors,
        dir,
    })
}

/// Creates (or recreates) database `name` on the server of `server_url`,
/// and returns the URL of the new database.
pub async fn fresh_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("`{name}` is not a usable database name (letters, digits and _)");
    }
    let mut admin = Sink::connect(server_url)
        .await
        .with_context(|| format!("connecting to {}", redact(server_url)))?;
    match Engine::of(server_url) {
        Some(Engine::Postgres) => {
            admin
                .statement(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
            admin.statement(format!("CREATE DATABASE {name}")).await?;
        }
        Some(Engine::MySql) => {
            admin
                .statement(format!("DROP DATABASE IF EXISTS {name}"))
                .await?;
            admin
                .statement(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                .await?;
        }
        _ => bail!(
            "{} is not a PostgreSQL or MySQL/MariaDB URL",
            redact(server_url)
        ),
    }
    admin.close().await;
    Ok(with_database(server_url, name))
}

/// The same server URL naming database `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}/{name}{query}")
}

/// Drops databases this demo made on the servers (used by tests to clean
/// up).
pub async fn drop_databases(args: &DemoArgs) -> anyhow::Result<()> {
    for (server, org) in [(&args.postgres, "comune"), (&args.mysql, "asl")] {
        if let Some(server) = server {
            drop_database(server, &format!("{}_{org}", args.database_prefix)).await?;
        }
    }
    Ok(())
}

/// Drops database `name` on the server of `server_url`, if it exists.
pub async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("`{name}` is not a usable database name (letters, digits and _)");
    }
    let mut admin = Sink::connect(server_url).await?;
    let force = if Engine::of(server_url) == Some(Engine::Postgres) {
        " WITH (FORCE)"
    } else {
        ""
    };
    admin
        .statement(format!("DROP DATABASE IF EXISTS {name}{force}"))
        .await?;
    admin.close().await;
    Ok(())
}

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

/// Starts `trama <args> <config>` with its log in `logs/<name>.log`, and
/// waits for its ready line; returns the process and the address it serves.
pub async fn spawn(
    exe: &Path,
    name: &str,
    args: &[&str],
    config: &Path,
    logs: &Path,
) -> anyhow::Result<(Child, String)> {
    // Appended to, so a restarted process keeps its earlier log.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("{name}.log")))?;
    let mut child = Command::new(exe)
        .args(args)
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting the {name} process"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(address) = line.strip_prefix(READY) {
                return Some(address.trim().to_string());
            }
        }
        None
    })
    .await;
    match ready {
        Ok(Some(address)) => {
            // Keep draining stdout so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((child, address))
        }
        _ => {
            let _ = child.kill().await;
            let log = std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "the {name} process did not start; last lines of {}:\n{}",
                logs.join(format!("{name}.log")).display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        }
    }
}

/// Runs the walkthrough as the comune's client; returns the tax code of the
/// person it followed.
async fn walkthrough(running: &Running) -> anyhow::Result<String> {
    let profile = Profile::load(&running.dir.join("client-comune.toml"))?;
    let mut client = profile.connect()?;
    let context = v1::RequestContext {
        purpose: "presa_in_carico".into(),
        case_id: "CS-DEMO-0001".into(),
        operator: Some(v1::Operator {
            id: "op-comune-01".into(),
            role: "assistente_sociale".into(),
        }),
        legal_basis: String::new(),
    };

    let sources = client
        .list_sources(v1::ListSourcesRequest {})
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "\n── The federation (ListSources) ──\n{}",
        render::sources(&sources)
    );

    let (family, given, (y, m, d), _, _) = seed::population::FEATURED;
    let misspelt = "Dangleo";
    println!(
        "── A social worker of the comune looks for \"{misspelt} {given}\", born {y}-{m:02}-{d:02} (FindSubject; the surname is misspelt, the real one is {family}) ──"
    );
    let found = client
        .find_subject(v1::FindSubjectRequest {
            context: Some(context.clone()),
            query: Some(featured_query(misspelt)),
            max_candidates: 5,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::find(&found));
    let Some(best) = found.groups.first() else {
        bail!("the walkthrough's person was not found; the demo data are inconsistent");
    };
    let sources_found = best.candidates.len();
    if sources_found < 3 {
        bail!("the walkthrough's person was found at {sources_found} sources, expected at least 3");
    }

    // Name the person by tax code, and by local id where a partner has no
    // tax code for them (the listening centre).
    let local_ids: Vec<v1::LocalId> = best
        .candidates
        .iter()
        .filter_map(|c| c.identity.as_ref())
        .filter(|i| i.tax_code.is_empty())
        .filter_map(|i| i.local_id.clone())
        .collect();
    let shown: Vec<String> = local_ids
        .iter()
        .map(|l| format!("{}:{}", l.organisation, l.id))
        .collect();
    println!(
        "── The merged record of group 1 (GetRecord by tax code {}{}, all sections) ──",
        best.tax_code,
        if shown.is_empty() {
            String::new()
        } else {
            format!(" and local id {}", shown.join(", "))
        }
    );
    let record = client
        .get_record(v1::GetRecordRequest {
            context: Some(context),
            subject: Some(v1::SubjectKey {
                tax_code: best.tax_code.clone(),
                local_ids,
            }),
            sections: trama_proto::sections::ALL
                .iter()
                .map(|s| *s as i32)
                .collect(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::record(&record));
    let partners = record.record.as_ref().map_or(0, |r| r.identities.len());
    if partners < 3 {
        bail!("the merged record holds {partners} partners, expected at least 3");
    }
    caritas_view(running, &best.tax_code).await?;
    dpo_view(running, &best.tax_code).await?;
    Ok(best.tax_code.clone())
}

/// A search for the featured person under `family_name`, with their given
/// name and birth date.
fn featured_query(family_name: &str) -> v1::SubjectQuery {
    let (_, given, (y, m, d), _, _) = seed::population::FEATURED;
    v1::SubjectQuery {
        family_name: family_name.into(),
        given_name: given.into(),
        birth_date: Some(v1::Date {
            year: y,
            month: i32::from(m),
            day: i32::from(d),
        }),
        ..Default::default()
    }
}

/// The same person seen from the Caritas listening centre: only whether
/// the person is followed, and by whom; health data refused.
async fn caritas_view(running: &Running, tax_code: &str) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-caritas.toml"))?;
    let mut client = profile.connect()?;
    let context = v1::RequestContext {
        purpose: "verifica_presa_in_carico".into(),
        case_id: String::new(),
        operator: Some(v1::Operator {
            id: "op-caritas-01".into(),
            role: "operatore_centro_ascolto".into(),
        }),
        legal_basis: String::new(),
    };
    let (_, given, (y, m, d), _, _) = seed::population::FEATURED;
    println!(
        "── The Caritas listening centre asks whether \"Dangelo {given}\", born {y}-{m:02}-{d:02}, is already followed (purpose verifica_presa_in_carico) ──"
    );
    let found = client
        .find_subject(v1::FindSubjectRequest {
            context: Some(context.clone()),
            query: Some(featured_query("Dangelo")),
            max_candidates: 3,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::outcomes(&found.outcomes, found.partial));
    let record = client
        .get_record(v1::GetRecordRequest {
            context: Some(context.clone()),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            sections: vec![v1::Section::CaseMembership as i32],
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let followed: Vec<String> = record
        .record
        .as_ref()
        .and_then(|r| r.sections.as_ref())
        .map(|s| {
            s.case_memberships
                .iter()
                .map(|c| {
                    format!(
                        "{} · {} · case manager {}",
                        c.organisation, c.office, c.case_manager
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if followed.is_empty() {
        println!("Not followed by any service.");
    } else {
        for f in &followed {
            println!("Followed by: {f}");
        }
    }
    println!("{}", render::outcomes(&record.outcomes, record.partial));
    println!("── The same desk asks for the health section: refused by the policy ──");
    match client
        .get_record(v1::GetRecordRequest {
            context: Some(context),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            sections: vec![v1::Section::Health as i32],
        })
        .await
    {
        Ok(_) => {
            bail!("the gateway released health data to the Caritas desk; the demo policy is broken")
        }
        Err(status) => println!("{:?}: {}\n", status.code(), status.message()),
    }
    Ok(())
}

/// The data-protection officer reads the person's access log.
async fn dpo_view(running: &Running, tax_code: &str) -> anyhow::Result<()> {
    let profile = Profile::load(&running.dir.join("client-dpo.toml"))?;
    let mut client = profile.connect()?;
    println!("── The DPO reads who accessed this person's data (AccessLog, role audit) ──");
    let log = client
        .access_log(v1::AccessLogRequest {
            context: Some(v1::RequestContext {
                purpose: "controllo_accessi".into(),
                case_id: String::new(),
                operator: Some(v1::Operator {
                    id: "dpo-01".into(),
                    role: "audit".into(),
                }),
                legal_basis: String::new(),
            }),
            subject: Some(v1::SubjectKey {
                tax_code: tax_code.into(),
                local_ids: Vec::new(),
            }),
            limit: 20,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    println!("{}", render::access_log(&log));
    let by = |org: &str| log.entries.iter().any(|e| e.organisation == org);
    if !by("comune") || !by("caritas") {
        bail!("the access log does not list both the comune's and the Caritas desk's accesses");
    }
    Ok(())
}

fn print_try(dir: &Path, tax_code: &str) {
    let d = dir.display();
    let (_, given, (y, m, dd), _, _) = seed::population::FEATURED;
    println!("── Try it yourself ──");
    println!("  trama query --profile {d}/client-comune.toml sources");
    println!(
        "  trama query --profile {d}/client-comune.toml find --family-name dangelo --given-name {given} --birth-date {y}-{m:02}-{dd:02}"
    );
    println!(
        "  trama query --profile {d}/client-comune.toml record --tax-code {tax_code} --sections housing,needs,interventions"
    );
    println!(
        "  trama query --profile {d}/client-comune.toml --json record --tax-code {tax_code} --sections socio_economic"
    );
    println!(
        "  trama query --profile {d}/client-caritas.toml find --tax-code RSSMRA85T10A562X   (a malformed tax code is refused)"
    );
    println!("  trama query --profile {d}/client-dpo.toml access-log --tax-code {tax_code}");
    println!(
        "  trama query --profile {d}/client-caritas.toml record --tax-code {tax_code} --sections health   (refused: PERMISSION_DENIED)"
    );
    println!("  trama audit verify --gateway {d}/gateway.toml");
    println!("(with cargo: cargo run --release -- query ...)");
}
