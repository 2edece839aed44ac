//! `trama bench stats`: how exact the distinct counts are before
//! perturbation (the partners' sketches merged, against the truth read
//! straight from the generated partner databases with plain SQL, apart from
//! the mapping files), and how long a table by need and district takes end
//! to end beside each partner's own counting queries, in the same run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sqlx::Row;
use trama_gateway::stats::table::{self, SourceCounts};
use trama_proto::v1;

use crate::sandbox::{Federation, FederationBuilder};
use crate::seed::Partner;

/// `trama bench stats` arguments.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/stats")]
    pub dir: PathBuf,
    /// People in the synthetic population.
    #[arg(long, default_value_t = 100_000)]
    pub subjects: usize,
    /// Every partner knows every person (4 partners × all the people).
    #[arg(long)]
    pub everyone: bool,
    /// Timed tables.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// The planning office's context.
pub fn planning() -> v1::RequestContext {
    v1::RequestContext {
        purpose: "programmazione".into(),
        case_id: String::new(),
        operator: Some(v1::Operator {
            id: "op-piano-01".into(),
            role: "ufficio_di_piano".into(),
        }),
        legal_basis: String::new(),
    }
}

/// Runs the benchmark.
pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    println!(
        "trama bench stats --subjects {} --runs {}{}",
        args.subjects,
        args.runs,
        if args.everyone { " --everyone" } else { "" }
    );
    println!("machine: {}", super::machine());
    let slow = 600_000;
    let mut builder = FederationBuilder::new(&args.dir)
        .subjects(args.subjects)
        .seed(args.seed)
        .everyone(args.everyone)
        .statistics_cache_seconds(0)
        .source_timeout_ms(slow)
        .announce(true);
    for p in Partner::ALL {
        builder = builder.statement_timeout_ms(p, slow);
    }
    let started = Instant::now();
    let running = builder.start().await?;
    println!(
        "federation ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let result = measure(&running, &args).await;
    running.teardown().await;
    result
}

async fn measure(running: &Federation, args: &StatsArgs) -> anyhow::Result<()> {
    let truth = truth_by_need(running).await?;
    let sketched = sketched_by_need(running).await?;
    println!("\nDistinct people by need, before perturbation: sketches merged against the truth");
    println!(
        "{:<16} {:>10} {:>10} {:>9}  mode",
        "need", "truth", "sketches", "error"
    );
    let mut worst: f64 = 0.0;
    for (need, exact) in &truth {
        let (got, estimated) = sketched.get(need).copied().unwrap_or((0, false));
        let error = got.abs_diff(*exact) as f64 / (*exact).max(1) as f64;
        worst = worst.max(error);
        let mode = if estimated { "estimated" } else { "exact" };
        println!(
            "{need:<16} {exact:>10} {got:>10} {:>8.3}%  {mode}",
            error * 100.0
        );
    }
    println!("largest relative error: {:.3}%", worst * 100.0);
    println!(
        "\nA table by need and district, end to end, beside each partner's counting (same run):"
    );
    let (shell, scanned) = slowest_shell_scan(running)?;
    println!(
        "the slowest partner's own scan of the same facts with the sqlite3 shell: {:.0} ms ({scanned})",
        ms(shell)
    );
    println!(
        "{:>4} {:>12} {:>26} {:>24} {:>14}",
        "run", "Aggregate", "slowest partner, call", "slowest partner, query", "÷ shell scan"
    );
    for run in 1..=args.runs {
        let (slowest_call, slowest_query, who) = partners_alone(running).await?;
        let t = Instant::now();
        let answer = aggregate(running, &["need", "district"]).await?;
        let whole = t.elapsed();
        anyhow::ensure!(
            !answer.partial,
            "the table was partial: {:?}",
            answer.outcomes
        );
        println!(
            "{run:>4} {:>10.0}ms {:>18.0}ms ({who}) {:>16.0}ms ({who}) {:>13.1}x",
            ms(whole),
            ms(slowest_call),
            ms(slowest_query),
            ms(whole) / ms(shell).max(1e-9)
        );
    }
    Ok(())
}

