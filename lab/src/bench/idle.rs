//! `trama bench idle`: what each process of a federation costs while no
//! call arrives. Starts the demo federation of `--subjects` people (every
//! partner, the gateway with its polls of the partners' catalogues and
//! referral tables), lets it settle, then reads each process's CPU time
//! over `--seconds` with nothing asked, and prints it as a share of one
//! core. An idle node must not scan its partner's data: the figure should
//! not grow with the number of people.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::sandbox::FederationBuilder;

/// `trama bench idle` arguments.
#[derive(Debug, clap::Args)]
pub struct IdleArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/idle")]
    pub dir: PathBuf,
    /// People in the synthetic population.
    #[arg(long, default_value_t = 100_000)]
    pub subjects: usize,
    /// Seconds to settle after the start before measuring.
    #[arg(long, default_value_t = 10)]
    pub settle: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
}

/// Runs the measurement and prints each process's share of a core.
pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the trama binary")?;
    println!(
        "trama bench idle: the demo federation, {} people, nothing asked for {} s\nmachine: {}\n",
        args.subjects,
        args.seconds,
        crate::bench::machine()
    );
    let running = FederationBuilder::new(&args.dir)
        .exe(&exe)
        .subjects(args.subjects)
        .start()
        .await?;
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let read = |pids: &[(String, u32)]| -> Vec<f64> {
        pids.iter()
            .map(|(_, pid)| {
                super::federation::cpu_seconds(&format!("/proc/{pid}/stat")).unwrap_or(0.0)
            })
            .collect()
    };
    let pids = running.pids();
    let before = read(&pids);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let after = read(&pids);
    let wall = started.elapsed().as_secs_f64();
    running.stop().await;
    println!("| process | CPU while idle (% of one core) |");
    println!("|---|---|");
    for (((name, _), b), a) in pids.iter().zip(&before).zip(&after) {
        println!("| {name} | {:.2} % |", (a - b) / wall * 100.0);
    }
    Ok(())
}
