//! `trama bench referrals`: durable referral sends. The CPS of the health
//! authority sends referrals to the comune at `--concurrency` in flight,
//! each stored (its content sealed) and audited before its answer, for
//! `--duration` seconds; beside it, in the same run and on the same disk,
//! the audit writer's own figure (group commit, the same writers) that
//! every send also pays. Then how long the gateway takes to deliver every
//! referral sent into the comune's inbox table.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use trama_client::render::Table;
use trama_proto::v1;

use crate::bench::load::{self as bench_load, Shape};
use crate::sandbox::FederationBuilder;
use crate::seed::Partner;

/// `trama bench referrals` arguments.
#[derive(Debug, clap::Args)]
pub struct ReferralsArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/referrals")]
    pub dir: PathBuf,
    /// Sends in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Seconds of sends before the measure.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Audit entries appended for the writer's own figure.
    #[arg(long, default_value_t = 20_000)]
    pub entries: usize,
}

fn send(key: String) -> v1::SendReferralRequest {
    v1::SendReferralRequest {
        context: Some(v1::RequestContext {
            purpose: "segnalazione".into(),
            case_id: "CPS-BENCH".into(),
            operator: Some(v1::Operator {
                id: "op-cps-bench".into(),
                role: "operatore_cps".into(),
            }),
            legal_basis: String::new(),
        }),
        idempotency_key: key,
        target: "comune".into(),
        target_service: String::new(),
        content: Some(v1::ReferralContent {
            person: Some(v1::ReferredPerson {
                // The demo's featured person (a valid code).
                tax_code: "DNGGPP58L14D150Z".into(),
                ..Default::default()
            }),
            reasons: vec!["mental-health".into(), "housing".into()],
            message: "Dimessa dal reparto, chiede aiuto per la casa e il lavoro. ".repeat(6),
        }),
        urgency: v1::Urgency::Urgent as i32,
    }
}

/// Runs the benchmark and prints its table.
pub async fn run(args: ReferralsArgs) -> anyhow::Result<()> {
    println!(
        "trama bench referrals --concurrency {} --duration {} --warmup {} --entries {}",
        args.concurrency, args.duration, args.warmup, args.entries
    );
    println!("machine: {}", super::machine());
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let exe = std::env::current_exe()?;
    let fed = FederationBuilder::new(&args.dir)
        .partners([Partner::Comune])
        .subjects(50)
        .referral_poll_seconds(60)
        .exe(exe)
        .start()
        .await?;
    let result = measure(&args, &fed).await;
    fed.stop().await;
    result
}

async fn measure(args: &ReferralsArgs, fed: &crate::sandbox::Federation) -> anyhow::Result<()> {
    let clients: Vec<_> = (0..args.concurrency.min(8))
        .map(|_| fed.client("asl"))
        .collect::<anyhow::Result<_>>()?;
    let clients = Arc::new(clients);
    let next = Arc::new(AtomicUsize::new(0));
    let stored = Arc::new(AtomicUsize::new(0));
    let shape = Shape::closed(args.concurrency, args.duration, args.warmup);
    println!("\nSendReferral, {}:", shape.describe());
    let started = Instant::now();
    let sends = {
        let (clients, next, stored) = (clients.clone(), next.clone(), stored.clone());
        bench_load::drive(shape, Arc::new(vec![String::new()]), move |_, _| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let mut client = clients[n % clients.len()].clone();
            let stored = stored.clone();
            async move {
                let mut call = tonic::Request::new(send(format!("bench-{n}")));
                call.set_timeout(bench_load::CALL_DEADLINE);
                let answer = client.send_referral(call).await;
                if answer.is_ok() {
                    stored.fetch_add(1, Ordering::Relaxed);
                }
                answer.map(|_| false)
            }
        })
        .await?
    };
    let sent = stored.load(Ordering::Relaxed);
    if sent == 0 {
        bail!("no referral was stored: {}", sends.errors_text());
    }
    let delivered_in = all_delivered(fed, sent, started).await?;
    println!("The audit writer alone, {} writers:", args.concurrency);
    let (audit_rate, audit_p50, audit_p99) =
        super::audit::writer_figure(&fed.dir, args.entries, args.concurrency).await?;
    let mut t = Table::new(&["run", "per s", "p50 ms", "p99 ms", "errors"]);
    t.row(vec![
        "SendReferral (stored sealed + audited)".into(),
        format!("{:.0}", sends.throughput()),
        format!("{:.2}", sends.ms(0.5)),
        format!("{:.2}", sends.ms(0.99)),
        sends.errors_text(),
    ]);
    t.row(vec![
        "audit writer alone (group commit)".into(),
        format!("{audit_rate:.0}"),
        format!("{audit_p50:.2}"),
        format!("{audit_p99:.2}"),
        "0".into(),
    ]);
    println!("\n{}", t.render());
    println!(
        "durable sends / audit appends: {:.2} of the audit writer's throughput",
        sends.throughput() / audit_rate.max(1e-9)
    );
    println!(
        "{sent} referrals sent in all; every one in the comune's inbox {:.1} s after the first send",
        delivered_in.as_secs_f64()
    );
    Ok(())
}

/// Waits until the comune's inbox holds `sent` rows; the time since
/// `started`.
async fn all_delivered(
    fed: &crate::sandbox::Federation,
    sent: usize,
    started: Instant,
) -> anyhow::Result<Duration> {
    let file = std::path::absolute(fed.dir.join("comune").join("comune.db"))?;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display())).await?;
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM segnalazioni_in")
            .fetch_one(&db)
            .await?;
        if usize::try_from(n).unwrap_or(0) >= sent {
            db.close().await;
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{n} of {sent} referrals delivered after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