/// The baseline of a table by need and district: each SQLite partner's
/// statistics facts that carry a need, read with the `sqlite3` shell as
/// the partner's own IT person would (only the columns such a count
/// needs, the rows written to nowhere); the slowest partner's time and who.
fn slowest_shell_scan(running: &Federation) -> anyhow::Result<(Duration, String)> {
    let mut slowest = (Duration::ZERO, String::new());
    for p in Partner::ALL {
        let org = p.organisation();
        let Some(file) = running
            .database_url(org)
            .and_then(|u| u.strip_prefix("sqlite://"))
        else {
            continue;
        };
        let path = running
            .dir
            .join(org)
            .join(file.split('?').next().unwrap_or(file));
        let mapping: toml::Table = toml::from_str(p.mapping())?;
        let mut took = Duration::ZERO;
        for sql in need_fact_scans(&mapping) {
            let t = Instant::now();
            let status = std::process::Command::new("sqlite3")
                .arg("-readonly")
                .arg(&path)
                .arg(&sql)
                .stdout(std::process::Stdio::null())
                .status()
                .context("running the sqlite3 shell (apt-get install sqlite3)")?;
            anyhow::ensure!(status.success(), "sqlite3 failed on {org}'s facts");
            took += t.elapsed();
        }
        if took > slowest.0 {
            slowest = (took, org.to_string());
        }
    }
    Ok(slowest)
}

