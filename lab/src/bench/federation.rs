//! `trama bench federation`: the gateway against its baselines, measured in
//! the same run on the same machine. It starts a federation of five
//! connectors in which every partner knows every one of `--subjects`
//! people, and then loads, one after another:
//!
//! - (a) `GetRecord` through the gateway (five sources, merged, audited);
//! - (b) the same fetch sent directly to the slowest connector (one hop);
//! - (a1) `GetRecord` through a gateway whose one source is that connector
//!   (the gateway as one hop, to set against nginx's);
//! - (c) the same fetch to that connector through nginx (`grpc_pass`, TLS on
//!   both sides), the cost of a mature proxy hop;
//! - (d) a naive client asking the five connectors one after another;
//! - (s) the bare fan-out skeleton ([`crate::bench::skeleton`]): the same
//!   `GetRecord` to a server that only asks four echo servers and puts
//!   their answers side by side, the physical limit of the design here;
//!
//! each at one call in flight (latency) and at `--concurrency` (throughput).
//! Then the same `GetRecord` through a second gateway that knows
//! `--scale-sources` sources (the five partners and sources that do not
//! know the people asked about), with the locator cache's hit ratio, and
//! the gateway's memory with `--in-flight` calls open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tonic::transport::Channel;
use trama_proto::v1::{self, connector_client::ConnectorClient};
use trama_tls::client::ExpectedPeer;
use trama_tls::{Role, TlsFiles};

use trama_client::Profile;
use trama_client::render::Table;

use crate::bench::load::{self as bench_load, CALL_DEADLINE, Report, Shape};
use crate::bench::skeleton;
use crate::sandbox::{self, ConnectorFile, FEDERATION, Federation, FederationBuilder, Source};
use crate::seed::partners::Selection;
use crate::seed::sink::{Engine, Sink};
use crate::seed::{self, Partner};

