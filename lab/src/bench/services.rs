//! `trama bench services`: `SearchServices` at the gateway with the
//! catalogue of `--partners` connectors holding `--services` services in
//! all, `--concurrency` searches in flight (free text, filters, facets,
//! pages), beside a plain `ListSources` at the same concurrency, before and
//! after, in the same run; then how long a partner's change takes to show
//! in search, against the catalogue's refresh interval. Each partner is a
//! cooperatives' consortium on SQLite (the demo's schema and mapping) whose
//! offer is generated: names, descriptions, municipalities of the Cremona
//! district, prices, vouchers and hours.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fastrand::Rng;
use tonic::transport::Channel;
use trama_client::Profile;
use trama_client::render::Table;
use trama_proto::v1;
use trama_proto::v1::federation_client::FederationClient;
use trama_tls::Role;

use crate::bench::load::{self as bench_load, Report, Shape};
use crate::sandbox::{self, ConnectorFile, FEDERATION, Federation, FederationBuilder, Source};
use crate::seed::partners::Selection;
use crate::seed::sink::{Engine, Sink};
use crate::seed::{self, Partner};

/// `trama bench services` arguments.
#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    /// Directory for the federation (recreated).
    #[arg(long, default_value = "bench-data/services")]
    pub dir: PathBuf,
    /// Partners publishing an offer, each a connector of its own.
    #[arg(long, default_value_t = 20)]
    pub partners: usize,
    /// Services in all, shared evenly among the partners.
    #[arg(long, default_value_t = 10_000)]
    pub services: usize,
    /// Searches in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Measured seconds of each run.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Seconds of work before each run is measured.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// The catalogue's refresh interval, seconds.
    #[arg(long, default_value_t = 10)]
    pub refresh: u64,
    /// Changes whose visibility is timed.
    #[arg(long, default_value_t = 3)]
    pub changes: usize,
    /// Seed of the generated offers.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// Runs the benchmark and prints its table.
pub async fn run(args: ServicesArgs) -> anyhow::Result<()> {
    println!(
        "trama bench services --partners {} --services {} --concurrency {} --duration {} --warmup {} --refresh {}",
        args.partners, args.services, args.concurrency, args.duration, args.warmup, args.refresh
    );
    println!("machine: {}", super::machine());
    if args.partners == 0 || args.services < args.partners {
        bail!("--partners must be at least 1 and --services at least --partners");
    }
    let exe = std::env::current_exe().context("locating the trama binary")?;
    let mut fed = FederationBuilder::new(&args.dir)
        .partners([Partner::Comune])
        .subjects(50)
        .seed(args.seed)
        .catalogue_refresh_seconds(args.refresh)
        .exe(exe)
        .start()
        .await?;
    let result = measure(&args, &mut fed).await;
    fed.stop().await;
    result
}

async fn measure(args: &ServicesArgs, fed: &mut Federation) -> anyhow::Result<()> {
    let offers = std::path::absolute(fed.dir.join("offers"))?;
    std::fs::create_dir_all(&offers)?;
    std::fs::write(offers.join("mapping.toml"), Partner::Consorzio.mapping())?;
    let per_partner = args.services / args.partners;
    let mut sources = Vec::new();
    for i in 1..=args.partners {
        let org = format!("coop{i:02}");
        let db = offers.join(format!("{org}.db"));
        publish(&db, &org, per_partner, args.seed ^ i as u64).await?;
        sources.push(start(fed, &org, &db).await?);
    }
    let address = fed.start_gateway("gateway-catalogue", sources).await?;
    let mut profile = Profile::load(&fed.dir.join("client-comune.toml"))?;
    profile.gateway = address;
    let clients = bench_load::clients(&profile, args.concurrency)?;
    let held = filled(&clients[0], args.partners, per_partner * args.partners).await?;
    println!(
        "the gateway's catalogue holds {held} services from {} partners",
        args.partners
    );
    let shape = Shape::closed(args.concurrency, args.duration, args.warmup);
    println!("\nListSources, {}:", shape.describe());
    let before = list_sources(shape, &clients).await?;
    println!("SearchServices, {}:", shape.describe());
    let searches = search(shape, &clients).await?;
    println!("ListSources again:");
    let after = list_sources(shape, &clients).await?;
    println!("\nA partner's change, until search shows it:");
    let mut seen = Vec::new();
    for n in 0..args.changes {
        let db = offers.join(format!("coop{:02}.db", n % args.partners + 1));
        seen.push(change_shows(&clients[0], &db, n).await?);
        println!("  change {}: {:.1} s", n + 1, seen[n].as_secs_f64());
    }
    print_table(args, held, &before, &searches, &after, &seen);
    Ok(())
}

