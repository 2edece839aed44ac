//! The lab's commands on the command line: the demo federation, seeding,
//! the soak and the benchmarks, handed to `trama-lab`. Built with the
//! `lab` feature (on by default, so `cargo run -- demo` works from a
//! checkout); the installed package is built without it.

use clap::Subcommand;

/// The lab's subcommands.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Run a local demo federation: PKI, five partner databases, five connectors, a gateway and two consoles.
    Demo(trama_lab::demo::DemoArgs),
    /// Fill a demo partner's legacy database with synthetic people.
    Seed(trama_lab::seed::SeedArgs),
    /// Drive a demo federation for a set time, with faults, and report errors, latency and memory.
    Soak(trama_lab::soak::SoakArgs),
    /// Measure: matching at a connector, audit writes, load on a gateway, the gateway against its baselines.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// `trama bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Precision, recall and latency of finding people at one connector.
    Match(trama_lab::bench::matching::MatchArgs),
    /// Throughput and latency of durable audit writes: group commit against one sync per entry.
    Audit(trama_lab::bench::audit::AuditArgs),
    /// Load a gateway with Federation calls (closed or open loop) and report latency.
    Load(trama_lab::bench::load::LoadArgs),
    /// The gateway against its baselines in one run: direct to the slowest connector, through
    /// nginx, a naive sequential client; then 32 sources, and memory with 1,000 calls open.
    Federation(trama_lab::bench::federation::FederationArgs),
    /// Statistics: distinct counts against the truth before perturbation, and a table by need
    /// and district end to end beside each partner's own counting, in the same run.
    Stats(trama_lab::bench::stats::StatsArgs),
    /// Statistics attacked: each attack a planner can run, over many trials against a real
    /// federation, scored against the partners' own data beside the majority guess.
    Attacks(trama_lab::bench::attacks::AttacksArgs),
    /// The console's record page: its server-side time with operators working at once, beside
    /// the bare GetRecord it asks for, in the same run.
    Console(trama_lab::bench::console::ConsoleArgs),
    /// The catalogue of services: SearchServices with thousands of services from many partners
    /// and searches in flight, beside ListSources in the same run; a change's time to show.
    Services(trama_lab::bench::services::ServicesArgs),
    /// Durable referral sends at many in flight, beside the audit writer's own figure in the same
    /// run; then how long every referral takes to reach the target's inbox.
    Referrals(trama_lab::bench::referrals::ReferralsArgs),
    /// What each process of the demo federation costs while no call arrives, as a share of
    /// one core: an idle node must not scan its partner's data.
    Idle(trama_lab::bench::idle::IdleArgs),
    /// Gateway replicas on shared PostgreSQL: GetRecord throughput through one gateway and two,
    /// and one call's latency with the audit log in PostgreSQL beside SQLite, in the same run.
    Replicas(trama_lab::bench::replicas::ReplicasArgs),
}

/// Runs a lab command.
pub async fn run(command: LabCommand) -> anyhow::Result<()> {
    match command {
        LabCommand::Demo(args) => trama_lab::demo::run(args).await,
        LabCommand::Seed(args) => trama_lab::seed::run(args).await,
        LabCommand::Soak(args) => trama_lab::soak::run(args).await,
        LabCommand::Bench { command } => bench(command).await,
    }
}

/// Runs a benchmark.
async fn bench(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Match(args) => trama_lab::bench::matching::run(args).await,
        BenchCommand::Audit(args) => trama_lab::bench::audit::run(args).await,
        BenchCommand::Load(args) => trama_lab::bench::load::run(args).await,
        BenchCommand::Federation(args) => trama_lab::bench::federation::run(args).await,
        BenchCommand::Stats(args) => trama_lab::bench::stats::run(args).await,
        BenchCommand::Attacks(args) => trama_lab::bench::attacks::run(args).await,
        BenchCommand::Console(args) => trama_lab::bench::console::run(args).await,
        BenchCommand::Services(args) => trama_lab::bench::services::run(args).await,
        BenchCommand::Referrals(args) => trama_lab::bench::referrals::run(args).await,
        BenchCommand::Idle(args) => trama_lab::bench::idle::run(args).await,
        BenchCommand::Replicas(args) => trama_lab::bench::replicas::run(args).await,
    }
}