/// `trama bench federation` arguments.
#[derive(Debug, clap::Args)]
pub struct FederationArgs {
    /// Directory for the federation's PKI, databases, configurations and logs (recreated).
    #[arg(long, default_value = "bench-data")]
    pub dir: PathBuf,
    /// People every one of the five partners knows.
    #[arg(long, default_value_t = 100_000)]
    pub subjects: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Sections asked, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    pub sections: String,
    /// Calls in flight in the throughput runs.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Measured seconds of each run.
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
    /// Seconds of load before each run is measured.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Sources of the second gateway (the five partners and sources that
    /// do not know the people asked about); 0 skips the scale runs.
    #[arg(long, default_value_t = 32)]
    pub scale_sources: usize,
    /// People the scale runs ask about (a case load), drawn from the
    /// population; each is found once (FindSubject) before the records are
    /// read, and the locator cache remembers who holds them.
    #[arg(long, default_value_t = 2000)]
    pub case_load: usize,
    /// Calls held open for the memory run; 0 skips it.
    #[arg(long, default_value_t = 1000)]
    pub in_flight: usize,
    /// The nginx binary for the proxy baseline; the run is skipped, saying
    /// so, when it is not found.
    #[arg(long, default_value = "nginx")]
    pub nginx: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write the results as a Markdown table to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

impl FederationArgs {
    /// A measured run at `in_flight` calls in flight.
    fn shape(&self, in_flight: usize) -> Shape {
        Shape::closed(in_flight, self.duration, self.warmup)
    }
}

/// A connector as the bench reaches it directly: its organisation, address
/// and an mTLS client presenting the gateway's certificate (the only role
/// connectors answer).
#[derive(Clone)]
struct Direct {
    organisation: String,
    address: String,
    client: ConnectorClient<Channel>,
}

/// One measured run.
struct Run {
    name: String,
    what: String,
    in_flight: usize,
    report: Report,
}

/// Runs the benchmark and prints (and writes) the table.
pub async fn run(args: FederationArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the trama binary")?;
    let sections = Arc::new(trama_client::parse_sections(&args.sections)?);
    let started = Instant::now();
    println!(
        "trama bench federation: 4 partners x {} people, every partner knowing everyone\n",
        args.subjects
    );
    // The load reads random people under the comune profile's one case:
    // the gateway takes the comune's case ids as stated, so that what is
    // measured is the gateway's fan-out and merge, as in earlier runs.
    let mut running = FederationBuilder::new(&args.dir)
        .exe(&exe)
        .subjects(args.subjects)
        .seed(args.seed)
        .everyone(true)
        .cases_taken_as_stated(&["comune", "asl"])
        .start()
        .await?;
    // Ctrl-C or SIGTERM stop the federation's processes with the bench.
    let result = tokio::select! {
        result = measure(&args, &mut running, sections) => result,
        () = crate::signal::stop_requested() => Err(anyhow::anyhow!("stopped before the end")),
    };
    running.stop().await;
    let runs = result?;
    let (markdown, json) = summarise(&args, &runs);
    println!("\n{markdown}");
    println!("(whole run: {:.0} s)", started.elapsed().as_secs_f64());
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The results as a Markdown table with the ratios the targets speak of,
/// and as JSON.
fn summarise(args: &FederationArgs, runs: &[Run]) -> (String, serde_json::Value) {
    use std::fmt::Write;
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let mut md = String::new();
    let _ = writeln!(
        md,
        "`trama {command}`, {}",
        time::OffsetDateTime::now_utc().date()
    );
    let _ = writeln!(md, "machine: {}\n", crate::bench::machine());
    let mut t = Table::new(&[
        "run",
        "what",
        "in flight",
        "answered",
        "errors",
        "calls/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
    ]);
    for r in runs {
        t.row(vec![
            r.name.clone(),
            r.what.clone(),
            r.in_flight.to_string(),
            r.report.answered.to_string(),
            r.report.errors_text(),
            format!("{:.0}", r.report.throughput()),
            format!("{:.2}", r.report.ms(0.5)),
            format!("{:.2}", r.report.ms(0.9)),
            format!("{:.2}", r.report.ms(0.99)),
            format!("{:.2}", r.report.ms(0.999)),
        ]);
    }
    md.push_str(&t.markdown());
    let find = |name: &str, in_flight: usize| {
        runs.iter()
            .find(|r| r.name == name && r.in_flight == in_flight)
            .map(|r| &r.report)
    };
    let mut ratios = Vec::new();
    for in_flight in [1, args.concurrency] {
        if let (Some(a), Some(b)) = (find("a", in_flight), find("b", in_flight)) {
            let added = a.ms(0.5) - b.ms(0.5);
            let mut line = format!(
                "- {in_flight} in flight: the gateway adds {added:.2} ms at p50 over a direct call to the slowest connector"
            );
            if let Some(c) = find("c", in_flight) {
                let hop = c.ms(0.5) - b.ms(0.5);
                let _ = write!(line, "; the nginx hop adds {hop:.2} ms");
                if hop > 0.0 {
                    let _ = write!(line, " ({:.2}x)", added / hop);
                }
                ratios.push(serde_json::json!({"in_flight": in_flight, "gateway_added_p50_ms": added, "nginx_added_p50_ms": hop}));
            }
            if let Some(d) = find("d", in_flight) {
                let _ = write!(
                    line,
                    "; against the naive client: p50 {:.2}x, throughput {:.2}x",
                    a.ms(0.5) / d.ms(0.5).max(1e-9),
                    a.throughput() / d.throughput().max(1e-9)
                );
            }
            if let (Some(a1), Some(c)) = (find("a1", in_flight), find("c", in_flight)) {
                let _ = write!(
                    line,
                    "; as one hop (a gateway with the slowest connector as its one source) the gateway adds {:.2} ms against nginx's {:.2} ms",
                    a1.ms(0.5) - b.ms(0.5),
                    c.ms(0.5) - b.ms(0.5)
                );
            }
            ratios.push(serde_json::json!({"in_flight": in_flight, "line": line.clone()}));
            let _ = writeln!(md, "{line}");
        }
    }
    if let Some(a) = find("a", args.concurrency) {
        let _ = writeln!(
            md,
            "- throughput through the gateway with 4 sources: {:.0} GetRecord/s (target 5,000)",
            a.throughput()
        );
        if let Some(s) = find("s", args.concurrency) {
            let ratio = a.throughput() / s.throughput().max(1e-9);
            let _ = writeln!(
                md,
                "- GetRecord/s at {} in flight against the bare fan-out skeleton: {:.0} / {:.0} = {ratio:.2} (target at least 0.35)",
                args.concurrency,
                a.throughput(),
                s.throughput()
            );
            ratios.push(serde_json::json!({"in_flight": args.concurrency, "gateway_per_skeleton_throughput": ratio}));
        }
    }
    let wide = format!("a{}", args.scale_sources);
    if let (Some(a4), Some(a32)) = (find("a4", args.concurrency), find(&wide, args.concurrency)) {
        let _ = writeln!(
            md,
            "- {} sources against 4: p99 {:.2}x (target at most 1.5x), p50 {:.2}x, throughput {:.2}x",
            args.scale_sources,
            a32.ms(0.99) / a4.ms(0.99).max(1e-9),
            a32.ms(0.5) / a4.ms(0.5).max(1e-9),
            a32.throughput() / a4.throughput().max(1e-9)
        );
    }
    let json = serde_json::json!({
        "command": format!("trama {command}"),
        "machine": crate::bench::machine(),
        "date": time::OffsetDateTime::now_utc().date().to_string(),
        "subjects_per_partner": args.subjects,
        "runs": runs.iter().map(|r| {
            let mut v = r.report.json();
            v["run"] = r.name.clone().into();
            v["what"] = r.what.clone().into();
            v["in_flight"] = r.in_flight.into();
            v
        }).collect::<Vec<_>>(),
        "ratios": ratios,
    });
    (md, json)
}

async fn measure(
    args: &FederationArgs,
    running: &mut Federation,
    sections: Arc<Vec<i32>>,
) -> anyhow::Result<Vec<Run>> {
    let dir = running.dir.clone();
    let profile = Profile::load(&dir.join("client-comune.toml"))?;
    let context = bench_load::profile_context(&profile);
    let gateway_tls = TlsFiles {
        ca: dir.join("pki/ca.pem"),
        cert: dir.join("pki/gateway-gateway.pem"),
        key: dir.join("pki/gateway-gateway-key.pem"),
        crl: Some(dir.join("pki/crl.pem")),
    };
    let people = Arc::new(bench_load::tax_codes(args.seed, args.subjects));
    let partners: Vec<Direct> = running
        .connectors
        .iter()
        .map(|(org, address)| direct(&gateway_tls, org, address))
        .collect::<anyhow::Result<_>>()?;

    let shape = |in_flight: usize| args.shape(in_flight);
    let mut runs = Vec::new();

    // Which connector is the slowest: a short run against each.
    println!("\nFinding the slowest connector (a short run at 1 in flight against each):");
    let mut slowest: Option<(f64, Direct)> = None;
    for d in &partners {
        let probe = Shape::closed(1, args.duration.min(3), args.warmup.min(1));
        let r = fetch_load(probe, people.clone(), vec![d.clone()], &context, &sections).await?;
        println!("  {:<8} p50 {:.3} ms", d.organisation, r.ms(0.5));
        if slowest.as_ref().is_none_or(|(p50, _)| r.ms(0.5) > *p50) {
            slowest = Some((r.ms(0.5), d.clone()));
        }
    }
    let Some((_, slowest)) = slowest else {
        bail!("the federation has no connectors");
    };
    let nginx = start_nginx(args, &dir, &slowest).await?;
    let through_nginx = match &nginx {
        Some(n) => Some(direct(
            &gateway_tls,
            &slowest.organisation,
            &format!("localhost:{}", n.port),
        )?),
        None => None,
    };

    // The gateway as one hop: a gateway whose only source is the slowest
    // connector, against the same direct call and nginx hop.
    let one_source = vec![source(&slowest.organisation, &slowest.address)];
    let mut one = profile.clone();
    one.gateway = running.start_gateway("gateway-one", one_source).await?;
    let one_clients = bench_load::clients(&one, args.concurrency)?;

    let clients = bench_load::clients(&profile, args.concurrency)?;
    let skeleton =
        start_skeleton(&dir, &gateway_tls, &partners, &people, &context, &sections).await?;
    let mut bare = profile.clone();
    bare.gateway = skeleton.address.clone();
    let skeleton_clients = bench_load::clients(&bare, args.concurrency)?;
    for in_flight in [1, args.concurrency] {
        println!("\nAt {in_flight} in flight:");
        let cpu = Cpu::start(running);
        let r = bench_load::federation_load(
            shape(in_flight),
            people.clone(),
            &clients,
            &context,
            &sections,
            false,
        )
        .await?;
        let spent = cpu.per_call(running, r.answered);
        println!("  CPU per answered call: {spent}");
        runs.push(show(
            "a",
            &format!("GetRecord through the gateway, 4 sources (CPU per call: {spent})"),
            in_flight,
            r,
        ));
        let r = fetch_load(
            shape(in_flight),
            people.clone(),
            vec![slowest.clone()],
            &context,
            &sections,
        )
        .await?;
        runs.push(show(
            "b",
            &format!(
                "FetchRecord directly to the slowest connector ({})",
                slowest.organisation
            ),
            in_flight,
            r,
        ));
        let r = bench_load::federation_load(
            shape(in_flight),
            people.clone(),
            &one_clients,
            &context,
            &sections,
            false,
        )
        .await?;
        runs.push(show(
            "a1",
            &format!(
                "GetRecord through a gateway whose one source is {}",
                slowest.organisation
            ),
            in_flight,
            r,
        ));
        if let Some(n) = &through_nginx {
            let r = fetch_load(
                shape(in_flight),
                people.clone(),
                vec![n.clone()],
                &context,
                &sections,
            )
            .await?;
            runs.push(show(
                "c",
                &format!("FetchRecord to {} through nginx", slowest.organisation),
                in_flight,
                r,
            ));
        }
        let r = fetch_load(
            shape(in_flight),
            people.clone(),
            partners.clone(),
            &context,
            &sections,
        )
        .await?;
        runs.push(show(
            "d",
            "naive client: the 4 connectors one after another",
            in_flight,
            r,
        ));
        let r = bench_load::federation_load(
            shape(in_flight),
            people.clone(),
            &skeleton_clients,
            &context,
            &sections,
            false,
        )
        .await?;
        runs.push(show(
            "s",
            "bare fan-out skeleton: GetRecord to 4 echo servers over mTLS, answers side by side",
            in_flight,
            r,
        ));
    }
    drop(nginx);
    drop(skeleton);

    if args.scale_sources > Partner::ALL.len() {
        scale(
            args, running, &profile, &context, &sections, &people, &mut runs,
        )
        .await?;
    }
    if args.in_flight > 0 {
        memory(
            args, running, &profile, &context, &sections, &people, &mut runs,
        )
        .await?;
    }
    Ok(runs)
}

/// The scale runs: `GetRecord` about a case load of people through the
/// five-source gateway and through a second gateway that also knows
/// `scale_sources` less the demo partners' sources, which do not know them.
#[allow(clippy::too_many_arguments)]
async fn scale(
    args: &FederationArgs,
    running: &mut Federation,
    profile: &Profile,
    context: &v1::RequestContext,
    sections: &Arc<Vec<i32>>,
    people: &Arc<Vec<String>>,
    runs: &mut Vec<Run>,
) -> anyhow::Result<()> {
    let dir = running.dir.clone();
    let extra = args.scale_sources - Partner::ALL.len();
    println!(
        "
Starting {extra} more sources (other people, one shared read-only database)..."
    );
    let others = std::path::absolute(dir.join("others"))?;
    std::fs::create_dir_all(&others)?;
    let db = others.join("others.db");
    let population = seed::generate(args.seed ^ 0x0dd5_eed5, args.subjects.min(20_000));
    let mut sink = Sink::connect(&format!("sqlite://{}", db.display())).await?;
    seed::partners::seed(
        Partner::Caritas,
        &mut sink,
        Engine::Sqlite,
        &population,
        Selection::Everyone,
        |_| {},
    )
    .await?;
    sink.close().await;
    std::fs::write(others.join("mapping.toml"), Partner::Caritas.mapping())?;
    let logs = dir.join("logs");
    let mut extra_sources = Vec::new();
    for i in 1..=extra {
        let org = format!("fonte{i:02}");
        sandbox::issue(&dir.join("pki"), &org, Role::Connector)?;
        let file = ConnectorFile {
            federation: FEDERATION.into(),
            organisation: org.clone(),
            listen: "127.0.0.1:0".into(),
            database: format!("sqlite://{}?mode=ro", db.display()),
            mapping: "../others/mapping.toml".into(),
            pki: "../pki".into(),
            limits: Default::default(),
            export: sandbox::export_rules(Partner::Caritas),
            tracing: Default::default(),
            linkage_key: Some(format!("../{}", sandbox::LINKAGE_KEY)),
        };
        let address = running.start_connector(&org, file).await?;
        extra_sources.push(source(&org, &address));
    }
    let mut all: Vec<Source> = running
        .connectors
        .iter()
        .filter(|(org, _)| Partner::parse(org).is_some())
        .map(|(org, address)| source(org, address))
        .collect();
    all.extend(extra_sources);
    let address = running.start_gateway("gateway-scale", all).await?;
    println!("a gateway of {} sources on {address}", args.scale_sources);

    let mut wide = profile.clone();
    wide.gateway = address;
    let case_load: Arc<Vec<String>> =
        Arc::new(people.iter().take(args.case_load.max(1)).cloned().collect());
    let shape = args.shape(args.concurrency);
    println!(
        "\nGetRecord about a case load of {} people, {} in flight:",
        case_load.len(),
        args.concurrency
    );
    for (name, label, p, log) in [
        (
            "a4".to_string(),
            "4 sources".to_string(),
            profile,
            "gateway",
        ),
        (
            format!("a{}", args.scale_sources),
            format!("{} sources", args.scale_sources),
            &wide,
            "gateway-scale",
        ),
    ] {
        let metrics = metrics_address(&logs.join(format!("{log}.log")));
        let clients = bench_load::clients(p, args.concurrency)?;
        let opened = open_case_load(&clients, context, &case_load, args.concurrency).await?;
        println!(
            "  the case load opened through the {label} gateway (one FindSubject each) in {:.1} s",
            opened.as_secs_f64()
        );
        let before = match &metrics {
            Some(m) => locator_counts(m).await,
            None => None,
        };
        let r = bench_load::federation_load(
            shape,
            case_load.clone(),
            &clients,
            context,
            sections,
            false,
        )
        .await?;
        let after = match &metrics {
            Some(m) => locator_counts(m).await,
            None => None,
        };
        let ratio = match (before, after) {
            (Some((h0, m0)), Some((h1, m1))) if (h1 + m1) > (h0 + m0) => {
                format!(
                    "; locator hit ratio {:.1}%",
                    100.0 * (h1 - h0) as f64 / ((h1 + m1) - (h0 + m0)) as f64
                )
            }
            _ => "; locator hit ratio not available (no metrics)".into(),
        };
        runs.push(show(
            &name,
            &format!("GetRecord through the gateway, {label}, case load{ratio}"),
            args.concurrency,
            r,
        ));
    }
    Ok(())
}

/// A source of a gateway's registry, with the demo's budget.
fn source(organisation: &str, address: &str) -> Source {
    Source {
        organisation: organisation.into(),
        address: address.into(),
        timeout_ms: 2000,
    }
}

/// Finds each person of the case load once, as a social worker opens a
/// case before reading the record; returns how long it took.
async fn open_case_load(
    clients: &Arc<Vec<v1::federation_client::FederationClient<Channel>>>,
    context: &v1::RequestContext,
    people: &Arc<Vec<String>>,
    in_flight: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let workers = in_flight.clamp(1, people.len().max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let mut client = clients[w % clients.len()].clone();
        let (context, people) = (context.clone(), people.clone());
        tasks.spawn(async move {
            for tax in people.iter().skip(w).step_by(workers) {
                bench_load::call(
                    &mut client,
                    true,
                    context.clone(),
                    &[],
                    tax.clone(),
                    CALL_DEADLINE,
                )
                .await?;
            }
            Ok::<_, tonic::Status>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a case-load task failed")?
            .map_err(|s| anyhow::anyhow!("opening the case load: {}", s.message()))?;
    }
    Ok(started.elapsed())
}

/// The memory run: `in_flight` calls held open against the five-source
/// gateway while its resident memory is sampled.
async fn memory(
    args: &FederationArgs,
    running: &Federation,
    profile: &Profile,
    context: &v1::RequestContext,
    sections: &Arc<Vec<i32>>,
    people: &Arc<Vec<String>>,
    runs: &mut Vec<Run>,
) -> anyhow::Result<()> {
    let Some(pid) = running.pid("gateway") else {
        bail!("the gateway is not running");
    };
    let idle = crate::bench::rss_kib(pid).unwrap_or(0);
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kib) = crate::bench::rss_kib(pid) {
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    println!("\n{} in flight:", args.in_flight);
    let shape = args.shape(args.in_flight);
    let clients = bench_load::clients(profile, args.in_flight)?;
    let r = bench_load::federation_load(shape, people.clone(), &clients, context, sections, false)
        .await?;
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    runs.push(show(
        "m",
        &format!(
            "GetRecord through the gateway, 4 sources; gateway RSS {:.1} MB idle, {:.1} MB at most",
            idle as f64 / 1024.0,
            peak as f64 / 1024.0
        ),
        args.in_flight,
        r,
    ));
    Ok(())
}

/// The metrics address a gateway logged (`metrics on http://ADDRESS/metrics`).
fn metrics_address(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let rest = text.rsplit("metrics on http://").next()?;
    rest.split('/').next().map(str::to_string)
}

/// The locator cache's hits and misses, from a gateway's metrics.
async fn locator_counts(address: &str) -> Option<(u64, u64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(address).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut body))
        .await
        .ok()?
        .ok()?;
    let value = |name: &str| {
        body.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    Some((
        value("trama_locator_hits_total"),
        value("trama_locator_misses_total"),
    ))
}

/// Prints one run's line as it finishes and keeps it.
fn show(name: &str, what: &str, in_flight: usize, report: Report) -> Run {
    println!(
        "  ({name}) {what}: {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        report.throughput(),
        report.ms(0.5),
        report.ms(0.99),
        report.errors_text()
    );
    Run {
        name: name.into(),
        what: what.into(),
        in_flight,
        report,
    }
}

/// A connector client presenting the gateway's certificate, checking the
/// server is `organisation`'s connector.
pub(crate) fn connector_client(
    tls: &TlsFiles,
    organisation: &str,
    address: &str,
) -> anyhow::Result<ConnectorClient<Channel>> {
    let config = trama_tls::client::client_config(tls)?;
    let channel = trama_tls::client::channel(
        address,
        config,
        ExpectedPeer {
            federation: FEDERATION.into(),
            organisation: Some(organisation.into()),
            role: Role::Connector,
        },
        Duration::from_secs(5),
    )?;
    Ok(ConnectorClient::new(channel).max_decoding_message_size(64 << 20))
}

fn direct(tls: &TlsFiles, organisation: &str, address: &str) -> anyhow::Result<Direct> {
    Ok(Direct {
        organisation: organisation.into(),
        address: address.into(),
        client: connector_client(tls, organisation, address)?,
    })
}

/// The bare fan-out skeleton (see [`crate::bench::skeleton`]), its echoes
/// answering what each partner's connector answered for the first person
/// of the load.
async fn start_skeleton(
    dir: &Path,
    gateway_tls: &TlsFiles,
    partners: &[Direct],
    people: &[String],
    context: &v1::RequestContext,
    sections: &[i32],
) -> anyhow::Result<skeleton::Skeleton> {
    let tax = people.first().cloned().unwrap_or_default();
    let mut echoes = Vec::new();
    for d in partners {
        let r = comune_fetch(context, &tax, sections);
        let answer = d.client.clone().fetch_record(r).await?.into_inner();
        let org = &d.organisation;
        echoes.push(skeleton::EchoOf {
            organisation: org.clone(),
            tls: TlsFiles {
                ca: dir.join("pki/ca.pem"),
                cert: dir.join(format!("pki/{org}-connector.pem")),
                key: dir.join(format!("pki/{org}-connector-key.pem")),
                crl: None,
            },
            answer,
        });
    }
    skeleton::start(gateway_tls.clone(), echoes).await
}

/// The comune's `FetchRecord` of `sections` of the person with `tax`, as
/// the gateway forwards it, under the bench's call deadline.
fn comune_fetch(
    context: &v1::RequestContext,
    tax: &str,
    sections: &[i32],
) -> tonic::Request<v1::FetchRecordRequest> {
    let mut r = tonic::Request::new(v1::FetchRecordRequest {
        context: Some(context.clone()),
        client_organisation: "comune".into(),
        tax_code: tax.to_string(),
        local_id: String::new(),
        sections: sections.to_vec(),
    });
    r.set_timeout(CALL_DEADLINE);
    r
}

/// `FetchRecord` to each of `connectors` in turn (one: a direct call),
/// as the comune's case work, the way the gateway forwards it.
async fn fetch_load(
    shape: Shape,
    people: Arc<Vec<String>>,
    connectors: Vec<Direct>,
    context: &v1::RequestContext,
    sections: &Arc<Vec<i32>>,
) -> anyhow::Result<Report> {
    let (context, sections) = (context.clone(), sections.clone());
    let connectors = Arc::new(connectors);
    bench_load::drive(shape, people, move |_, tax| {
        let (connectors, context, sections) =
            (connectors.clone(), context.clone(), sections.clone());
        async move {
            for d in connectors.iter() {
                let r = comune_fetch(&context, &tax, &sections);
                // "Not found" is an answer too: a partner may hold the
                // person under another (mistyped) tax code.
                d.client.clone().fetch_record(r).await?;
            }
            Ok(false)
        }
    })
    .await
}

/// nginx running as a `grpc_pass` proxy in front of one connector; stopped
/// when dropped.
struct Nginx {
    child: tokio::process::Child,
    port: u16,
}

impl Drop for Nginx {
    /// Asks the master process to stop (SIGTERM: it stops its workers
    /// too; a SIGKILL would leave them running), waits a little, and kills
    /// it if it has not stopped.
    fn drop(&mut self) {
        sandbox::process::terminate(&self.child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.start_kill();
    }
}

/// Starts nginx in front of `organisation`'s connector: TLS with client
/// certificates towards the bench (presenting the connector's own
/// certificate, as a proxy terminating TLS for it), and TLS with the
/// gateway's certificate towards the connector, over kept-alive upstream
/// connections.
async fn start_nginx(
    args: &FederationArgs,
    dir: &Path,
    target: &Direct,
) -> anyhow::Result<Option<Nginx>> {
    let (organisation, upstream) = (&target.organisation, &target.address);
    let Some(binary) = find_binary(&args.nginx) else {
        println!(
            "\n!! nginx not found (`{}`): the proxy baseline (c) is SKIPPED; install it with \
             `apt-get install nginx` (bench/run.sh does)",
            args.nginx
        );
        return Ok(None);
    };
    let port = free_port()?;
    let ndir = std::path::absolute(dir.join("nginx"))?;
    std::fs::create_dir_all(ndir.join("temp"))?;
    let pki = std::path::absolute(dir.join("pki"))?;
    let p = |f: &str| pki.join(f).display().to_string();
    let user = if is_root() { "user root;\n" } else { "" };
    let conf = format!(
        "# nginx as a gRPC proxy in front of the {organisation} connector (trama bench federation).\n\
         {user}daemon off;\n\
         worker_processes auto;\n\
         pid {ndir}/nginx.pid;\n\
         error_log {ndir}/error.log warn;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {ndir}/temp/body;\n\
         \x20 proxy_temp_path {ndir}/temp/proxy;\n\
         \x20 fastcgi_temp_path {ndir}/temp/fastcgi;\n\
         \x20 uwsgi_temp_path {ndir}/temp/uwsgi;\n\
         \x20 scgi_temp_path {ndir}/temp/scgi;\n\
         \x20 upstream connector {{\n\
         \x20   server {upstream};\n\
         \x20   keepalive 256;\n\
         \x20   keepalive_requests 10000000;\n\
         \x20   keepalive_timeout 600s;\n\
         \x20 }}\n\
         \x20 server {{\n\
         \x20   listen 127.0.0.1:{port} ssl http2;\n\
         \x20   keepalive_requests 10000000;\n\
         \x20   keepalive_timeout 600s;\n\
         \x20   ssl_protocols TLSv1.3;\n\
         \x20   ssl_certificate {cert};\n\
         \x20   ssl_certificate_key {key};\n\
         \x20   ssl_client_certificate {ca};\n\
         \x20   ssl_verify_client on;\n\
         \x20   location / {{\n\
         \x20     grpc_pass grpcs://connector;\n\
         \x20     grpc_ssl_protocols TLSv1.3;\n\
         \x20     grpc_ssl_certificate {gcert};\n\
         \x20     grpc_ssl_certificate_key {gkey};\n\
         \x20     grpc_ssl_trusted_certificate {ca};\n\
         \x20     grpc_ssl_verify on;\n\
         \x20     grpc_ssl_name localhost;\n\
         \x20     grpc_ssl_server_name on;\n\
         \x20     grpc_ssl_session_reuse on;\n\
         \x20     grpc_read_timeout 30s;\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n",
        ndir = ndir.display(),
        cert = p(&format!("{organisation}-connector.pem")),
        key = p(&format!("{organisation}-connector-key.pem")),
        ca = p("ca.pem"),
        gcert = p("gateway-gateway.pem"),
        gkey = p("gateway-gateway-key.pem"),
    );
    let conf_file = ndir.join("nginx.conf");
    std::fs::write(&conf_file, conf)?;
    let child = tokio::process::Command::new(&binary)
        .arg("-p")
        .arg(&ndir)
        .arg("-c")
        .arg(&conf_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut nginx = Nginx { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            let log = std::fs::read_to_string(ndir.join("error.log")).unwrap_or_default();
            bail!(
                "nginx exited ({status}); {}:\n{log}",
                ndir.join("error.log").display()
            );
        }
        if Instant::now() > deadline {
            bail!("nginx did not listen on port {port} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "\nnginx ({}) proxies 127.0.0.1:{port} to the {organisation} connector at {upstream}",
        binary.display()
    );
    let _ = &mut nginx;
    Ok(Some(nginx))
}

/// `name` as a path, or found on `PATH` or in the sbin directories.
fn find_binary(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/sbin".into()])
        .map(|d: PathBuf| d.join(name))
        .find(|f| f.is_file())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A port free on loopback now.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// CPU time used by the federation's processes and the load generator
/// over a run.
struct Cpu {
    before: Vec<(String, f64)>,
}

impl Cpu {
    fn start(running: &Federation) -> Cpu {
        Cpu {
            before: cpu_by_role(running),
        }
    }

    /// CPU time per answered call, by role: the gateway, the connectors
    /// (together) and the load generator.
    fn per_call(&self, running: &Federation, answered: u64) -> String {
        let after = cpu_by_role(running);
        let calls = answered.max(1) as f64;
        after
            .iter()
            .map(|(role, t)| {
                let t0 = self
                    .before
                    .iter()
                    .find(|(r, _)| r == role)
                    .map_or(0.0, |(_, t)| *t);
                format!("{role} {:.0} µs", (t - t0) / calls * 1e6)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// CPU seconds used so far by the five-source gateway, the five partner
/// connectors together, and this process.
fn cpu_by_role(running: &Federation) -> Vec<(String, f64)> {
    let mut gateway = 0.0;
    let mut connectors = 0.0;
    for (name, pid) in running.pids() {
        let t = cpu_seconds(&format!("/proc/{pid}/stat")).unwrap_or(0.0);
        if name == "gateway" {
            gateway += t;
        } else if Partner::parse(&name).is_some() {
            connectors += t;
        }
    }
    vec![
        ("gateway".into(), gateway),
        ("4 connectors".into(), connectors),
        (
            "load generator".into(),
            cpu_seconds("/proc/self/stat").unwrap_or(0.0),
        ),
    ]
}

/// User and system CPU seconds of a process, from its `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(stat: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks; 100 per second on Linux.
    Some((utime + stime) / 100.0)
}
