//! `trama bench match`: the quality and speed of finding people at one
//! connector. The queries are a labelled set: generated from the synthetic
//! population a demo partner's database was seeded with (same `--subjects`
//! and `--seed`, [`crate::quality`]), which `--write-labelled` saves as a
//! file; or a partner's own file (`--labelled`), run against any connector
//! (`--config`): one JSON object per line, the query's fields, the local id
//! of the person it is about (`truth`, null when absent) and its kind. It
//! reports precision and recall of the top candidate by kind, and latency
//! in HDR histograms, with the database's own indexed lookup by tax code
//! measured in the same run as the baseline.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use trama_connector::mapping::Mapping;
use trama_connector::runtime::Connector;
use trama_connector::source::{Database, Limits, Param};
use trama_proto::v1;

use crate::quality;
use crate::seed::Partner;
use trama_client::render::Table;

/// `trama bench match` arguments.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// The demo partner whose mapping to use (with --db and --subjects).
    #[arg(long, value_parser = ["comune", "asl", "caritas", "caf"], required_unless_present = "config")]
    pub partner: Option<String>,
    /// The database, as seeded by `trama seed`.
    #[arg(long, value_name = "URL", requires = "partner")]
    pub db: Option<String>,
    /// The `--subjects` the database was seeded with.
    #[arg(long, requires = "partner")]
    pub subjects: Option<usize>,
    /// The `--seed` the database was seeded with.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Queries in the test set.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Queries run first and not measured.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Save the generated test set as a labelled file (the format --labelled reads).
    #[arg(long, value_name = "FILE", requires = "partner")]
    pub write_labelled: Option<PathBuf>,
    /// Any connector's configuration file (its mapping and database), instead of a demo partner.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "partner",
        requires = "labelled"
    )]
    pub config: Option<PathBuf>,
    /// The labelled queries to ask it: one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub labelled: Option<PathBuf>,
}

/// One labelled query, as a line of a labelled file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Labelled {
    /// The kind of query (for example `family-name typo`), for the report.
    pub kind: String,
    /// The partner's local id of the person it is about; null when the
    /// person is not in the database.
    pub truth: Option<String>,
    /// Tax code.
    pub tax_code: String,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Belfiore code of the birthplace.
    pub birthplace_code: String,
    /// `female` or `male`.
    pub sex: String,
    /// A partial or mistyped tax code.
    pub tax_code_fragment: String,
}

impl Labelled {
    /// The query as the gateway would send it.
    fn query(&self) -> anyhow::Result<v1::SubjectQuery> {
        let birth_date = match self.birth_date.as_str() {
            "" => None,
            text => {
                let d =
                    time::Date::parse(text, &time::format_description::well_known::Iso8601::DATE)
                        .with_context(|| format!("birth_date `{text}` is not YYYY-MM-DD"))?;
                Some(v1::Date {
                    year: d.year(),
                    month: i32::from(u8::from(d.month())),
                    day: i32::from(d.day()),
                })
            }
        };
        let sex = match self.sex.as_str() {
            "female" => v1::Sex::Female,
            "male" => v1::Sex::Male,
            _ => v1::Sex::Unspecified,
        };
        Ok(v1::SubjectQuery {
            tax_code: self.tax_code.clone(),
            local_id: None,
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            birth_date,
            birthplace_code: self.birthplace_code.clone(),
            sex: sex as i32,
            tax_code_fragment: self.tax_code_fragment.clone(),
        })
    }

    /// A generated test query, its person named by `partner`'s local id.
    fn of(q: &quality::TestQuery, partner: Partner) -> Labelled {
        let d = q.query.birth_date.as_ref();
        Labelled {
            kind: q.noise.name().into(),
            truth: q.truth.map(|i| partner.local_id(i)),
            tax_code: q.query.tax_code.clone(),
            family_name: q.query.family_name.clone(),
            given_name: q.query.given_name.clone(),
            birth_date: d.map_or_else(String::new, |d| {
                format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
            }),
            birthplace_code: q.query.birthplace_code.clone(),
            sex: match v1::Sex::try_from(q.query.sex) {
                Ok(v1::Sex::Female) => "female".into(),
                Ok(v1::Sex::Male) => "male".into(),
                _ => String::new(),
            },
            tax_code_fragment: q.query.tax_code_fragment.clone(),
        }
    }
}

/// One query's result.
struct Outcome {
    kind: String,
    truth: Option<String>,
    top: Option<(String, f64)>,
    took: Duration,
}

/// The kind of the queries by tax code alone (the exact lookups).
const BY_TAX_CODE: &str = "tax code";

