//! Trama's telemetry, shared by every node (gateway, connectors, console):
//! logs and traces ([`traces`]: OTLP export, W3C trace context across the
//! federation); the plain-HTTP endpoints beside a node's own port
//! ([`http`]: Prometheus text at `GET /metrics`, and `GET /livez` and
//! `GET /readyz` for load balancers and orchestrators, each on an address
//! the operator chooses); the ready checks `/readyz` reports ([`ready`]);
//! and the gauges every node reports about its certificates. Counters and
//! histograms are recorded where the work is done, through the `metrics`
//! facade; `docs/operations.md` lists every metric.

pub mod http;
pub mod ready;
pub mod traces;

use std::net::SocketAddr;
use std::time::Duration;

use time::OffsetDateTime;
use trama_tls::TlsState;

/// Why the metrics endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The address could not be bound.
    #[error("cannot listen for metrics on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The process already has a metrics recorder.
    #[error("metrics recorder: {0}")]
    Recorder(String),
    /// Logs or the export of traces cannot be set up.
    #[error("tracing: {0}")]
    Tracing(String),
}

/// The `[metrics]` and `[health]` tables of the nodes' configuration
/// files: where a plain-HTTP endpoint listens.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenTable {
    listen: String,
}

impl ListenTable {
    /// The address to serve on; `Err` says what is wrong, with `example`
    /// as a fitting address.
    pub fn address(&self, example: &str) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|_| format!("`{}` is not an address like {example}", self.listen))
    }

    /// The address of an optional table, if given; `Err` as
    /// [`ListenTable::address`].
    pub fn optional(
        table: Option<ListenTable>,
        example: &str,
    ) -> Result<Option<SocketAddr>, String> {
        table.map(|t| t.address(example)).transpose()
    }
}

/// How often gauges derived from files are refreshed.
const REFRESH: Duration = Duration::from_secs(60);

/// Installs the process's metrics recorder and serves `GET /metrics` on
/// `listen` (see [`http::metrics`]).
pub async fn serve(listen: SocketAddr) -> Result<SocketAddr, TelemetryError> {
    http::metrics(listen).await
}

/// The bounds, in seconds, of every latency histogram: from a millisecond
/// (a cached answer) to a minute (a statistics table at a large partner).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Days from now until `t` (negative once past).
fn days_until(t: OffsetDateTime) -> f64 {
    (t - OffsetDateTime::now_utc()).as_seconds_f64() / 86_400.0
}

/// Keeps the certificate gauges current: the node's certificate, the CA,
/// and the CRL's next update, from what `tls` holds now (so a reload shows
/// within a minute).
pub fn watch_certificates(tls: TlsState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let e = tls.expiry();
            metrics::gauge!("trama_certificate_expiry_days").set(days_until(e.cert_not_after));
            metrics::gauge!("trama_ca_expiry_days").set(days_until(e.ca_not_after));
            if let Some(next) = e.crl_next_update {
                metrics::gauge!("trama_crl_next_update_days").set(days_until(next));
            }
            tokio::time::sleep(REFRESH).await;
        }
    })
}