/// Seeds a consortium's database at `db` and replaces its offer with
/// `count` generated services, its cooperatives named after `org`.
async fn publish(db: &Path, org: &str, count: usize, seed: u64) -> anyhow::Result<()> {
    let population = seed::generate(seed, 20);
    let mut sink = Sink::connect(&format!("sqlite://{}", db.display())).await?;
    seed::partners::seed(
        Partner::Consorzio,
        &mut sink,
        Engine::Sqlite,
        &population,
        Selection::Reach,
        |_| {},
    )
    .await?;
    sink.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM catalogo")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE cooperative SET ragione_sociale = ragione_sociale || ' ' || ?")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    let mut rng = Rng::with_seed(seed);
    for n in 0..count {
        let row = generated(&mut rng, n);
        sqlx::query(
            "INSERT INTO catalogo (cod_servizio, cooperativa, denominazione, descrizione, categorie, \
             comuni, eta_min, eta_max, prezzo_cent, unita, voucher, accreditato, stato, orario, \
             lingue, modificato) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, 'S', 'ATT', ?, 'it', \
             '2026-11-01 09:00:00')",
        )
        .bind(format!("S{n:05}"))
        .bind(row.cooperative)
        .bind(row.name)
        .bind(row.description)
        .bind(row.needs)
        .bind(row.municipalities)
        .bind(row.price_cents)
        .bind(row.unit)
        .bind(row.voucher)
        .bind(row.hours)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    pool.close().await;
    Ok(())
}

/// The kinds of service generated: name, description, need codes, unit.
const KINDS: [(&str, &str, &str, &str); 12] = [
    (
        "Assistenza domiciliare",
        "Aiuto a casa per anziani e persone fragili: igiene, pasti, compagnia.",
        "ANZ,DIS",
        "all'ora",
    ),
    (
        "Pasti a domicilio",
        "Pranzo caldo consegnato a casa, anche per diete particolari.",
        "ALIM,ANZ",
        "a pasto",
    ),
    (
        "Babysitting",
        "Educatrici per bambini da 0 a 12 anni, anche la sera.",
        "FAM",
        "all'ora",
    ),
    (
        "Stireria sociale",
        "Stiratura con ritiro e consegna, con persone in inserimento lavorativo.",
        "FAM,LAV",
        "a cesto",
    ),
    (
        "Pulizie domestiche",
        "Pulizia della casa a tariffa agevolata per famiglie con carichi di cura.",
        "FAM",
        "all'ora",
    ),
    (
        "Trasporto sociale",
        "Accompagnamento con mezzi attrezzati a visite e terapie.",
        "DIS,SAL",
        "a corsa",
    ),
    (
        "Centro diurno",
        "Attività e cura di giorno per persone con disabilità.",
        "DIS",
        "al mese",
    ),
    (
        "Doposcuola",
        "Aiuto nei compiti per ragazzi delle medie.",
        "FAM",
        "al mese",
    ),
    (
        "Telesoccorso",
        "Un pulsante collegato giorno e notte con la centrale.",
        "ANZ,SAL",
        "al mese",
    ),
    (
        "Emporio solidale",
        "Spesa gratuita con tessera a punti.",
        "ALIM",
        "gratuito",
    ),
    (
        "Orti sociali",
        "Un orto da coltivare insieme.",
        "ANZ,LAV",
        "gratuito",
    ),
    (
        "Sportello badanti",
        "Aiuto a trovare e regolarizzare un'assistente familiare.",
        "FAM,LAV",
        "gratuito",
    ),
];

