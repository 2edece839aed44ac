//! `trama bench load`: a load generator for the Federation calls, over
//! real mutual TLS with a client profile's certificate. Closed loop (a
//! number of calls always in flight) or open loop (calls started at a fixed
//! rate, latency measured from when each was due, so a slow server cannot
//! hide its queue); a warm-up that is not measured; latency in an HDR
//! histogram; a table, or JSON with `--json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tonic::transport::Channel;
use trama_proto::v1::{self, federation_client::FederationClient};

use trama_client::Profile;
use trama_client::render::Table;

/// `trama bench load` arguments.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Client profile (gateway address, certificate, operator, purpose).
    #[arg(long, short)]
    pub profile: PathBuf,
    /// The call: `record` (GetRecord) or `find` (FindSubject by tax code).
    #[arg(long, default_value = "record", value_parser = ["record", "find"])]
    pub call: String,
    /// Sections asked in `record` calls, comma-separated, or `all`.
    #[arg(long, default_value = "needs,interventions")]
    pub sections: String,
    /// Ask about the people of the synthetic population of this size (as the demo and `trama
    /// seed` make it), at random.
    #[arg(long, default_value_t = 2000)]
    pub subjects: usize,
    /// Seed of that population.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Closed loop: calls always in flight.
    #[arg(long, default_value_t = 32, conflicts_with = "rate")]
    pub concurrency: usize,
    /// Open loop: calls started per second, whatever the answers' speed.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The deadline of every call the load generator makes.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| std::process::abort()))
}

/// One call about the person with `tax_code`: `FindSubject` when `find`,
/// else `GetRecord` of `sections`, under `deadline`. Returns whether the
/// answer was partial, and the sources' outcomes.
pub async fn call(
    client: &mut FederationClient<Channel>,
    find: bool,
    context: v1::RequestContext,
    sections: &[i32],
    tax_code: String,
    deadline: Duration,
) -> Result<(bool, Vec<v1::SourceOutcome>), tonic::Status> {
    if find {
        let mut r = tonic::Request::new(v1::FindSubjectRequest {
            context: Some(context),
            query: Some(v1::SubjectQuery {
                tax_code,
                ..Default::default()
            }),
            max_candidates: 5,
        });
        r.set_timeout(deadline);
        client.find_subject(r).await.map(|r| {
            let r = r.into_inner();
            (r.partial, r.outcomes)
        })
    } else {
        let mut r = tonic::Request::new(v1::GetRecordRequest {
            context: Some(context),
            subject: Some(v1::SubjectKey {
                tax_code,
                local_ids: vec![],
            }),
            sections: sections.to_vec(),
        });
        r.set_timeout(deadline);
        client.get_record(r).await.map(|r| {
            let r = r.into_inner();
            (r.partial, r.outcomes)
        })
    }
}

/// The tax codes of the synthetic population of `subjects` people made
/// from `seed` (as the demo and `trama seed` make it).
pub fn tax_codes(seed: u64, subjects: usize) -> Vec<String> {
    crate::seed::generate(seed, subjects)
        .people
        .iter()
        .map(|p| p.tax_code.to_string())
        .collect()
}

/// The delay a `RESOURCE_EXHAUSTED` answer asks for.
fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    use tonic_types::StatusExt;
    (status.code() == tonic::Code::ResourceExhausted)
        .then(|| status.get_details_retry_info().and_then(|r| r.retry_delay))
        .flatten()
}

/// How a load is applied: closed loop (`concurrency` calls always in
/// flight) or open loop (`rate` calls started per second), measured for
/// `duration` after `warmup`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Calls always in flight (closed loop), when `rate` is `None`.
    pub concurrency: usize,
    /// Calls started per second (open loop).
    pub rate: Option<f64>,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
}

impl Shape {
    /// A closed loop of `concurrency` calls in flight, measured for
    /// `duration` seconds after `warmup` seconds.
    pub fn closed(concurrency: usize, duration: u64, warmup: u64) -> Shape {
        Shape {
            concurrency,
            rate: None,
            duration: Duration::from_secs(duration),
            warmup: Duration::from_secs(warmup),
        }
    }

