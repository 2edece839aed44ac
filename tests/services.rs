//! The federated catalogue of services over real processes: the Caritas
//! connector publishes its listening centres, food bank and canteen, the
//! comune its home care, school assistance, transport and work-life
//! voucher, the CAF its ISEE and patronato desks, the consortium its
//! cooperatives' home care, meals, babysitting, ironing, cleaning and
//! transport, each from its own tables; the gateway indexes them and answers `SearchServices`
//! (free text with accents, endings and typos folded, whole words ranked
//! first, filters, facets, pages) and
//! `trama query services`; bad input is refused naming the field.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Sandbox, exe};
use tonic::Code;
use trama_proto::v1;

/// Services open in the demo: Caritas 4, comune 4, the CAF 5 of its 6
/// desks (one closed for now), the consortium 29 of 31 (the summer centre
/// closed for the winter, the laundry closed for good).
const OPEN: u32 = 42;

/// Searches until the gateway's catalogue holds every partner's offer.
async fn ready(fed: &Sandbox) -> v1::SearchServicesResponse {
    let started = Instant::now();
    loop {
        let found = fed
            .client("comune")
            .search_services(v1::SearchServicesRequest::default())
            .await
            .expect("searched")
            .into_inner();
        // Every partner's part refreshed once (those without services too).
        if found.sources.len() == 5 && found.sources.iter().all(|s| !s.stale) {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the catalogue stayed empty"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ids(r: &v1::SearchServicesResponse) -> Vec<&str> {
    r.services.iter().map(|s| s.id.as_str()).collect()
}

#[tokio::test]
async fn the_gateway_searches_the_partners_offers() {
    let fed = Sandbox::start().await;
    let all = ready(&fed).await;
    assert_eq!(all.total, OPEN, "every open service: {:?}", ids(&all));
    let caritas = all
        .sources
        .iter()
        .find(|s| s.organisation == "caritas")
        .expect("the caritas part");
    assert!(!caritas.stale && caritas.services == 4 && !caritas.as_of.is_empty());
    assert!(
        all.by_need
            .iter()
            .any(|f| f.value == "food" && f.count == 7),
        "{:?}",
        all.by_need
    );

    let mut client = fed.client("comune");
    let search = |r: v1::SearchServicesRequest| {
        let mut c = client.clone();
        async move { c.search_services(r).await.map(|a| a.into_inner()) }
    };
    // Free text: "centri" finds both listening centres, accents folded.
    let centres = search(v1::SearchServicesRequest {
        text: "centri di ascolto".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut found = ids(&centres);
    found.sort_unstable();
    assert_eq!(found, vec!["caritas/CDA-CM", "caritas/CDA-CR"]);
    assert_eq!(
        ids(&search(v1::SearchServicesRequest {
            text: "SOLIDARIETA".into(),
            ..Default::default()
        })
        .await
        .unwrap()),
        vec!["caritas/MEN-CR"]
    );
    // Crema: the food bank serves it too, beside the cooperative's meals;
    // an ISEE above the food bank's ceiling leaves it out.
    let crema = |isee_cents| v1::SearchServicesRequest {
        municipality: "D142".into(),
        needs: vec!["food".into()],
        isee_cents,
        ..Default::default()
    };
    let mut both = ids(&search(crema(500_000)).await.unwrap())
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    both.sort();
    assert_eq!(both, vec!["caritas/EMP-CR", "consorzio/RON-PASTI"]);
    assert_eq!(
        ids(&search(crema(1_000_000)).await.unwrap()),
        vec!["consorzio/RON-PASTI"]
    );
    let emporio = search(crema(0))
        .await
        .unwrap()
        .services
        .into_iter()
        .find(|s| s.id == "caritas/EMP-CR")
        .unwrap();
    assert_eq!(emporio.provider, "Caritas diocesana");
    assert_eq!(
        emporio.eligibility.as_ref().map(|e| e.isee_max_cents),
        Some(936_000)
    );
    assert_eq!(emporio.openings.len(), 2);

    // Home care in Cremona taking the work-life voucher: the comune's and
    // a cooperative's.
    let home_care = search(v1::SearchServicesRequest {
        text: "assistenza domiciliare".into(),
        municipality: "D150".into(),
        voucher: "voucher-conciliazione".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut found = ids(&home_care);
    found.sort_unstable();
    assert_eq!(found, vec!["comune/SAD", "consorzio/GAB-SAD"]);
    let sad = home_care
        .services
        .iter()
        .find(|s| s.id == "comune/SAD")
        .unwrap();
    assert_eq!(sad.costs[0].amount.as_ref().map(|m| m.cents), Some(500));
    assert!(sad.accredited);
    let coop = home_care
        .services
        .iter()
        .find(|s| s.id == "consorzio/GAB-SAD")
        .unwrap();
    assert_eq!(coop.provider, "Cooperativa sociale Il Gabbiano");
    assert_eq!(coop.costs[0].amount.as_ref().map(|m| m.cents), Some(1850));
    assert_eq!(coop.eligibility.as_ref().map(|e| e.minimum_age), Some(65));
    assert!(
        coop.availability
            .as_ref()
            .is_some_and(|a| a.known && a.places_free == 6)
    );
    assert!(
        home_care
            .by_provider
            .iter()
            .any(|f| f.value == "Cooperativa sociale Il Gabbiano"),
        "{:?}",
        home_care.by_provider
    );

    // Pages: ten at a time, every service once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = search(v1::SearchServicesRequest {
            page_size: 10,
            page_token: token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(page.services.len() <= 10);
        seen.extend(page.services.iter().map(|s| s.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (42, 42), "{seen:?}");

    // Bad input, each naming its field.
    for (request, field) in [
        (
            v1::SearchServicesRequest {
                needs: vec!["unicorns".into()],
                ..Default::default()
            },
            "needs",
        ),
        (
            v1::SearchServicesRequest {
                municipality: "Q999".into(),
                ..Default::default()
            },
            "municipality",
        ),
        (
            v1::SearchServicesRequest {
                text: "x".repeat(201),
                ..Default::default()
            },
            "text",
        ),
        (
            v1::SearchServicesRequest {
                page_size: 1000,
                ..Default::default()
            },
            "page_size",
        ),
        (
            v1::SearchServicesRequest {
                page_token: "garbled".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        let status = client.search_services(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with(field), "{field}: {status:?}");
    }

    // The command line.
    let out = Command::new(exe())
        .args(["query", "--profile"])
        .arg(fed.dir().join("client-comune.toml"))
        .args(["services", "centro di ascolto", "--municipality", "D142"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 service(s) found"), "{stdout}");
    assert!(stdout.contains("Centro di ascolto di Crema"), "{stdout}");
    assert!(stdout.contains("caritas: 4 service(s) as of"), "{stdout}");
    let bad = Command::new(exe())
        .args(["query", "--profile"])
        .arg(fed.dir().join("client-comune.toml"))
        .args(["services", "--max-price", "dodici"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-price `dodici` is not an amount"));
}

/// Every client of `SearchServices` gets the tolerant search: a citizen's
/// typos find home care, and a whole word outranks a prefix in a name.
#[tokio::test]
async fn a_search_with_typos_finds_home_care_and_whole_words_rank_first() {
    let fed = Sandbox::start().await;
    ready(&fed).await;
    let mut client = fed.client("comune");
    let typed = client
        .search_services(v1::SearchServicesRequest {
            text: "asistenza domicilare".into(),
            municipality: "D150".into(),
            ..Default::default()
        })
        .await
        .expect("searched")
        .into_inner();
    let found = ids(&typed);
    let mut first_two = found.iter().take(2).copied().collect::<Vec<_>>();
    first_two.sort_unstable();
    assert_eq!(
        first_two,
        ["comune/SAD", "consorzio/GAB-SAD"],
        "home care first: {found:?}"
    );
    let casa = client
        .search_services(v1::SearchServicesRequest {
            text: "casa".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("searched")
        .into_inner();
    let found = ids(&casa);
    let at = |id: &str| found.iter().position(|f| *f == id);
    let (Some(home_care), Some(babysitting)) = (at("consorzio/GAB-SAD"), at("consorzio/GIR-BABY"))
    else {
        panic!("both found: {found:?}");
    };
    assert!(
        home_care < babysitting,
        "\"a casa\" before \"Casalasco\": {found:?}"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn a_partners_change_shows_within_the_refresh_and_a_stopped_partner_stays_searchable() {
    let mut fed = Sandbox::start_with(|b| b.catalogue_refresh_seconds(1)).await;
    ready(&fed).await;
    // The diocesan office renames the food bank and closes the Crema
    // centre, in its own table.
    let file = fed.dir().join("caritas").join("caritas.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc() + Duration::from_secs(1);
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    // One transaction: a refresh sees both changes or neither.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("UPDATE servizi SET titolo = 'Emporio solidale di quartiere', aggiornato = ? WHERE codice = 'EMP-CR'")
        .bind(&stamp)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM servizi WHERE codice = 'CDA-CM'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
    let changed = Instant::now();
    let mut client = fed.client("comune");
    let found = loop {
        let r = client
            .search_services(v1::SearchServicesRequest {
                text: "emporio quartiere".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if r.total == 1 {
            break r;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(15),
            "the change never showed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(found.services[0].name, "Emporio solidale di quartiere");
    let all = client
        .search_services(v1::SearchServicesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.total,
        OPEN - 1,
        "the closed centre is gone: {:?}",
        ids(&all)
    );

    // The connector stops: its part stays searchable, marked stale.
    assert!(fed.running.kill("caritas").await);
    let stopped = Instant::now();
    loop {
        let r = client
            .search_services(v1::SearchServicesRequest::default())
            .await
            .unwrap()
            .into_inner();
        let part = r
            .sources
            .iter()
            .find(|s| s.organisation == "caritas")
            .unwrap();
        if part.stale {
            assert_eq!(
                r.total,
                OPEN - 1,
                "still served from what the gateway holds"
            );
            assert!(part.problem.starts_with("not refreshed"), "{part:?}");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "never marked stale"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fed.cleanup().await;
}

/// Starts the comune's console with the public catalogue on a port of its
/// own, each address allowed `per_minute` requests; returns its address.
async fn public_catalogue(fed: &mut Sandbox, per_minute: u32) -> String {
    public_catalogue_with(fed, per_minute, "").await
}

/// The same, with `extra` tables in the console's file.
async fn public_catalogue_with(fed: &mut Sandbox, per_minute: u32, extra: &str) -> String {
    let port = support::chrome::free_port();
    let mut file = fed
        .running
        .console_file("console-public", "comune", Vec::new());
    file.extra = format!(
        "\n[public]\nlisten = \"127.0.0.1:{port}\"\nrequests_per_minute = {per_minute}\n{extra}"
    );
    // Operators sign in elsewhere: this console has no accounts.
    fed.running.start_console_file(file).await.unwrap();
    format!("127.0.0.1:{port}")
}

#[tokio::test]
async fn an_hsds_consumer_reads_the_public_catalogue_without_a_certificate() {
    let mut fed = Sandbox::start().await;
    ready(&fed).await;
    let address = public_catalogue(&mut fed, 400).await;
    let ca = fed.dir().join("pki").join("ca.pem");
    let out = Command::new("node")
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/browser/hsds-consumer.mjs"),
        )
        .arg(format!(
            "https://localhost:{}",
            address.rsplit(':').next().unwrap()
        ))
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .output()
        .expect("node runs the HSDS consumer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(
        read["problems"],
        serde_json::json!([]),
        "every answer follows the schemas"
    );
    assert_eq!(read["total"], OPEN);
    assert_eq!(read["unique"], OPEN, "every service once across pages");
    assert_eq!(read["pages"], 5);
    assert_eq!(read["root"]["version"], "3.0");
    let mut home_care: Vec<String> = serde_json::from_value(read["search"].clone()).unwrap();
    home_care.sort();
    assert!(
        home_care.contains(&"comune/SAD".to_string())
            && home_care.contains(&"consorzio/GAB-SAD".to_string()),
        "{home_care:?}"
    );
    assert_eq!(read["food"], 7, "services by the food taxonomy term");
    assert_eq!(read["gabbiano"], 12, "services of one organization");
    // Money as an exact decimal number, hours as weekly schedules, areas
    // by municipality name.
    assert_eq!(read["sad_cost"], 18.5);
    assert_eq!(read["sad_schedules"], 6);
    assert!(
        read["sad_areas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "Cremona"),
        "{}",
        read["sad_areas"]
    );

    // Bad input: a clear 400 naming the parameter; an unknown id, 404.
    let mut web = support::web::Browser::new(&address, &ca);
    let big = web.get("/services?per_page=1000").await;
    assert_eq!(big.status, 400);
    assert!(big.body.contains("per_page: at most 100"), "{}", big.body);
    let by_name = web.get("/services?municipality=cremona&per_page=1").await;
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert!(
        !by_name.body.contains("\"total_items\":0"),
        "{}",
        by_name.body
    );
    let nowhere = web.get("/services?municipality=Atlantide").await;
    assert_eq!(nowhere.status, 400);
    assert!(
        nowhere.body.contains("municipality: `Atlantide`"),
        "{}",
        nowhere.body
    );
    let term = web.get("/services?taxonomy_term_id=unicorns").await;
    assert_eq!(term.status, 400);
    assert!(term.body.contains("taxonomy_term_id"), "{}", term.body);
    let missing = web
        .get("/services/00000000-0000-5000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404);
    let page = web
        .get("/servizi/00000000-0000-5000-8000-000000000000")
        .await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("Servizio non trovato"), "{}", page.body);
    let sad = web
        .get(&format!(
            "/services/{}",
            trama_proto::ids::service("consorzio/GAB-SAD")
        ))
        .await;
    assert!(
        sad.body.contains("\"amount\":18.50"),
        "written from cents, exactly: {}",
        sad.body
    );
    let listed = web.get("/services").await;
    assert_eq!(listed.header("access-control-allow-origin"), Some("*"));
    assert!(
        listed.header("set-cookie").is_none(),
        "no cookie: nobody is tracked"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn the_public_catalogue_limits_each_address() {
    let mut fed = Sandbox::start().await;
    let address = public_catalogue(&mut fed, 5).await;
    let mut web = support::web::Browser::new(&address, &fed.dir().join("pki").join("ca.pem"));
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(web.get("/services?per_page=1").await.status);
    }
    assert_eq!(&codes[..5], &[200; 5], "{codes:?}");
    assert_eq!(&codes[5..], &[429, 429], "{codes:?}");
    let refused = web.get("/").await;
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json"),
        "an API client reads a problem; a browser reads a page (tests/browser.rs)"
    );
    fed.cleanup().await;
}

#[tokio::test]
async fn a_client_cannot_choose_the_address_its_limit_counts_against() {
    // Without trusted proxies, X-Forwarded-For is ignored: five requests
    // claiming five addresses are five requests of one client.
    let mut fed = Sandbox::start().await;
    let address = public_catalogue(&mut fed, 5).await;
    let ca = fed.dir().join("pki").join("ca.pem");
    let mut codes = Vec::new();
    for i in 0..7 {
        let mut web = support::web::Browser::new(&address, &ca);
        web.headers.push(format!("X-Forwarded-For: 203.0.113.{i}"));
        codes.push(web.get("/services?per_page=1").await.status);
    }
    assert_eq!(
        &codes[5..],
        &[429, 429],
        "a spoofed header escaped the limit: {codes:?}"
    );
    fed.cleanup().await;

    // Behind a trusted proxy (here the test itself, on 127.0.0.1), each
    // client the proxy names has its own allowance, and a client's own
    // claims to the left of what the proxy saw do not count.
    let mut fed = Sandbox::start().await;
    let address =
        public_catalogue_with(&mut fed, 5, "\n[proxies]\ntrusted = [\"127.0.0.1\"]\n").await;
    let ca = fed.dir().join("pki").join("ca.pem");
    let mut clients = Vec::new();
    for i in 0..7 {
        let mut web = support::web::Browser::new(&address, &ca);
        web.headers
            .push(format!("X-Forwarded-For: 198.51.100.1, 203.0.113.{i}"));
        clients.push(web.get("/services?per_page=1").await.status);
    }
    assert_eq!(
        clients,
        vec![200; 7],
        "seven clients, each within its allowance"
    );
    let mut one = Vec::new();
    for i in 0..7 {
        let mut web = support::web::Browser::new(&address, &ca);
        web.headers
            .push(format!("X-Forwarded-For: 192.0.2.{i}, 203.0.113.99"));
        one.push(web.get("/services?per_page=1").await.status);
    }
    assert_eq!(
        &one[5..],
        &[429, 429],
        "one client behind the proxy: {one:?}"
    );
    fed.cleanup().await;
}
