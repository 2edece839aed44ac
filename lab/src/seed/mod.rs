//! Synthetic data for the demo federation: a population generated
//! deterministically from a seed, and each demo partner's legacy database
//! filled with the part of it that partner knows.

pub mod partners;
pub mod population;
pub mod sink;

pub use partners::Partner;
pub use population::{Population, generate};

/// `trama seed` arguments.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// The demo partner whose schema to create and fill.
    #[arg(long, value_parser = ["comune", "asl", "caritas", "caf"])]
    pub partner: String,
    /// People to generate; every one is written.
    #[arg(long, default_value_t = 10_000)]
    pub subjects: usize,
    /// The database (postgres://..., mysql://..., sqlite://FILE).
    #[arg(long, value_name = "URL")]
    pub db: String,
    /// Seed of the synthetic data: the same seed gives the same people.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Drop the partner's tables first if they exist.
    #[arg(long)]
    pub replace: bool,
}

/// Runs `trama seed`.
pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use partners::Selection;
    use sink::{Engine, Sink};
    let partner = Partner::parse(&args.partner).context("unknown partner")?;
    let engine = Engine::of(&args.db).with_context(|| {
        format!(
            "--db `{}`: expected postgres://, mysql://, mariadb:// or sqlite://",
            args.db
        )
    })?;
    let started = std::time::Instant::now();
    eprintln!("generating {} people (seed {})", args.subjects, args.seed);
    let population = generate(args.seed, args.subjects);
    let mut sink = Sink::connect(&args.db)
        .await
        .with_context(|| format!("opening {}", trama_connector::source::redact(&args.db)))?;
    if args.replace {
        for table in partner.tables() {
            sink.statement(format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
    }
    let bar = indicatif::ProgressBar::new(population.people.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} people  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let written = partners::seed(
        partner,
        &mut sink,
        engine,
        &population,
        Selection::Everyone,
        |n| bar.inc(n),
    )
    .await
    .with_context(|| {
        format!(
            "seeding {} (use --replace to drop existing tables)",
            trama_connector::source::redact(&args.db)
        )
    })?;
    bar.finish_and_clear();
    let rows = sink.written;
    sink.close().await;
    println!(
        "seeded {} with {written} people ({rows} rows) in {:.1} s",
        partner.organisation(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