/// Municipalities of the Cremona district (Belfiore codes).
const PLACES: [(&str, &str); 12] = [
    ("D150", "Cremona"),
    ("B129", "Castelverde"),
    ("G469", "Persico Dosimo"),
    ("L806", "Vescovato"),
    ("I865", "Sospiro"),
    ("E843", "Malagnino"),
    ("A972", "Bonemerse"),
    ("I935", "Stagno Lombardo"),
    ("D142", "Crema"),
    ("C153", "Castelleone"),
    ("B898", "Casalmaggiore"),
    ("I849", "Soresina"),
];

struct Row {
    cooperative: &'static str,
    name: String,
    description: String,
    needs: &'static str,
    municipalities: String,
    price_cents: Option<i64>,
    unit: &'static str,
    voucher: Option<&'static str>,
    hours: &'static str,
}

fn generated(rng: &mut Rng, n: usize) -> Row {
    let (kind, description, needs, unit) = KINDS[rng.usize(..KINDS.len())];
    let (code, place) = PLACES[rng.usize(..PLACES.len())];
    let mut served = vec![code];
    for _ in 0..rng.usize(0..4) {
        served.push(PLACES[rng.usize(..PLACES.len())].0);
    }
    served.dedup();
    Row {
        cooperative: ["GAB", "RON", "GIR", "TEL"][n % 4],
        name: format!("{kind} {place} {n}"),
        description: description.into(),
        needs,
        municipalities: served.join(","),
        price_cents: (unit != "gratuito").then(|| rng.i64(2..40) * 50),
        unit,
        voucher: (rng.u8(..100) < 40).then_some("voucher-conciliazione"),
        hours: [
            "lun-ven 08:00-18:00",
            "lun,mer,ven 09:00-12:30",
            "lun-sab 07:30-19:30; dom 09:00-12:00",
        ][rng.usize(..3)],
    }
}

/// Starts partner `org`'s connector on `db`; returns its source.
async fn start(fed: &mut Federation, org: &str, db: &Path) -> anyhow::Result<Source> {
    sandbox::issue(&fed.dir.join("pki"), org, Role::Connector)?;
    let file = ConnectorFile {
        federation: FEDERATION.into(),
        organisation: org.into(),
        listen: "127.0.0.1:0".into(),
        database: format!("sqlite://{}?mode=ro", db.display()),
        mapping: "../offers/mapping.toml".into(),
        pki: "../pki".into(),
        limits: Default::default(),
        export: sandbox::export_rules(Partner::Consorzio),
        tracing: Default::default(),
        linkage_key: Some(format!("../{}", sandbox::LINKAGE_KEY)),
    };
    let address = fed.start_connector(org, file).await?;
    Ok(Source {
        organisation: org.into(),
        address,
        timeout_ms: 2000,
    })
}

