//! `trama bench match`: the quality and speed of finding people at one
//! connector. It regenerates the synthetic population the database was
//! seeded with (same `--subjects` and `--seed`), asks the connector runtime
//! the queries of the test set ([`crate::quality`]), and reports precision
//! and recall of the top candidate, and latency in HDR histograms, with the
//! database's own indexed lookup measured in the same run as the baseline.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use trama_connector::mapping::Mapping;
use trama_connector::runtime::Connector;
use trama_connector::source::{Database, Limits, Param};

use crate::quality::{self, NOISE, Noise};
use crate::seed::Partner;
use trama_client::render::Table;

/// `trama bench match` arguments.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// The demo partner whose mapping to use.
    #[arg(long, value_parser = ["comune", "asl", "caritas", "caf"])]
    pub partner: String,
    /// The database, as seeded by `trama seed`.
    #[arg(long, value_name = "URL")]
    pub db: String,
    /// The `--subjects` the database was seeded with.
    #[arg(long)]
    pub subjects: usize,
    /// The `--seed` the database was seeded with.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Queries in the test set.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Queries run first and not measured.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
}

/// One query's result.
struct Outcome {
    noise: Noise,
    truth: Option<String>,
    top: Option<(String, f64)>,
    took: Duration,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: MatchArgs) -> anyhow::Result<()> {
    let partner = Partner::parse(&args.partner).context("unknown partner")?;
    let mapping = Mapping::parse(
        Path::new(&format!("{}/mapping.toml", partner.organisation())),
        partner.mapping(),
    )?;
    let limits = Limits {
        max_connections: 4,
        statement_timeout: Duration::from_secs(5),
    };
    let db = Database::connect(&args.db, limits).await?;
    let connector = Connector::new(partner.organisation().to_string(), mapping, db);
    connector
        .check()
        .await
        .context("the mapping does not fit the database")?;

    eprintln!("regenerating {} people (seed {})", args.subjects, args.seed);
    let population = crate::seed::generate(args.seed, args.subjects);
    let set = quality::test_set(&population, args.queries + args.warmup, args.seed);
    let (warmup, measured) = set.split_at(args.warmup.min(set.len()));
    // The request edge as the service runs it, then the runtime.
    let today = time::OffsetDateTime::now_utc().date();
    let lookup = |q: &trama_proto::v1::SubjectQuery| {
        trama_connector::from_proto::lookup(Some(q), partner.organisation(), today)
    };
    for q in warmup {
        let _ = connector.match_subject(&lookup(&q.query)?, 10).await?;
    }

    let mut outcomes = Vec::with_capacity(measured.len());
    for q in measured {
        let started = Instant::now();
        let candidates = connector.match_subject(&lookup(&q.query)?, 10).await?;
        let took = started.elapsed();
        let top = candidates
            .first()
            .map(|c| (c.person.local_id.clone(), c.score));
        outcomes.push(Outcome {
            noise: q.noise,
            truth: q.truth.map(|i| partner.local_id(i)),
            top,
            took,
        });
    }

    // Baseline: the same indexed lookup by tax code, sent straight to the
    // database through the same pool, without the connector's matching.
    let baseline = baseline(&connector, &population, args.queries.min(1000), args.seed).await?;

    let report = report(&args, &connector, &outcomes, &baseline).await;
    print!("{report}");
    Ok(())
}

async fn baseline(
    connector: &Connector,
    population: &crate::seed::Population,
    n: usize,
    seed: u64,
) -> anyhow::Result<Histogram<u64>> {
    let mut histogram = Histogram::<u64>::new(3)?;
    let Some(query) = connector.mapping.matching.tax_code.clone() else {
        return Ok(histogram);
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..n {
        let p = &population.people[rng.usize(..population.people.len())];
        let values = HashMap::from([("tax_code", Param::Text(Some(p.tax_code.to_string())))]);
        let started = Instant::now();
        connector.run_raw(&query, &values).await?;
        let _ = histogram.record(started.elapsed().as_micros() as u64);
    }
    Ok(histogram)
}

fn histogram_of<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable_histogram());
    for o in outcomes {
        let _ = h.record(o.took.as_micros() as u64);
    }
    h
}

/// A histogram that cannot fail to build (3 significant figures is valid).
fn unreachable_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap_or_else(|_| std::process::abort())
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// Precision and recall of the top candidate at `threshold`.
fn precision_recall(outcomes: &[Outcome], threshold: f64) -> (f64, f64, usize) {
    let mut returned = 0usize;
    let mut correct = 0usize;
    let mut present = 0usize;
    for o in outcomes {
        if o.truth.is_some() {
            present += 1;
        }
        if let Some((id, score)) = &o.top
            && *score >= threshold
        {
            returned += 1;
            if o.truth.as_deref() == Some(id.as_str()) {
                correct += 1;
            }
        }
    }
    let precision = if returned == 0 {
        1.0
    } else {
        correct as f64 / returned as f64
    };
    let recall = if present == 0 {
        0.0
    } else {
        correct as f64 / present as f64
    };
    (precision, recall, returned)
}

