//! A connector's health follows its partner's database: a SQLite file
//! emptied while the connector runs turns it `NOT_SERVING`, the gateway's
//! `ListSources` says so, and calls to it come back `unavailable` at once
//! rather than after the source's budget.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use support::{Sandbox, context};
use trama_proto::v1::{self, OutcomeStatus, Section};
use trama_tls::client::ExpectedPeer;

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

/// The standard health status of `org`'s connector, asked as the gateway.
async fn connector_health(fed: &Sandbox, org: &str) -> i32 {
    let files = fed.tls("gateway", "gateway");
    let channel = trama_tls::client::channel(
        &fed.connector_address(org),
        trama_tls::client::client_config(&files).unwrap(),
        ExpectedPeer {
            federation: "demo".into(),
            organisation: Some(org.into()),
            role: trama_tls::Role::Connector,
        },
        Duration::from_secs(2),
    )
    .unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "trama.v1.Connector".into(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

/// What `ListSources` says of `org`.
async fn listed_health(fed: &Sandbox, org: &str) -> i32 {
    let sources = fed
        .client("comune")
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect("sources")
        .into_inner()
        .sources;
    sources
        .iter()
        .find(|s| s.organisation == org)
        .map(|s| s.health)
        .expect("listed")
}

/// The id of someone caritas's database holds.
async fn someone_at_caritas(file: &std::path::Path) -> String {
    let url = format!("sqlite://{}?mode=ro", file.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("caritas's file");
    let id: i64 = sqlx::query_scalar("SELECT id FROM persone ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("someone");
    pool.close().await;
    id.to_string()
}

/// The comune's case work asking what caritas releases to it about the
/// person with caritas's id `id` (by local id, so the locator plays no
/// part).
fn record_request(id: &str) -> v1::GetRecordRequest {
    v1::GetRecordRequest {
        context: context("presa_in_carico"),
        subject: Some(v1::SubjectKey {
            tax_code: String::new(),
            local_ids: vec![v1::LocalId {
                organisation: "caritas".into(),
                id: id.into(),
            }],
        }),
        sections: vec![
            Section::Needs as i32,
            Section::SupportNetwork as i32,
            Section::Interventions as i32,
        ],
    }
}

fn caritas_outcome(response: &v1::GetRecordResponse) -> v1::SourceOutcome {
    response
        .outcomes
        .iter()
        .find(|o| o.organisation == "caritas")
        .cloned()
        .expect("caritas was asked")
}

#[tokio::test]
async fn an_emptied_sqlite_database_is_not_serving_and_answered_unavailable_at_once() {
    // The comune asks by caritas's local id alone, which its own connector
    // cannot check a case against: its case ids are taken as stated here.
    let fed = Sandbox::start_with(|b| b.cases_taken_as_stated(&["comune", "asl"])).await;
    let file = fed.dir().join("caritas").join("caritas.db");
    let id = someone_at_caritas(&file).await;
    let mut client = fed.client("comune");
    let before = client
        .get_record(record_request(&id))
        .await
        .expect("record")
        .into_inner();
    assert_eq!(
        caritas_outcome(&before).status,
        OutcomeStatus::Ok as i32,
        "{:?}",
        caritas_outcome(&before)
    );
    assert_eq!(connector_health(&fed, "caritas").await, SERVING);
    assert_eq!(
        listed_health(&fed, "caritas").await,
        v1::SourceHealth::Serving as i32
    );

    // The partner's file is emptied under the running connector: the
    // connection still opens and `SELECT 1` still answers, but the mapped
    // tables are gone.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .expect("caritas's database file")
        .set_len(0)
        .expect("emptied");

    let started = Instant::now();
    let mut health = connector_health(&fed, "caritas").await;
    while health != NOT_SERVING && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        health = connector_health(&fed, "caritas").await;
    }
    assert_eq!(
        health,
        NOT_SERVING,
        "caritas still reports {health} {:?} after its database was emptied",
        started.elapsed()
    );
    assert_eq!(
        listed_health(&fed, "caritas").await,
        v1::SourceHealth::NotServing as i32
    );
    // The other partners are unaffected.
    assert_eq!(connector_health(&fed, "comune").await, SERVING);

    let asked = Instant::now();
    let after = client
        .get_record(record_request(&id))
        .await
        .expect("a partial answer")
        .into_inner();
    let took = asked.elapsed();
    let caritas = caritas_outcome(&after);
    assert_eq!(
        caritas.status,
        OutcomeStatus::Unavailable as i32,
        "{caritas:?}"
    );
    assert!(after.partial);
    assert!(
        caritas.latency_ms < 1000 && took < Duration::from_secs(1),
        "caritas answered after {} ms (call {took:?}); a source that knows it is down answers at once",
        caritas.latency_ms
    );
    fed.cleanup().await;
}

/// Rows the comune's PostgreSQL database has read from its tables so far,
/// by sequential and by index scans.
async fn rows_read(db: &sqlx::PgPool) -> i64 {
    // A fresh snapshot of the statistics, not the one this session cached.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(db)
        .await
        .expect("snapshot cleared");
    sqlx::query_scalar(
        "SELECT (COALESCE(SUM(seq_tup_read), 0) + COALESCE(SUM(idx_tup_fetch), 0))::bigint \
         FROM pg_stat_user_tables",
    )
    .fetch_one(db)
    .await
    .expect("the table statistics")
}

/// An idle connector keeps its health true without reading its partner's
/// data: while no call arrives, the comune's database on PostgreSQL reads
/// no row of any table (its statistics count every row a scan returns),
/// though the health watch asks it every query of the mapping several
/// times meanwhile, whole-table fact queries included.
#[tokio::test]
async fn an_idle_connector_reads_no_row_of_its_partners_tables() {
    let Some(server) = support::postgres() else {
        return;
    };
    let fed = Sandbox::start_with(move |b| b.postgres(Some(server))).await;
    let url = fed
        .running
        .database_url("comune")
        .expect("the comune's database")
        .to_string();
    let db = sqlx::PgPool::connect(&url).await.expect("the comune");
    // Let the start settle, and the statistics catch up (they are sent at
    // the end of each transaction, at most once a second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rows_read(&db).await;
    // Three health intervals and more.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = rows_read(&db).await;
    assert_eq!(
        connector_health(&fed, "comune").await,
        SERVING,
        "still serving"
    );
    assert_eq!(
        after - before,
        0,
        "the idle comune connector read {} rows in 8 s",
        after - before
    );
    db.close().await;
    fed.cleanup().await;
}