/// Waits until the catalogue holds every partner's part; returns the
/// services held.
async fn filled(
    client: &FederationClient<Channel>,
    partners: usize,
    expected: usize,
) -> anyhow::Result<u32> {
    let started = Instant::now();
    loop {
        let found = client
            .clone()
            .search_services(v1::SearchServicesRequest::default())
            .await?
            .into_inner();
        let read = found
            .sources
            .iter()
            .filter(|s| !s.stale && !s.as_of.is_empty())
            .count();
        if read == partners && found.total as usize >= expected {
            return Ok(found.total);
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!(
                "the catalogue holds {} of {expected} services after 3 minutes",
                found.total
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The searches the load sends, in turn: free text, filters, facets, pages.
fn requests() -> Vec<v1::SearchServicesRequest> {
    let texts = [
        "assistenza domiciliare",
        "pasti",
        "stireria",
        "babysitting cremona",
        "trasporto disabili",
        "centro diurno",
        "doposcuola crema",
        "",
    ];
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let (code, _) = PLACES[i % PLACES.len()];
        out.push(v1::SearchServicesRequest {
            text: (*text).into(),
            ..Default::default()
        });
        out.push(v1::SearchServicesRequest {
            text: (*text).into(),
            municipality: code.into(),
            voucher: "voucher-conciliazione".into(),
            ..Default::default()
        });
        out.push(v1::SearchServicesRequest {
            needs: vec![["food", "family", "disability", "loneliness"][i % 4].into()],
            municipality: code.into(),
            max_price_cents: 1500,
            open_now: i % 2 == 0,
            page: 2,
            ..Default::default()
        });
    }
    out
}

async fn search(
    shape: Shape,
    clients: &Arc<Vec<FederationClient<Channel>>>,
) -> anyhow::Result<Report> {
    let requests = Arc::new(requests());
    let keys: Arc<Vec<String>> = Arc::new((0..requests.len()).map(|i| i.to_string()).collect());
    let clients = clients.clone();
    bench_load::drive(shape, keys, move |n, key| {
        let mut client = clients[n % clients.len()].clone();
        let request = key
            .parse::<usize>()
            .ok()
            .and_then(|i| requests.get(i).cloned())
            .unwrap_or_default();
        async move {
            let mut call = tonic::Request::new(request);
            call.set_timeout(bench_load::CALL_DEADLINE);
            client.search_services(call).await.map(|_| false)
        }
    })
    .await
}

async fn list_sources(
    shape: Shape,
    clients: &Arc<Vec<FederationClient<Channel>>>,
) -> anyhow::Result<Report> {
    let clients = clients.clone();
    bench_load::drive(shape, Arc::new(vec![String::new()]), move |n, _| {
        let mut client = clients[n % clients.len()].clone();
        async move {
            let mut call = tonic::Request::new(v1::ListSourcesRequest::default());
            call.set_timeout(bench_load::CALL_DEADLINE);
            client.list_sources(call).await.map(|_| false)
        }
    })
    .await
}

/// Renames one service in the partner's database (read-write, beside
/// the connector's read-only use) and times how long until search finds
/// it by the new name.
async fn change_shows(
    client: &FederationClient<Channel>,
    db: &Path,
    n: usize,
) -> anyhow::Result<Duration> {
    let word = format!("rinominato{n}");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
    let stamp = trama_connector::referrals::time_text(later).unwrap_or_default();
    sqlx::query("UPDATE catalogo SET denominazione = denominazione || ' ' || ?, modificato = ? WHERE cod_servizio = ?")
        .bind(&word)
        .bind(&stamp)
        .bind(format!("S{n:05}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let changed = Instant::now();
    loop {
        let found = client
            .clone()
            .search_services(v1::SearchServicesRequest {
                text: word.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        if found.total == 1 {
            return Ok(changed.elapsed());
        }
        if changed.elapsed() > Duration::from_secs(300) {
            bail!("the change did not show in 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_table(
    args: &ServicesArgs,
    held: u32,
    before: &Report,
    searches: &Report,
    after: &Report,
    seen: &[Duration],
) {
    let mut t = Table::new(&["run", "calls/s", "p50 ms", "p90 ms", "p99 ms", "errors"]);
    for (name, r) in [
        ("ListSources (before)", before),
        ("SearchServices", searches),
        ("ListSources (after)", after),
    ] {
        t.row(vec![
            name.into(),
            format!("{:.0}", r.throughput()),
            format!("{:.2}", r.ms(0.5)),
            format!("{:.2}", r.ms(0.9)),
            format!("{:.2}", r.ms(0.99)),
            r.errors_text(),
        ]);
    }
    println!(
        "\n{held} services from {} partners, {} in flight, {} s measured after {} s:\n{}",
        args.partners,
        args.concurrency,
        args.duration,
        args.warmup,
        t.render()
    );
    let baseline = (before.ms(0.99) + after.ms(0.99)) / 2.0;
    println!(
        "SearchServices p99 {:.2} ms (target < 20 ms); ratio to ListSources p99 in the same run: {:.2}",
        searches.ms(0.99),
        searches.ms(0.99) / baseline.max(1e-9)
    );
    let worst = seen.iter().max().copied().unwrap_or_default();
    println!(
        "a change showed in search after {} (worst {:.1} s; the refresh interval is {} s)",
        seen.iter()
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        worst.as_secs_f64(),
        args.refresh
    );
}