async fn report(
    args: &MatchArgs,
    connector: &Connector,
    outcomes: &[Outcome],
    baseline: &Histogram<u64>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trama bench match --partner {} --db {} --subjects {} --seed {} --queries {}",
        args.partner,
        trama_connector::source::redact(&args.db),
        args.subjects,
        args.seed,
        args.queries
    );
    let _ = writeln!(out, "machine: {}", super::machine());
    let _ = writeln!(out, "database: {}", connector.db.engine());
    let _ = writeln!(out, "date: {}", time::OffsetDateTime::now_utc().date());

    // Quality: the threshold with the best recall at precision >= 0.99.
    let thresholds: Vec<f64> = (10..=19).map(|i| f64::from(i) * 0.05).collect();
    let mut t = Table::new(&["threshold", "precision", "recall", "answered"]);
    let mut chosen = None;
    for th in &thresholds {
        let (p, r, n) = precision_recall(outcomes, *th);
        t.row(vec![
            format!("{th:.2}"),
            format!("{p:.4}"),
            format!("{r:.4}"),
            n.to_string(),
        ]);
        if p >= 0.99 && chosen.is_none_or(|(_, best)| r > best) {
            chosen = Some((*th, r));
        }
    }
    let _ = writeln!(
        out,
        "\nTop-candidate precision and recall ({} queries; {} of people not in the database)",
        outcomes.len(),
        outcomes.iter().filter(|o| o.truth.is_none()).count()
    );
    out.push_str(&t.render());
    let th = match chosen {
        Some((th, _)) => {
            let (p, r, _) = precision_recall(outcomes, th);
            let _ = writeln!(
                out,
                "best recall at precision >= 0.99: threshold {th:.2}, precision {p:.4}, recall {r:.4}"
            );
            th
        }
        None => {
            let best = thresholds
                .iter()
                .copied()
                .max_by(|a, b| {
                    let (pa, ra, _) = precision_recall(outcomes, *a);
                    let (pb, rb, _) = precision_recall(outcomes, *b);
                    pa.total_cmp(&pb).then(ra.total_cmp(&rb))
                })
                .unwrap_or(0.85);
            let _ = writeln!(
                out,
                "no threshold reaches precision 0.99; the best precision is at {best:.2}"
            );
            best
        }
    };
    let mut by = Table::new(&[
        "noise",
        "share %",
        "queries",
        "right",
        "wrong person",
        "recall",
    ]);
    for (noise, share) in NOISE {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.noise == *noise).collect();
        if of.is_empty() {
            continue;
        }
        let answered = |o: &Outcome| o.top.as_ref().is_some_and(|(_, s)| *s >= th);
        let right = of
            .iter()
            .filter(|o| match (&o.top, &o.truth) {
                (Some((id, s)), Some(truth)) => *s >= th && id == truth,
                (top, None) => top.as_ref().is_none_or(|(_, s)| *s < th),
                _ => false,
            })
            .count();
        let wrong = of
            .iter()
            .filter(|o| answered(o) && o.top.as_ref().map(|(id, _)| id) != o.truth.as_ref())
            .count();
        by.row(vec![
            noise.name().into(),
            share.to_string(),
            of.len().to_string(),
            right.to_string(),
            wrong.to_string(),
            format!("{:.3}", right as f64 / of.len() as f64),
        ]);
    }
    let _ = writeln!(
        out,
        "\nBy kind of noise, at threshold {th:.2} (for absent people, right = nothing returned)"
    );
    out.push_str(&by.render());

    let exact = histogram_of(outcomes.iter().filter(|o| o.noise == Noise::TaxCode));
    let fuzzy = histogram_of(outcomes.iter().filter(|o| o.noise != Noise::TaxCode));
    let mut lat = Table::new(&[
        "query",
        "count",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "p99 / baseline p99",
    ]);
    let base_p99 = baseline.value_at_quantile(0.99).max(1);
    for (name, h) in [
        ("database lookup by tax code (baseline)", baseline),
        ("connector match by tax code", &exact),
        ("connector fuzzy match", &fuzzy),
    ] {
        lat.row(vec![
            name.into(),
            h.len().to_string(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            format!("{:.2}", h.value_at_quantile(0.99) as f64 / base_p99 as f64),
        ]);
    }
    let _ = writeln!(
        out,
        "\nLatency, one query at a time, connector runtime in process (no gRPC)"
    );
    out.push_str(&lat.render());
    out
}
