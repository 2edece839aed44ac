//! `trama soak`: a bounded soak of a whole federation. It starts the demo
//! federation (five connectors and a gateway as processes), drives it at a
//! fixed concurrency for a set time with `GetRecord` and `FindSubject`
//! calls on random people, optionally injects faults (a connector killed
//! and restarted, a connector frozen), and reports requests, errors by
//! kind, partial answers, latency and the processes' memory over time.
//! At the end it checks that every answered call is in the gateway's audit
//! log and that every audit log verifies.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tokio::sync::Mutex;
use trama_proto::v1;

use trama_client::Profile;
use trama_client::render::Table;

use crate::sandbox::FederationBuilder;
use crate::sandbox::process::signal;

/// The sections every soak `GetRecord` asks for.
const SECTIONS: [i32; 3] = [
    v1::Section::Needs as i32,
    v1::Section::Interventions as i32,
    v1::Section::Health as i32,
];

/// `trama soak` arguments.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long to drive the federation, in seconds (after the warm-up).
    #[arg(long, default_value_t = 300)]
    pub duration: u64,
    /// Warm-up, in seconds, before memory is taken as the baseline.
    #[arg(long, default_value_t = 20)]
    pub warmup: u64,
    /// Calls in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Inject faults: every 20 s a connector is killed (kill -9) and restarted 5 s later,
    /// in turn; every third time another is frozen (SIGSTOP) for 3 s instead.
    #[arg(long)]
    pub faults: bool,
    /// Kill this connector (kill -9) before the load starts and leave it dead.
    #[arg(long, value_name = "ORG", conflicts_with = "faults")]
    pub dead: Option<String>,
    /// Freeze this connector (SIGSTOP) before the load starts, for the whole run.
    #[arg(long, value_name = "ORG", conflicts_with = "faults")]
    pub frozen: Option<String>,
    /// A report line every this many seconds.
    #[arg(long, default_value_t = 10)]
    pub every: u64,
    /// People in the synthetic population.
    #[arg(long, default_value_t = 2000)]
    pub subjects: usize,
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "soak-data")]
    pub dir: PathBuf,
}

#[derive(Default)]
struct Tally {
    requests: u64,
    partial: u64,
    errors: BTreeMap<String, u64>,
    outcomes: BTreeMap<String, u64>,
    latency: Option<Histogram<u64>>,
    answered: Vec<String>,
}

impl Tally {
    fn histogram(&mut self) -> &mut Histogram<u64> {
        self.latency.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 120_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| std::process::abort()))
        })
    }
}

