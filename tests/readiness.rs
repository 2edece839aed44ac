//! Health for load balancers and orchestrators: each node serves `/livez`
//! and `/readyz` on a plain-HTTP listener of its own, and `/readyz` is true
//! to what the node needs. The gateway is ready while its audit store
//! takes writes and a source serves (its gRPC health follows the same
//! truth); the console while its gateway answers. A connector's readiness
//! follows its database (`tests/engines.rs`, a server that stops
//! answering).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod support;

use std::time::Duration;

use sqlx::Connection;
use support::{Sandbox, http_get, logged_address, readyz_within};
use trama_tls::client::ExpectedPeer;

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

/// The gateway's gRPC health status, asked as the comune's client system.
async fn gateway_health(fed: &Sandbox) -> i32 {
    let files = fed.tls("comune", "client");
    let channel = trama_tls::client::channel(
        &fed.running.gateway,
        trama_tls::client::client_config(&files).unwrap(),
        ExpectedPeer {
            federation: "demo".into(),
            organisation: None,
            role: trama_tls::Role::Gateway,
        },
        Duration::from_secs(2),
    )
    .unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "trama.v1.Federation".into(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

/// Whether the gateway's gRPC health reaches `want` within two seconds
/// (it is set right after the check `/readyz` reports).
async fn gateway_health_becomes(fed: &Sandbox, want: i32) -> bool {
    for _ in 0..20 {
        if gateway_health(fed).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn the_gateway_is_ready_only_while_its_audit_store_takes_writes() {
    let fed = Sandbox::start().await;
    let health = logged_address(|| fed.log("gateway"), "health on http://").await;
    let (live, body) = http_get(&health, "/livez").await;
    assert_eq!(live, 200, "{body}");
    let (elsewhere, _) = http_get(&health, "/metrics").await;
    assert_eq!(elsewhere, 404, "the health listener serves health only");
    let (took, body) = readyz_within(&health, 200, Duration::from_secs(15)).await;
    assert!(took.is_some(), "ready once its sources serve: {body}");
    assert!(body.contains("\"sources\":{\"ok\":true"), "{body}");
    assert!(gateway_health_becomes(&fed, SERVING).await);

    // Another process holds the audit store's write lock (a backup tool,
    // a stuck maintenance job): nothing can be written to it.
    let audit = fed.dir().join("audit.db");
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", audit.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let (took, body) = readyz_within(&health, 503, Duration::from_secs(10)).await;
    let took = took.unwrap_or_else(|| panic!("still ready with its audit store locked: {body}"));
    assert!(body.contains("\"audit\":{\"ok\":false"), "{body}");
    assert!(body.contains("\"ready\":false"), "{body}");
    assert!(
        gateway_health_becomes(&fed, NOT_SERVING).await,
        "gRPC health follows /readyz"
    );
    eprintln!("not ready {took:?} after the audit store stopped taking writes");

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let (took, body) = readyz_within(&health, 200, Duration::from_secs(15)).await;
    let took =
        took.unwrap_or_else(|| panic!("not ready again once the store takes writes: {body}"));
    assert!(gateway_health_becomes(&fed, SERVING).await);
    eprintln!("ready again {took:?} after the audit store took writes again");

    // The probes wrote nothing: the chain holds only real entries.
    let probes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trama_audit_entry WHERE seq < 1")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert_eq!(probes, 0, "a write probe was kept");
    holder.close().await.unwrap();
    fed.cleanup().await;
}

#[tokio::test]
async fn the_gateway_is_not_ready_without_a_source_that_serves() {
    let mut fed = Sandbox::start().await;
    let health = logged_address(|| fed.log("gateway"), "health on http://").await;
    let (took, body) = readyz_within(&health, 200, Duration::from_secs(15)).await;
    assert!(took.is_some(), "{body}");
    for partner in trama_lab::seed::Partner::ALL {
        fed.running.kill(partner.organisation()).await;
    }
    let (took, body) = readyz_within(&health, 503, Duration::from_secs(15)).await;
    assert!(
        took.is_some(),
        "still ready with every connector gone: {body}"
    );
    assert!(body.contains("\"sources\":{\"ok\":false"), "{body}");
    assert!(body.contains("0 of "), "{body}");
    assert!(gateway_health_becomes(&fed, NOT_SERVING).await);
    fed.cleanup().await;
}

#[tokio::test]
async fn the_console_is_ready_only_while_its_gateway_answers() {
    let mut fed = Sandbox::start().await;
    fed.running
        .start_console("console-comune", "comune", Vec::new())
        .await
        .unwrap();
    let health = logged_address(|| fed.log("console-comune"), "health on http://").await;
    assert_eq!(http_get(&health, "/livez").await.0, 200);
    let (took, body) = readyz_within(&health, 200, Duration::from_secs(15)).await;
    assert!(took.is_some(), "ready while the gateway answers: {body}");
    assert!(body.contains("the gateway answers"), "{body}");

    fed.running.kill("gateway").await;
    let (took, body) = readyz_within(&health, 503, Duration::from_secs(10)).await;
    assert!(took.is_some(), "still ready with its gateway gone: {body}");
    assert!(body.contains("\"gateway\":{\"ok\":false"), "{body}");
    fed.cleanup().await;
}