/// For each statistics fact query of `mapping` that maps a need, the
/// query reading only the columns a count by need and district reads.
fn need_fact_scans(mapping: &toml::Table) -> Vec<String> {
    let facts = mapping
        .get("statistics")
        .and_then(|s| s.get("facts"))
        .and_then(|f| f.as_array());
    let column = |columns: &toml::Table, key: &str| match columns.get(key) {
        Some(toml::Value::String(c)) => Some(c.clone()),
        Some(toml::Value::Table(t)) => t.get("column").and_then(|c| c.as_str()).map(str::to_string),
        _ => None,
    };
    facts
        .into_iter()
        .flatten()
        .filter_map(|fact| {
            let sql = fact.get("sql")?.as_str()?;
            let columns = fact.get("columns")?.as_table()?;
            let need = column(columns, "need")?;
            let read: Vec<String> = ["local_id", "tax_code", "district"]
                .into_iter()
                .filter_map(|k| column(columns, k))
                .chain([need])
                .collect();
            Some(format!("SELECT {} FROM ({sql});", read.join(", ")))
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `Aggregate` through the gateway as the planning office.
pub async fn aggregate(running: &Federation, by: &[&str]) -> anyhow::Result<v1::AggregateResponse> {
    let mut client = running.client("comune")?;
    let mut request = tonic::Request::new(v1::AggregateRequest {
        context: Some(planning()),
        group_by: by.iter().map(|s| s.to_string()).collect(),
        filters: Vec::new(),
    });
    request.set_timeout(Duration::from_secs(600));
    Ok(client.aggregate(request).await?.into_inner())
}

/// Each partner's `CountPeople` by need and district, asked directly and
/// in parallel: the slowest partner's whole call, its own database time,
/// and which partner it was.
async fn partners_alone(running: &Federation) -> anyhow::Result<(Duration, Duration, String)> {
    let asks = Partner::ALL.map(|p| async move {
        let t = Instant::now();
        let r = count_people(running, p, &["need", "district"]).await?;
        anyhow::Ok((
            p.organisation(),
            t.elapsed(),
            Duration::from_millis(u64::from(r.query_ms)),
        ))
    });
    let mut slowest = (Duration::ZERO, Duration::ZERO, String::new());
    for done in futures_util::future::join_all(asks).await {
        let (org, call, query) = done?;
        if call > slowest.0 {
            slowest = (call, query, org.to_string());
        }
    }
    Ok(slowest)
}

/// One partner's `CountPeople`, asked with the gateway's certificate as
/// the gateway forwards the planning office's question.
pub async fn count_people(
    running: &Federation,
    partner: Partner,
    by: &[&str],
) -> anyhow::Result<v1::CountPeopleResponse> {
    let org = partner.organisation();
    let address = running.connector(org).context("no such connector")?;
    let mut client =
        super::federation::connector_client(&running.tls("gateway", "gateway"), org, address)?
            .max_decoding_message_size(256 << 20);
    let mut request = tonic::Request::new(v1::CountPeopleRequest {
        context: Some(planning()),
        client_organisation: "comune".into(),
        group_by: by.iter().map(|s| s.to_string()).collect(),
        filters: Vec::new(),
        base_by: Vec::new(),
    });
    request.set_timeout(Duration::from_secs(600));
    Ok(client.count_people(request).await?.into_inner())
}

/// Distinct people by need from the partners' sketches, merged as the
/// gateway merges them, before perturbation: the count and whether it was
/// estimated.
pub async fn sketched_by_need(
    running: &Federation,
) -> anyhow::Result<BTreeMap<String, (u64, bool)>> {
    let mut by_need: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for p in Partner::ALL {
        let r = count_people(running, p, &["need"]).await?;
        let counts = SourceCounts::decode(p.organisation(), &r).map_err(anyhow::Error::msg)?;
        for (values, sketch) in counts.cells {
            let need = values.first().cloned().unwrap_or_default();
            by_need.entry(need).or_default().push(sketch);
        }
    }
    let mut out = BTreeMap::new();
    for (need, parts) in by_need {
        let merged = table::union(parts.iter()).map_err(anyhow::Error::msg)?;
        out.insert(
            need,
            (
                merged.estimate().round() as u64,
                merged.is_estimation_mode(),
            ),
        );
    }
    Ok(out)
}

/// Distinct people by need, read straight from the generated partner
/// databases (SQLite) with plain SQL and the partners' code lists written
/// out here, not through the mapping files: a person is their tax code, or
/// the partner and its own id when the partner has no tax code for them.
pub async fn truth_by_need(running: &Federation) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut people: HashMap<String, HashSet<String>> = HashMap::new();
    for (org, sql, codes) in TRUTH {
        let url = running.database_url(org).context("no database")?;
        let Some(file) = url.strip_prefix("sqlite://") else {
            anyhow::bail!("the truth is read from SQLite partners only");
        };
        let file = file.split('?').next().unwrap_or(file);
        // Relative to the connector's own directory, as the connector reads it.
        let path = running.dir.join(org).join(file);
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let rows = sqlx::query(sql)
            .fetch_all(&pool)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        for row in rows {
            let code: Option<String> = row.try_get(0)?;
            let local: i64 = row.try_get(1)?;
            let need: String = row.try_get(2)?;
            let Some((_, common)) = codes.iter().find(|(l, _)| *l == need) else {
                continue;
            };
            let who = match code.filter(|c| !c.is_empty()) {
                Some(c) => c.to_uppercase(),
                None => format!("{org}:{local}"),
            };
            people.entry(common.to_string()).or_default().insert(who);
        }
        pool.close().await;
    }
    Ok(people
        .into_iter()
        .map(|(k, v)| (k, v.len() as u64))
        .collect())
}

/// Per partner: the SQL reading (tax code, own id, local need code), and
/// the local codes of needs with their common codes.
type TruthQuery = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const TRUTH: [TruthQuery; 5] = [
    (
        "comune",
        "SELECT a.codice_fiscale, a.id_assistito, b.area FROM bisogni b JOIN assistiti a ON a.id_assistito = b.id_assistito",
        &[
            ("ABIT", "housing"),
            ("ALIM", "food"),
            ("REDD", "income"),
            ("LAV", "employment"),
            ("SAL", "health"),
            ("DIP", "addiction"),
            ("PSI", "mental-health"),
            ("DIS", "disability"),
            ("FAM", "family"),
            ("SOLIT", "loneliness"),
            ("LEG", "legal"),
            ("DEB", "debt"),
            ("UTEN", "utilities"),
        ],
    ),
    (
        "caritas",
        "SELECT p.cf, p.id, b.bisogno FROM bisogni_rilevati b JOIN persone p ON p.id = b.persona_id",
        &[
            ("CASA", "housing"),
            ("CIBO", "food"),
            ("LAVORO", "employment"),
            ("SALUTE", "health"),
            ("SOLITUDINE", "loneliness"),
            ("DEBITI", "debt"),
            ("BOLLETTE", "utilities"),
        ],
    ),
    (
        "asl",
        "SELECT a.PAZ_CF, a.PAZ_ID, s.SEG_MOTIVO FROM SEGNALAZIONI s JOIN ANAG_PAZIENTI a ON a.PAZ_ID = s.PAZ_ID",
        &[
            ("DIP", "addiction"),
            ("ALC", "addiction"),
            ("PSI", "mental-health"),
            ("FAM", "family"),
        ],
    ),
    (
        "asl",
        "SELECT a.PAZ_CF, a.PAZ_ID, 'INV' FROM INVALIDITA i JOIN ANAG_PAZIENTI a ON a.PAZ_ID = i.PAZ_ID",
        &[("INV", "disability")],
    ),
    (
        "caf",
        "SELECT d.codfis, d.id_dich, 'LOW' FROM dsu s JOIN dichiaranti d ON d.id_dich = s.id_dich WHERE s.valore_isee_cent < 936000",
        &[("LOW", "income")],
    ),
];