/// Runs the benchmark and prints its report.
pub async fn run(args: MatchArgs) -> anyhow::Result<()> {
    let (connector, set) = match &args.config {
        Some(config) => any_connector(config, args.labelled.as_deref()).await?,
        None => demo_partner(&args).await?,
    };
    let organisation = connector.organisation.clone();
    // A generated set holds exactly the warm-up and the measured queries;
    // a file's warm-up takes at most half of it.
    let cap = if args.config.is_some() {
        set.len() / 2
    } else {
        set.len()
    };
    let (warmup, measured) = set.split_at(args.warmup.min(cap));
    // The request edge as the service runs it, then the runtime.
    let today = time::OffsetDateTime::now_utc().date();
    let lookup = |q: &Labelled| -> anyhow::Result<_> {
        Ok(trama_connector::from_proto::lookup(
            Some(&q.query()?),
            &organisation,
            today,
        )?)
    };
    for q in warmup {
        let _ = connector.match_subject(&lookup(q)?, 10).await?;
    }
    let mut outcomes = Vec::with_capacity(measured.len());
    for q in measured {
        let started = Instant::now();
        let candidates = connector.match_subject(&lookup(q)?, 10).await?;
        let took = started.elapsed();
        outcomes.push(Outcome {
            kind: q.kind.clone(),
            truth: q.truth.clone(),
            top: candidates
                .first()
                .map(|c| (c.person.local_id.clone(), c.score)),
            took,
        });
    }
    // Baseline: the same indexed lookup by tax code, sent straight to the
    // database through the same pool, without the connector's matching.
    let codes: Vec<String> = set
        .iter()
        .filter(|q| q.truth.is_some() && !q.tax_code.is_empty())
        .map(|q| q.tax_code.clone())
        .collect();
    let baseline = baseline(&connector, &codes, args.queries.min(1000), args.seed).await?;
    let report = report(&args, &connector, &outcomes, &baseline).await;
    print!("{report}");
    Ok(())
}

/// A demo partner's connector over `--db`, and the test set generated from
/// the population it was seeded with (saved when asked).
async fn demo_partner(args: &MatchArgs) -> anyhow::Result<(Connector, Vec<Labelled>)> {
    let name = args.partner.as_deref().context("--partner or --config")?;
    let partner = Partner::parse(name).context("unknown partner")?;
    let db = args
        .db
        .as_deref()
        .context("--db: the database `trama seed` filled")?;
    let subjects = args
        .subjects
        .context("--subjects: as `trama seed` was given")?;
    let mapping = Mapping::parse(
        Path::new(&format!("{}/mapping.toml", partner.organisation())),
        partner.mapping(),
    )?;
    let limits = Limits {
        max_connections: 4,
        statement_timeout: Duration::from_secs(5),
    };
    let connector = Connector::new(
        partner.organisation().to_string(),
        mapping,
        Database::connect(db, limits).await?,
    );
    connector
        .check()
        .await
        .context("the mapping does not fit the database")?;
    eprintln!("regenerating {subjects} people (seed {})", args.seed);
    let population = crate::seed::generate(args.seed, subjects);
    let set: Vec<Labelled> = quality::test_set(&population, args.queries + args.warmup, args.seed)
        .iter()
        .map(|q| Labelled::of(q, partner))
        .collect();
    if let Some(path) = &args.write_labelled {
        let lines: Vec<String> = set
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?;
        std::fs::write(path, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {} labelled queries to {}", set.len(), path.display());
    }
    Ok((connector, set))
}

/// The connector `config` describes (its mapping and database, checked),
/// and the labelled queries of `labelled`.
async fn any_connector(
    config: &Path,
    labelled: Option<&Path>,
) -> anyhow::Result<(Connector, Vec<Labelled>)> {
    let config = trama_connector::ConnectorConfig::load(config)?;
    let connector = trama_connector::startup::prepare(&config).await?;
    let path = labelled.context("--labelled: the queries to ask")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut set = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let q: Labelled = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not a labelled query", path.display(), i + 1))?;
        q.query()
            .with_context(|| format!("{} line {}", path.display(), i + 1))?;
        set.push(q);
    }
    anyhow::ensure!(!set.is_empty(), "{}: no labelled query", path.display());
    Ok((connector, set))
}

async fn baseline(
    connector: &Connector,
    codes: &[String],
    n: usize,
    seed: u64,
) -> anyhow::Result<Histogram<u64>> {
    let mut histogram = Histogram::<u64>::new(3)?;
    let Some(query) = connector.mapping.matching.tax_code.clone() else {
        return Ok(histogram);
    };
    if codes.is_empty() {
        return Ok(histogram);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..n {
        let code = &codes[rng.usize(..codes.len())];
        let values = HashMap::from([("tax_code", Param::Text(Some(code.clone())))]);
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
    let _ = match (&args.config, &args.partner) {
        (Some(config), _) => writeln!(
            out,
            "trama bench match --config {} --labelled {}",
            config.display(),
            args.labelled.as_deref().unwrap_or(Path::new("")).display()
        ),
        (None, partner) => writeln!(
            out,
            "trama bench match --partner {} --db {} --subjects {} --seed {} --queries {}",
            partner.as_deref().unwrap_or_default(),
            trama_connector::source::redact(args.db.as_deref().unwrap_or_default()),
            args.subjects.unwrap_or_default(),
            args.seed,
            args.queries
        ),
    };
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
        "kind",
        "share %",
        "queries",
        "right",
        "wrong person",
        "recall",
    ]);
    let mut kinds: Vec<&str> = Vec::new();
    for o in outcomes {
        if !kinds.contains(&o.kind.as_str()) {
            kinds.push(&o.kind);
        }
    }
    for kind in kinds {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        let share = (of.len() * 100).div_ceil(outcomes.len().max(1));
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
            kind.to_string(),
            share.to_string(),
            of.len().to_string(),
            right.to_string(),
            wrong.to_string(),
            format!("{:.3}", right as f64 / of.len() as f64),
        ]);
    }
    let _ = writeln!(
        out,
        "\nBy kind of query, at threshold {th:.2} (for absent people, right = nothing returned)"
    );
    out.push_str(&by.render());

    let exact = histogram_of(outcomes.iter().filter(|o| o.kind == BY_TAX_CODE));
    let fuzzy = histogram_of(outcomes.iter().filter(|o| o.kind != BY_TAX_CODE));
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