    /// The mode, in words.
    pub fn describe(&self) -> String {
        match self.rate {
            Some(r) => format!("open loop at {r}/s"),
            None => format!("closed loop, {} in flight", self.concurrency),
        }
    }
}

/// What one load measured.
pub struct Report {
    /// Answers received in the measured time.
    pub answered: u64,
    /// Of which partial.
    pub partial: u64,
    /// Errors by gRPC code.
    pub errors: BTreeMap<&'static str, u64>,
    /// Measured time.
    pub elapsed: Duration,
    /// Latency of the answers, in microseconds.
    pub latency: Histogram<u64>,
}

impl Report {
    /// Answers per second.
    pub fn throughput(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// The errors, in words ("0" when none).
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".into();
        }
        self.errors
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "duration_s": self.elapsed.as_secs_f64(),
            "answered": self.answered,
            "partial": self.partial,
            "errors": self.errors,
            "throughput_per_s": self.throughput(),
            "latency_ms": {
                "p50": self.ms(0.5), "p90": self.ms(0.9), "p99": self.ms(0.99),
                "p999": self.ms(0.999), "max": self.latency.max() as f64 / 1000.0,
            },
        })
    }
}

/// The outcome of one call of a load: whether the answer was partial, or
/// the error.
pub type Outcome = Result<bool, tonic::Status>;

