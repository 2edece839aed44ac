//! `trama bench console`: the server-side time of the console's record page
//! under a scripted session of `--operators` operators working at once
//! against the demo federation, beside the bare `GetRecord` the page asks
//! the gateway for, with the same people, purpose and sections, in the same
//! run. Each operator signs in (the sign-in form with its token, then the
//! session cookie) and reads records one after another over HTTPS; the
//! console's own time per page comes from its `Server-Timing` header. The
//! bare calls run the same number in flight, before and after the console
//! runs, so a drift of the machine shows.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trama_console::session::cookie_name;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use trama_proto::v1;

use crate::bench::load::{self as bench_load, Report, Shape};
use crate::sandbox::{ConsoleAccount, Federation, FederationBuilder};

/// `trama bench console` arguments.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/console")]
    pub dir: PathBuf,
    /// People in the synthetic population (the demo's size by default).
    #[arg(long, default_value_t = 2000)]
    pub subjects: usize,
    /// Operators working at once, each in their own session.
    #[arg(long, default_value_t = 20)]
    pub operators: usize,
    /// Measured seconds of each run.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Seconds of work before each run is measured.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// The sections an operator reads on the record page.
const SECTIONS: [&str; 4] = ["housing", "needs", "interventions", "support_network"];

/// The context the page states: a social worker taking a case in charge.
fn context(operator: &str) -> v1::RequestContext {
    v1::RequestContext {
        purpose: "presa_in_carico".into(),
        case_id: "CS-BENCH-0001".into(),
        operator: Some(v1::Operator {
            id: operator.into(),
            role: "assistente_sociale".into(),
        }),
        legal_basis: String::new(),
    }
}

/// Runs the benchmark and prints its table.
pub async fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    println!(
        "trama bench console --subjects {} --operators {} --duration {} --warmup {}",
        args.subjects, args.operators, args.duration, args.warmup
    );
    println!("machine: {}", super::machine());
    let exe = std::env::current_exe().context("locating the trama binary")?;
    // Operators read random people under one case id: the gateway takes
    // the comune's case ids as stated, so that the console is measured as
    // in earlier runs.
    let mut fed = FederationBuilder::new(&args.dir)
        .subjects(args.subjects)
        .seed(args.seed)
        .exe(exe)
        .cases_taken_as_stated(&["comune", "asl"])
        .start()
        .await?;
    let accounts: Vec<ConsoleAccount> = (1..=args.operators).map(account).collect();
    let address = fed
        .start_console("console-bench", "comune", accounts.clone())
        .await?;
    let people = Arc::new(bench_load::tax_codes(args.seed, args.subjects));
    let shape = Shape::closed(args.operators, args.duration, args.warmup);
    let bare_before = bare(&fed, shape, &people).await?;
    let pages = pages(&args, &address, &accounts, &people).await?;
    let bare_after = bare(&fed, shape, &people).await?;
    print_table(&args, &pages, &bare_before, &bare_after);
    fed.stop().await;
    Ok(())
}

fn account(n: usize) -> ConsoleAccount {
    ConsoleAccount {
        username: format!("operatore.{n:02}"),
        name: format!("Operatore {n:02}"),
        role: "assistente_sociale".into(),
        password: format!("password dell'operatore {n:02} per la prova"),
    }
}

/// The bare `GetRecord` the page asks for, `shape` in flight.
async fn bare(fed: &Federation, shape: Shape, people: &Arc<Vec<String>>) -> anyhow::Result<Report> {
    let clients = Arc::new(vec![fed.client("comune")?]);
    let sections: Vec<i32> = SECTIONS
        .iter()
        .filter_map(|s| trama_proto::sections::parse(s))
        .map(|s| s as i32)
        .collect();
    bench_load::federation_load(
        shape,
        people.clone(),
        &clients,
        &context("operatore.bench"),
        &Arc::new(sections),
        false,
    )
    .await
}

/// What the record pages measured.
struct Pages {
    /// The console's own time per page (`Server-Timing`), microseconds.
    server: Histogram<u64>,
    /// The time the operator waited, microseconds.
    waited: Histogram<u64>,
    /// Pages read in the measured time.
    read: u64,
    /// Pages that were not `200`.
    failed: u64,
    elapsed: Duration,
}

/// Every operator signs in, then reads records until the time is up.
async fn pages(
    args: &ConsoleArgs,
    address: &str,
    accounts: &[ConsoleAccount],
    people: &Arc<Vec<String>>,
) -> anyhow::Result<Pages> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(args.dir.join("pki/ca.pem"))?)?;
    let origin = format!(
        "https://localhost:{}",
        address.rsplit(':').next().unwrap_or("0")
    );
    let start = Instant::now() + Duration::from_secs(args.warmup);
    let end = start + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for a in accounts {
        let operator = Operator::sign_in(&origin, &ca, a).await?;
        let people = people.clone();
        tasks.push(tokio::spawn(async move {
            operator.work(&people, start, end).await
        }));
    }
    let mut all = Pages {
        server: histogram(),
        waited: histogram(),
        read: 0,
        failed: 0,
        elapsed: Duration::from_secs(args.duration),
    };
    for t in tasks {
        let mine = t.await.context("an operator's session stopped")?;
        all.server.add(&mine.server).ok();
        all.waited.add(&mine.waited).ok();
        all.read += mine.read;
        all.failed += mine.failed;
    }
    Ok(all)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| std::process::abort()))
}

