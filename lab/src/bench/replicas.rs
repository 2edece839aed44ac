//! `trama bench replicas`: what running the gateway as replicas on shared
//! PostgreSQL costs and gives. Starts a federation of four partners (each
//! knowing every person) whose gateway keeps its audit log, referrals and
//! client allowances in PostgreSQL, a replica of it, and a third gateway
//! over the same connectors with its audit log in a SQLite file; then, in
//! rounds so that a drift of the shared machine touches every case alike:
//! `GetRecord` throughput at `--concurrency` in flight through one gateway
//! and through two (the calls alternating between them), and the latency
//! of one call at a time through the SQLite gateway and the PostgreSQL
//! one. Prints each run, then the ratios.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tonic::transport::Channel;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;

use super::load::{self, Report, Shape};
use crate::sandbox::databases::{drop_database, fresh_database};
use crate::sandbox::{Federation, FederationBuilder, Source};
use crate::seed::Partner;

/// `trama bench replicas` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplicasArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/replicas")]
    pub dir: PathBuf,
    /// The PostgreSQL server the gateways share (databases
    /// `trama_bench_replicas_*` are made on it and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// People in the synthetic population (every partner knows each).
    #[arg(long, default_value_t = 2000)]
    pub subjects: usize,
    /// Calls in flight in the throughput runs.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Measured seconds of each run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of load before each run is measured.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Rounds of the four runs.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

/// The four partners asked.
const PARTNERS: [Partner; 4] = [
    Partner::Comune,
    Partner::Asl,
    Partner::Caritas,
    Partner::Caf,
];

/// Runs the measurement and prints the runs and the ratios.
pub async fn run(args: ReplicasArgs) -> anyhow::Result<()> {
    println!(
        "trama bench replicas: GetRecord, {} sources, {} people, {} s per run after {} s, {} rounds\nmachine: {}\n",
        PARTNERS.len(),
        args.subjects,
        args.duration,
        args.warmup,
        args.rounds,
        super::machine()
    );
    let names = [
        format!("trama_bench_replicas_audit_{}", std::process::id()),
        format!("trama_bench_replicas_refs_{}", std::process::id()),
    ];
    let mut urls = Vec::new();
    for name in &names {
        urls.push(fresh_database(&args.postgres, name).await?);
    }
    let measured = measure(&args, &urls[0], &urls[1]).await;
    for name in &names {
        if let Err(e) = drop_database(&args.postgres, name).await {
            eprintln!("{name} was not dropped: {e}");
        }
    }
    print_ratios(&measured?);
    Ok(())
}

/// The runs of every round: one gateway, two, SQLite at one call, the
/// shared PostgreSQL at one call.
#[derive(Default)]
struct Runs {
    one: Vec<Report>,
    two: Vec<Report>,
    sqlite: Vec<Report>,
    postgres: Vec<Report>,
}

async fn measure(args: &ReplicasArgs, audit: &str, referrals: &str) -> anyhow::Result<Runs> {
    let exe = std::env::current_exe().context("locating the trama binary")?;
    let mut fed = FederationBuilder::new(&args.dir)
        .exe(&exe)
        .subjects(args.subjects)
        .everyone(true)
        .partners(PARTNERS)
        .cases_taken_as_stated(&["comune"])
        .audit_database(audit)
        .referral_store(referrals)
        .start()
        .await?;
    let measured = rounds(args, &mut fed).await;
    fed.stop().await;
    measured
}

async fn rounds(args: &ReplicasArgs, fed: &mut Federation) -> anyhow::Result<Runs> {
    let a = fed.gateway.clone();
    let b = fed.start_replica("gateway-b").await?;
    let sources = PARTNERS
        .iter()
        .map(|p| {
            let org = p.organisation();
            Ok(Source {
                organisation: org.into(),
                address: fed.connector(org).context("a connector")?.to_string(),
                timeout_ms: 2000,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sqlite = fed.start_gateway("gateway-sqlite", sources).await?;
    let files = fed.tls("comune", "client");
    let connect = |address: &str, n: usize| -> anyhow::Result<Vec<FederationClient<Channel>>> {
        (0..n).map(|_| fed.client_at(address, &files)).collect()
    };
    let per = args.concurrency.div_ceil(16).max(1);
    let one = Arc::new(connect(&a, per * 2)?);
    let mut both = connect(&a, per)?;
    both.extend(connect(&b, per)?);
    let two = Arc::new(interleaved(both, per));
    let alone = Arc::new(connect(&sqlite, 1)?);
    let shared = Arc::new(connect(&a, 1)?);
    let people = Arc::new(load::tax_codes(2026, args.subjects));
    let context = v1::RequestContext {
        purpose: "presa_in_carico".into(),
        case_id: "CS-BENCH-REPLICAS".into(),
        operator: Some(v1::Operator {
            id: "bench".into(),
            role: "assistente_sociale".into(),
        }),
        legal_basis: String::new(),
    };
    let sections = Arc::new(vec![
        v1::Section::Needs as i32,
        v1::Section::Interventions as i32,
    ]);
    let busy = Shape::closed(args.concurrency, args.duration, args.warmup);
    let single = Shape::closed(1, args.duration, args.warmup);
    let mut runs = Runs::default();
    for round in 1..=args.rounds {
        for (label, shape, clients, into) in [
            ("one gateway", busy, &one, &mut runs.one),
            ("two gateways", busy, &two, &mut runs.two),
            (
                "SQLite audit, 1 in flight",
                single,
                &alone,
                &mut runs.sqlite,
            ),
            (
                "PostgreSQL, 1 in flight",
                single,
                &shared,
                &mut runs.postgres,
            ),
        ] {
            let r =
                load::federation_load(shape, people.clone(), clients, &context, &sections, false)
                    .await?;
            println!(
                "round {round}: {label:<28} {:>8.1} calls/s  p50 {:>6.2} ms  p99 {:>7.2} ms  errors {}",
                r.throughput(),
                r.ms(0.5),
                r.ms(0.99),
                r.errors_text()
            );
            into.push(r);
        }
    }
    Ok(runs)
}

/// `clients` of two gateways (`per` each, one after the other) taken in
/// turn, so that consecutive calls go to one and then the other.
fn interleaved(
    clients: Vec<FederationClient<Channel>>,
    per: usize,
) -> Vec<FederationClient<Channel>> {
    let (first, second) = clients.split_at(per.min(clients.len()));
    first
        .iter()
        .zip(second)
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect()
}

/// The median of `values`: the middle one, or the mean of the two in the
/// middle of an even count (0 for none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn print_ratios(runs: &Runs) {
    let rate = |rs: &[Report]| median(rs.iter().map(Report::throughput).collect());
    let p50 = |rs: &[Report]| median(rs.iter().map(|r| r.ms(0.5)).collect());
    let (one, two) = (rate(&runs.one), rate(&runs.two));
    let (sqlite, postgres) = (p50(&runs.sqlite), p50(&runs.postgres));
    println!("\n| measure (median of the rounds) | value | ratio |");
    println!("|---|---|---|");
    println!("| GetRecord through one gateway | {one:.1} calls/s | 1.00 |");
    println!(
        "| GetRecord through two gateways | {two:.1} calls/s | {:.2} |",
        two / one.max(f64::MIN_POSITIVE)
    );
    println!("| p50, one call at a time, SQLite audit | {sqlite:.2} ms | 1.00 |");
    println!(
        "| p50, one call at a time, PostgreSQL audit and allowances | {postgres:.2} ms | {:.2} (+{:.2} ms) |",
        postgres / sqlite.max(f64::MIN_POSITIVE),
        postgres - sqlite
    );
}
