//! The gateway's readiness, kept by one watch: its audit store takes a
//! write (an entry inserted and rolled back), and at least one source
//! answers its health check `SERVING`. `/readyz` and the gRPC health status
//! both follow it, and each source's state is the gauge
//! `trama_source_serving`. The watch asks a few rows' worth of questions
//! every [`WATCH`]; it never reads data.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::task::JoinHandle;
use tonic_health::server::HealthReporter;
use trama_audit::{AuditError, Store};
use trama_telemetry::ready::Readiness;

use crate::registry::Registry;

/// How often readiness is checked.
pub const WATCH: Duration = Duration::from_secs(2);

/// How long one check may take before it counts as failed.
const PROBE: Duration = Duration::from_secs(1);

/// The gateway's ready checks.
pub const CHECKS: [&str; 2] = ["audit", "sources"];

/// Keeps `readiness` and the gRPC health status of `service` true,
/// forever.
pub async fn keep(
    readiness: Readiness,
    store: Store,
    registry: Registry,
    (health, service): (HealthReporter, &'static str),
) {
    let mut serving = None;
    let mut audit = AuditProbe {
        store,
        running: None,
    };
    loop {
        let (ok, detail) = audit.check().await;
        readiness.set("audit", ok, detail);
        let up = serving_sources(&registry).await;
        let detail = format!("{up} of {} sources serving", registry.all().len());
        let ready = readiness.set("sources", up > 0, detail);
        if serving != Some(ready) {
            trama_node::server::set_serving(&health, service, ready).await;
            serving = Some(ready);
        }
        tokio::time::sleep(WATCH).await;
    }
}

/// The audit store's write probe: at most one at a time, so a store that
/// hangs holds one connection, not one per round.
struct AuditProbe {
    store: Store,
    /// A probe still waiting for the store, and since when.
    running: Option<(JoinHandle<Result<(), AuditError>>, Instant)>,
}

impl AuditProbe {
    /// Whether the audit store takes a write, and what `/readyz` says of
    /// it (the error itself goes to the log: it may name the store's
    /// address).
    async fn check(&mut self) -> (bool, String) {
        let (mut probe, since) = self.running.take().unwrap_or_else(|| {
            let store = self.store.clone();
            (
                tokio::spawn(async move { store.probe_write().await }),
                Instant::now(),
            )
        });
        match tokio::time::timeout(PROBE, &mut probe).await {
            Ok(Ok(Ok(()))) => (true, "the audit store takes writes".into()),
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "the audit store refuses a write");
                (false, "the audit store refuses writes (see the log)".into())
            }
            Ok(Err(_)) => (false, "the audit probe failed (see the log)".into()),
            Err(_) => {
                let waited = since.elapsed().as_millis();
                self.running = Some((probe, since));
                (
                    false,
                    format!("the audit store has not taken a write in {waited} ms"),
                )
            }
        }
    }
}

/// How many sources answer `SERVING` now; each one's state is recorded in
/// the gauge `trama_source_serving`.
async fn serving_sources(registry: &Registry) -> usize {
    let states = join_all(registry.all().iter().map(|s| s.is_serving(PROBE))).await;
    for (source, up) in registry.all().iter().zip(&states) {
        metrics::gauge!("trama_source_serving", "source" => source.organisation.clone())
            .set(if *up { 1.0 } else { 0.0 });
    }
    states.into_iter().filter(|up| *up).count()
}