/// Runs the soak and prints its report; fails if an answer is missing from
/// the audit log or an audit log does not verify.
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the trama binary")?;
    // Every call reads a random person under a case id of its own, which
    // tells its answer apart in the audit logs; no comune holds such cases,
    // so the soak's gateway takes the comune's case ids as stated.
    let federation = FederationBuilder::new(&args.dir)
        .exe(&exe)
        .subjects(args.subjects)
        .seed(2026)
        .cases_taken_as_stated(&["comune", "asl"])
        .start()
        .await?;
    let running = Arc::new(Mutex::new(federation));
    let profile = Profile::load(&args.dir.join("client-comune.toml"))?;
    let people: Arc<Vec<String>> = Arc::new(crate::bench::load::tax_codes(2026, args.subjects));
    if let Some(org) = &args.dead {
        if !running.lock().await.crash(org).await {
            bail!("no connector {org}");
        }
        eprintln!("{org} killed for the whole run");
    }
    let frozen = match &args.frozen {
        Some(org) => {
            let pid = running.lock().await.pid(org).context("no such connector")?;
            signal(pid, "-STOP");
            eprintln!("{org} frozen for the whole run");
            Some(pid)
        }
        None => None,
    };
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let mut client = profile.connect()?;
        let (tally, stop, people) = (tally.clone(), stop.clone(), people.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let case = format!("SOAK-{w}-{n}");
                let tax_code = people[fastrand::usize(..people.len())].clone();
                let context = v1::RequestContext {
                    purpose: "presa_in_carico".into(),
                    case_id: case.clone(),
                    operator: Some(v1::Operator {
                        id: format!("soak-{w}"),
                        role: "assistente_sociale".into(),
                    }),
                    legal_basis: String::new(),
                };
                let started = Instant::now();
                let result = crate::bench::load::call(
                    &mut client,
                    n.is_multiple_of(10),
                    context,
                    &SECTIONS,
                    tax_code,
                    Duration::from_secs(5),
                )
                .await;
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let failed = {
                    let mut t = tally
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    t.requests += 1;
                    match result {
                        Ok((partial, outcomes)) => {
                            let _ = t.histogram().record(micros);
                            t.partial += u64::from(partial);
                            for o in outcomes {
                                let name = trama_gateway::audit::outcome_name(o.status);
                                *t.outcomes
                                    .entry(format!("{}:{name}", o.organisation))
                                    .or_default() += 1;
                            }
                            t.answered.push(case);
                            false
                        }
                        Err(status) => {
                            *t.errors
                                .entry(trama_proto::code_name(status.code()).to_string())
                                .or_default() += 1;
                            true
                        }
                    }
                };
                if failed {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    // Faults, in turn.
    let faults = if args.faults {
        let (running, stop) = (running.clone(), stop.clone());
        Some(tokio::spawn(async move {
            let orgs = ["comune", "asl", "caritas", "caf"];
            let mut round = 0usize;
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let org = orgs[round % orgs.len()];
                round += 1;
                if round.is_multiple_of(3) {
                    let pid = running.lock().await.pid(org);
                    if let Some(pid) = pid {
                        eprintln!("fault: {org} frozen for 3 s");
                        signal(pid, "-STOP");
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        signal(pid, "-CONT");
                    }
                } else {
                    eprintln!("fault: {org} killed (kill -9), restarted in 5 s");
                    running.lock().await.crash(org).await;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if let Err(e) = running.lock().await.restart(org).await {
                        eprintln!("fault: {org} did not restart: {e:#}");
                    }
                }
            }
        }))
    } else {
        None
    };

    println!(
        "trama soak --duration {} --warmup {} --concurrency {}{}{}{}",
        args.duration,
        args.warmup,
        args.concurrency,
        if args.faults { " --faults" } else { "" },
        args.dead
            .as_ref()
            .map(|o| format!(" --dead {o}"))
            .unwrap_or_default(),
        args.frozen
            .as_ref()
            .map(|o| format!(" --frozen {o}"))
            .unwrap_or_default(),
    );
    println!("machine: {}", crate::bench::machine());
    let mut table = Table::new(&[
        "t s",
        "requests",
        "req/s",
        "errors",
        "partial",
        "p50 ms",
        "p99 ms",
        "gateway RSS MiB",
        "connectors RSS MiB",
    ]);
    let total = args.warmup + args.duration;
    let started = Instant::now();
    let mut last = 0u64;
    let mut baseline_rss = None;
    let mut last_rss = 0u64;
    let mut all = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    // Ctrl-C or SIGTERM end the run early; the federation still stops
    // and the report is still made.
    let stopped = crate::signal::stop_requested();
    tokio::pin!(stopped);
    while started.elapsed() < Duration::from_secs(total) {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(args.every)) => {}
            () = &mut stopped => {
                eprintln!("stopped early");
                break;
            }
        }
        let (pids, gateway_pid) = {
            let r = running.lock().await;
            (
                ["comune", "asl", "caritas", "caf"].map(|o| r.pid(o)),
                r.pid("gateway"),
            )
        };
        let gateway_rss = gateway_pid.and_then(crate::bench::rss_kib).unwrap_or(0);
        let connectors_rss: u64 = pids
            .iter()
            .flatten()
            .filter_map(|p| crate::bench::rss_kib(*p))
            .sum();
        let (requests, errors, partial, h) = {
            let mut t = tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let h = t.latency.take();
            (t.requests, t.errors.values().sum::<u64>(), t.partial, h)
        };
        let (p50, p99) = h.as_ref().map_or((0.0, 0.0), |h| {
            (
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
            )
        });
        if let Some(h) = &h {
            let _ = all.add(h);
        }
        let t = started.elapsed().as_secs();
        if t >= args.warmup && baseline_rss.is_none() {
            baseline_rss = Some(gateway_rss);
        }
        last_rss = gateway_rss;
        table.row(vec![
            t.to_string(),
            requests.to_string(),
            format!("{:.0}", (requests - last) as f64 / args.every as f64),
            errors.to_string(),
            partial.to_string(),
            format!("{p50:.2}"),
            format!("{p99:.2}"),
            format!("{:.1}", gateway_rss as f64 / 1024.0),
            format!("{:.1}", connectors_rss as f64 / 1024.0),
        ]);
        eprintln!("{}", table.render().lines().last().unwrap_or_default());
        last = requests;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    if let Some(f) = faults {
        f.abort();
    }
    if let Some(pid) = frozen {
        signal(pid, "-CONT");
    }
    // Thaw anything a fault left frozen, and stop gracefully.
    {
        let mut r = running.lock().await;
        for org in ["comune", "asl", "caritas", "caf"] {
            if let Some(pid) = r.pid(org) {
                signal(pid, "-CONT");
            }
        }
        r.shut_down().await;
    }
    print!("{}", table.render());

    // Every worker has stopped: take the tally out of its lock.
    let t = std::mem::take(
        &mut *tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    println!(
        "\nrequests {}, answered {}, partial {}",
        t.requests,
        t.answered.len(),
        t.partial
    );
    println!(
        "errors by kind: {}",
        if t.errors.is_empty() {
            "none".to_string()
        } else {
            t.errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let not_ok: Vec<String> = t
        .outcomes
        .iter()
        .filter(|(k, _)| !k.ends_with(":ok") && !k.ends_with(":not_found"))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "source outcomes other than ok/not found: {}",
        if not_ok.is_empty() {
            "none".into()
        } else {
            not_ok.join(", ")
        }
    );
    println!(
        "latency over the whole run: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.value_at_quantile(0.5) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.max() as f64 / 1000.0
    );
    let growth = baseline_rss
        .filter(|b| *b > 0)
        .map(|b| (last_rss as f64 - b as f64) / b as f64 * 100.0);
    if let Some(g) = growth {
        println!(
            "gateway RSS after warm-up {:.1} MiB, at the end {:.1} MiB: {g:+.1}%",
            baseline_rss.unwrap_or(0) as f64 / 1024.0,
            last_rss as f64 / 1024.0
        );
    }

    // Every answered call is in the audit log; every log verifies.
    let url = trama_audit::Store::sqlite_url(&args.dir.join("audit.db"));
    let store = trama_audit::Store::open(&url, false).await?;
    let mut audited = HashSet::new();
    let mut after = 0;
    loop {
        let page = store.entries_after(after, 50_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in &page {
            let e = trama_audit::Entry::from_payload(&row.payload)?;
            if e.status == "OK" {
                audited.insert(e.case_id);
            }
        }
    }
    store.close().await;
    let lost = t.answered.iter().filter(|c| !audited.contains(*c)).count();
    println!("answered calls missing from the audit log: {lost}");
    let mut failures = Vec::new();
    if lost > 0 {
        failures.push(format!("{lost} answered calls are not in the audit log"));
    }
    let configs = std::iter::once(("--gateway", args.dir.join("gateway.toml"))).chain(
        ["comune", "asl", "caritas", "caf"]
            .iter()
            .map(|o| ("--connector", args.dir.join(o).join("connector.toml"))),
    );
    for (flag, config) in configs {
        let out = std::process::Command::new(&exe)
            .args(["audit", "verify", flag])
            .arg(&config)
            .output()?;
        let ok = out.status.success();
        println!(
            "audit verify {flag} {}: {}",
            config.display(),
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            failures.push(format!(
                "the audit log of {} does not verify",
                config.display()
            ));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}