/// Applies `shape` of calls of `call` (the `n`th call, about a person
/// chosen at random from `people`) and measures them.
pub async fn drive<F, Fut>(
    shape: Shape,
    people: Arc<Vec<String>>,
    call: F,
) -> anyhow::Result<Report>
where
    F: Fn(usize, String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    if people.is_empty() {
        bail!("no people to ask about");
    }
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Duration, Outcome)>();
    let mut tasks = Vec::new();
    match shape.rate {
        None => {
            for w in 0..shape.concurrency.max(1) {
                let (call, people, stop, tx) =
                    (call.clone(), people.clone(), stop.clone(), tx.clone());
                tasks.push(tokio::spawn(async move {
                    let mut n = w;
                    while !stop.load(Ordering::Relaxed) {
                        let tax = people[fastrand::usize(..people.len())].clone();
                        let started = Instant::now();
                        let r = call(n, tax).await;
                        n = n.wrapping_add(1);
                        // A well-behaved client waits as long as the server
                        // asks when it is over its allowance.
                        let wait = r.as_ref().err().and_then(retry_delay);
                        if tx.send((started.elapsed(), r)).is_err() {
                            break;
                        }
                        if let Some(wait) = wait {
                            tokio::time::sleep(wait).await;
                        }
                    }
                }));
            }
        }
        Some(rate) => {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("--rate must be a positive number of calls per second");
            }
            let (people, stop, tx) = (people.clone(), stop.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                let interval = Duration::from_secs_f64(1.0 / rate);
                let start = Instant::now();
                let mut n: u32 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let due = start + interval * n;
                    n = n.saturating_add(1);
                    tokio::time::sleep_until(due.into()).await;
                    let (call, tx) = (call.clone(), tx.clone());
                    let tax = people[fastrand::usize(..people.len())].clone();
                    tokio::spawn(async move {
                        let r = call(n as usize, tax).await;
                        // From when the call was due: queueing counts.
                        let _ = tx.send((due.elapsed(), r));
                    });
                }
            }));
        }
    }
    drop(tx);

    let started = Instant::now();
    let mut latency = histogram();
    let mut report = Report {
        answered: 0,
        partial: 0,
        errors: BTreeMap::new(),
        elapsed: shape.duration,
        latency: histogram(),
    };
    let mut measure_started = None;
    loop {
        let now = started.elapsed();
        if now >= shape.warmup && !measuring.load(Ordering::Relaxed) {
            measuring.store(true, Ordering::Relaxed);
            measure_started = Some(Instant::now());
        }
        if now >= shape.warmup + shape.duration {
            break;
        }
        let left = (shape.warmup + shape.duration)
            .saturating_sub(now)
            .min(Duration::from_millis(200));
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some((took, result))) => {
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match result {
                    Ok(partial) => {
                        report.answered += 1;
                        report.partial += u64::from(partial);
                        let _ = latency.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                    }
                    Err(s) => {
                        *report
                            .errors
                            .entry(trama_proto::code_name(s.code()))
                            .or_default() += 1
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    report.elapsed = measure_started.map_or(shape.duration, |s| s.elapsed());
    report.latency = latency;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    Ok(report)
}

/// The columns of [`row`].
pub const COLUMNS: [&str; 9] = [
    "answered", "partial", "errors", "calls/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
];

/// A report as a table row (see [`COLUMNS`]).
pub fn row(r: &Report) -> Vec<String> {
    vec![
        r.answered.to_string(),
        r.partial.to_string(),
        r.errors_text(),
        format!("{:.0}", r.throughput()),
        format!("{:.2}", r.ms(0.5)),
        format!("{:.2}", r.ms(0.9)),
        format!("{:.2}", r.ms(0.99)),
        format!("{:.2}", r.ms(0.999)),
        format!("{:.2}", r.latency.max() as f64 / 1000.0),
    ]
}

/// Runs the load and prints the report.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let profile = Profile::load(&args.profile)?;
    let context = profile_context(&profile);
    let sections = Arc::new(trama_client::parse_sections(&args.sections)?);
    let people: Arc<Vec<String>> = Arc::new(tax_codes(args.seed, args.subjects));
    let shape = Shape {
        concurrency: args.concurrency,
        rate: args.rate,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
    };
    let clients = clients(
        &profile,
        match args.rate {
            // Open loop: eight connections, whatever the rate.
            Some(_) => 8 * 16,
            None => args.concurrency,
        },
    )?;
    let report = federation_load(
        shape,
        people,
        &clients,
        &context,
        &sections,
        args.call == "find",
    )
    .await?;
    if args.json {
        let mut v = report.json();
        v["call"] = args.call.clone().into();
        v["mode"] = shape.describe().into();
        v["machine"] = crate::bench::machine().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "trama bench load --call {} ({}) for {} s after {} s of warm-up",
        args.call,
        shape.describe(),
        args.duration,
        args.warmup
    );
    println!("machine: {}", crate::bench::machine());
    let mut t = Table::new(&COLUMNS);
    t.row(row(&report));
    print!("{}", t.render());
    Ok(())
}

/// Federation clients for `in_flight` calls: one client (one HTTP/2
/// connection) per 16 calls in flight, as a client system with a few
/// connections would.
pub fn clients(
    profile: &Profile,
    in_flight: usize,
) -> anyhow::Result<Arc<Vec<FederationClient<Channel>>>> {
    Ok(Arc::new(
        (0..in_flight.div_ceil(16).max(1))
            .map(|_| profile.connect())
            .collect::<Result<_, _>>()
            .context("connecting to the gateway")?,
    ))
}

/// Applies `shape` of `GetRecord` (or, with `find`, `FindSubject`) calls
/// through `clients`, in turn, and measures them.
pub async fn federation_load(
    shape: Shape,
    people: Arc<Vec<String>>,
    clients: &Arc<Vec<FederationClient<Channel>>>,
    context: &v1::RequestContext,
    sections: &Arc<Vec<i32>>,
    find: bool,
) -> anyhow::Result<Report> {
    let (clients, context, sections) = (clients.clone(), context.clone(), sections.clone());
    drive(shape, people, move |n, tax| {
        let mut client = clients[n % clients.len()].clone();
        let (context, sections) = (context.clone(), sections.clone());
        async move {
            call(&mut client, find, context, &sections, tax, CALL_DEADLINE)
                .await
                .map(|(partial, _)| partial)
        }
    })
    .await
}

/// The request context a profile states.
pub fn profile_context(profile: &Profile) -> v1::RequestContext {
    v1::RequestContext {
        purpose: profile.purpose.clone().unwrap_or_default(),
        case_id: profile.case_id.clone().unwrap_or_default(),
        operator: Some(v1::Operator {
            id: profile.operator.id.clone(),
            role: profile.operator.role.clone(),
        }),
        legal_basis: String::new(),
    }
}
