//! `trama bench audit`: how fast the audit log takes entries that must be
//! durable before an answer leaves. Concurrent writers append realistic
//! entries through the group-commit writer; the baseline, measured in the
//! same run on the same database engine, is one transaction (one sync) per
//! entry (`max_batch = 1`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use trama_audit::chain::Signer;
use trama_audit::{AuditLog, Entry, LogOptions, SourceEntry, Store};

use trama_client::render::Table;

/// `trama bench audit` arguments.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Where to write: a directory for SQLite files (default: a temporary one), or a
    /// postgres:// server URL (a database of its own is created and dropped).
    #[arg(long, value_name = "DIR|URL")]
    pub on: Option<String>,
    /// Entries appended per configuration.
    #[arg(long, default_value_t = 20_000)]
    pub entries: usize,
    /// Concurrent writers (calls in flight).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// One configuration's result.
struct Run {
    name: String,
    took: Duration,
    latency: Histogram<u64>,
}

fn entry(i: usize) -> Entry {
    Entry {
        call: "GetRecord".into(),
        organisation: "comune".into(),
        operator_id: format!("op-{:04}", i % 500),
        operator_role: "assistente_sociale".into(),
        purpose: "presa_in_carico".into(),
        case_id: format!("CS-2026-{:05}", i % 20_000),
        subjects: vec![format!("{:032x}", i), format!("{:032x}", i + 1_000_000)],
        sections_asked: vec!["housing".into(), "needs".into(), "interventions".into()],
        sections_returned: vec!["housing".into(), "needs".into()],
        sources: ["comune", "asl", "caritas", "caf"]
            .iter()
            .map(|o| SourceEntry {
                organisation: (*o).into(),
                outcome: "ok".into(),
                entries: 3,
            })
            .collect(),
        decision: "permit".into(),
        reason: "rule comune-presa-in-carico".into(),
        status: "OK".into(),
        ..Entry::default()
    }
}

async fn measure(
    name: &str,
    url: &str,
    key: &std::path::Path,
    max_batch: usize,
    args: &AuditArgs,
    entries: usize,
) -> anyhow::Result<Run> {
    let store = Store::open(url, true).await?;
    let log = AuditLog::open(
        store.clone(),
        Signer::load(key)?,
        LogOptions {
            max_batch,
            ..LogOptions::default()
        },
    )
    .await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let log = log.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= entries {
                        break;
                    }
                    let t = Instant::now();
                    log.append(entry(i)).await?;
                    h.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                }
                anyhow::Ok(h)
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for w in workers {
        latency.add(w.await??)?;
    }
    let took = started.elapsed();
    log.checkpoint().await?;
    store.close().await;
    Ok(Run {
        name: name.into(),
        took,
        latency,
    })
}

/// The group-commit writer's own figure on a SQLite file in `dir`:
/// entries per second, p50 and p99 of an append in milliseconds, with
/// `concurrency` writers appending `entries` in all.
pub(crate) async fn writer_figure(
    dir: &std::path::Path,
    entries: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let key = dir.join("bench-audit-key.pem");
    std::fs::write(&key, rcgen::KeyPair::generate()?.serialize_pem())?;
    let file = dir.join("bench-audit-writer.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let args = AuditArgs {
        on: None,
        entries,
        concurrency,
    };
    let name = "group commit";
    let r = measure(name, &Store::sqlite_url(&file), &key, 512, &args, entries).await?;
    let ms = |q: f64| r.latency.value_at_quantile(q) as f64 / 1000.0;
    Ok((
        entries as f64 / r.took.as_secs_f64().max(1e-9),
        ms(0.5),
        ms(0.99),
    ))
}

/// Runs the benchmark and prints its report.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let tmp = tempfile_dir()?;
    let key = tmp.join("bench-key.pem");
    let pair = rcgen::KeyPair::generate()?;
    std::fs::write(&key, pair.serialize_pem())?;
    let postgres = args
        .on
        .as_deref()
        .filter(|o| o.starts_with("postgres://") || o.starts_with("postgresql://"));
    let mut runs = Vec::new();
    // The baseline writes fewer entries: one sync each is slow.
    let baseline_entries = (args.entries / 10).max(args.concurrency);
    for (name, max_batch, n) in [
        ("one transaction per entry (baseline)", 1, baseline_entries),
        ("group commit (trama)", 512, args.entries),
    ] {
        let url = match postgres {
            Some(server) => {
                let db = format!("trama_bench_audit_{max_batch}");
                crate::sandbox::databases::fresh_database(server, &db)
                    .await
                    .with_context(|| format!("creating {db}"))?
            }
            None => {
                let dir = args.on.as_ref().map_or_else(|| tmp.clone(), PathBuf::from);
                std::fs::create_dir_all(&dir)?;
                let file = dir.join(format!("bench-audit-{max_batch}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
                Store::sqlite_url(&file)
            }
        };
        eprintln!("{name}: {n} entries, {} writers", args.concurrency);
        runs.push((measure(name, &url, &key, max_batch, &args, n).await?, n));
    }
    let engine = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite (WAL, synchronous=FULL)"
    };
    println!(
        "trama bench audit --entries {} --concurrency {}{}",
        args.entries,
        args.concurrency,
        args.on
            .as_ref()
            .map(|o| format!(" --on {}", trama_plumbing::redact(o)))
            .unwrap_or_default()
    );
    println!("machine: {}", crate::bench::machine());
    println!("engine: {engine}; every entry durable before its append returns\n");
    let mut t = Table::new(&[
        "configuration",
        "entries",
        "entries/s",
        "p50 ms",
        "p99 ms",
        "max ms",
    ]);
    let rate = |r: &Run, n: usize| n as f64 / r.took.as_secs_f64().max(1e-9);
    for (r, n) in &runs {
        t.row(vec![
            r.name.clone(),
            n.to_string(),
            format!("{:.0}", rate(r, *n)),
            format!("{:.2}", r.latency.value_at_quantile(0.5) as f64 / 1000.0),
            format!("{:.2}", r.latency.value_at_quantile(0.99) as f64 / 1000.0),
            format!("{:.2}", r.latency.max() as f64 / 1000.0),
        ]);
    }
    print!("{}", t.render());
    if let [(base, bn), (group, gn)] = runs.as_slice() {
        println!(
            "\ngroup commit / baseline: {:.1}x the throughput",
            rate(group, *gn) / rate(base, *bn)
        );
    }
    if let Some(server) = postgres {
        for max_batch in [1, 512] {
            let _ = crate::sandbox::databases::drop_database(
                server,
                &format!("trama_bench_audit_{max_batch}"),
            )
            .await;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("trama-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