/// One operator's session.
struct Operator {
    http: reqwest::Client,
    origin: String,
    cookie: String,
    csrf: String,
}

impl Operator {
    /// Signs in with the form, as a browser would: the page's token and
    /// its cookie, then the session cookie.
    async fn sign_in(
        origin: &str,
        ca: &reqwest::Certificate,
        a: &ConsoleAccount,
    ) -> anyhow::Result<Operator> {
        let http = reqwest::Client::builder()
            .add_root_certificate(ca.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let form = http.get(format!("{origin}/login")).send().await?;
        let bound = cookie(&form, &cookie_name("comune", "login"))?;
        let token = hidden(&form.text().await?, "csrf")?;
        let body = format!(
            "csrf={token}&username={}&password={}",
            encode(&a.username),
            encode(&a.password)
        );
        let signed = http
            .post(format!("{origin}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", bound)
            .body(body)
            .send()
            .await?;
        if signed.status() != reqwest::StatusCode::SEE_OTHER {
            bail!("{} could not sign in: {}", a.username, signed.status());
        }
        let session = cookie(&signed, &cookie_name("comune", "session"))?;
        let find = http
            .get(format!("{origin}/find"))
            .header("cookie", &session)
            .send()
            .await?;
        let csrf = hidden(&find.text().await?, "csrf")?;
        Ok(Operator {
            http,
            origin: origin.into(),
            cookie: session,
            csrf,
        })
    }

    /// Reads records of people drawn at random until `end`, measuring
    /// from `start`.
    async fn work(self, people: &[String], start: Instant, end: Instant) -> Pages {
        let mut mine = Pages {
            server: histogram(),
            waited: histogram(),
            read: 0,
            failed: 0,
            elapsed: Duration::ZERO,
        };
        let sections: String = SECTIONS.iter().map(|s| format!("&sections={s}")).collect();
        while Instant::now() < end {
            let tax = &people[fastrand::usize(..people.len())];
            let body = format!(
                "csrf={}&tax_code={tax}&purpose=presa_in_carico&case_id=CS-BENCH-0001{sections}",
                self.csrf
            );
            let asked = Instant::now();
            let answer = self
                .http
                .post(format!("{}/record", self.origin))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &self.cookie)
                .body(body)
                .send()
                .await;
            let Ok(answer) = answer else {
                mine.failed += 1;
                continue;
            };
            let server = server_time(&answer);
            let ok = answer.status() == reqwest::StatusCode::OK;
            let _ = answer.bytes().await;
            if asked < start {
                continue;
            }
            match (ok, server) {
                (true, Some(us)) => {
                    mine.server.record(us.max(1)).ok();
                    mine.waited
                        .record(u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX))
                        .ok();
                    mine.read += 1;
                }
                _ => mine.failed += 1,
            }
        }
        mine
    }
}

/// The console's `Server-Timing: app;dur=<ms>`, in microseconds.
fn server_time(r: &reqwest::Response) -> Option<u64> {
    let value = r.headers().get("server-timing")?.to_str().ok()?;
    let ms: f64 = value.split("dur=").nth(1)?.parse().ok()?;
    Some((ms * 1000.0).round() as u64)
}

/// The `name=value` of the cookie `name` the response sets.
fn cookie(r: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(String::from)
        .with_context(|| format!("the console did not set {name}"))
}

/// The value of the hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> anyhow::Result<String> {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(String::from)
        .with_context(|| format!("no {name} field on the page"))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn print_table(args: &ConsoleArgs, pages: &Pages, before: &Report, after: &Report) {
    let bare_p50 = (before.ms(0.5) + after.ms(0.5)) / 2.0;
    let bare_p95 = (before.ms(0.95) + after.ms(0.95)) / 2.0;
    println!(
        "\n{} operators at once, {} s measured each; record page = POST /record (purpose, case id, {} sections)",
        args.operators,
        args.duration,
        SECTIONS.len()
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "what", "p50 ms", "p95 ms", "p99 ms", "per s", "errors"
    );
    let row = |what: &str, p50: f64, p95: f64, p99: f64, rate: f64, errors: String| {
        println!("{what:<44} {p50:>9.2} {p95:>9.2} {p99:>9.2} {rate:>8.1} {errors:>7}");
    };
    let rate = pages.read as f64 / pages.elapsed.as_secs_f64().max(1e-9);
    for (what, r) in [
        ("bare GetRecord (before)", before),
        ("bare GetRecord (after)", after),
    ] {
        row(
            what,
            r.ms(0.5),
            r.ms(0.95),
            r.ms(0.99),
            r.throughput(),
            r.errors_text(),
        );
    }
    row(
        "record page, server time (Server-Timing)",
        ms(&pages.server, 0.5),
        ms(&pages.server, 0.95),
        ms(&pages.server, 0.99),
        rate,
        pages.failed.to_string(),
    );
    row(
        "record page, as the operator waits",
        ms(&pages.waited, 0.5),
        ms(&pages.waited, 0.95),
        ms(&pages.waited, 0.99),
        rate,
        pages.failed.to_string(),
    );
    println!(
        "\nrecord page server time / bare GetRecord: p50 {:.2}x, p95 {:.2}x",
        ms(&pages.server, 0.5) / bare_p50.max(1e-9),
        ms(&pages.server, 0.95) / bare_p95.max(1e-9)
    );
}
