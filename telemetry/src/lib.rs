//! Trama's telemetry, shared by the gateway and the connectors: logs and
//! traces ([`traces`]: OTLP export, W3C trace context across the
//! federation) and metrics: one
//! Prometheus text endpoint (`GET /metrics`, plain HTTP on an address the
//! operator chooses, normally loopback or a management network), and the
//! gauges every node reports about its certificates. Call counters are
//! recorded where the calls are served, through the `metrics` facade.
//!
//! Metric names: `trama_certificate_expiry_days` (the node's certificate),
//! `trama_ca_expiry_days` (the first CA to expire), `trama_crl_next_update_days`
//! (negative when the CRL is overdue); the gateway adds `trama_calls_total`,
//! `trama_policy_denials_total` and `trama_audit_entries_total`, the
//! connectors `trama_connector_calls_total` and `trama_export_denials_total`.

pub mod traces;

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
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

/// The `[metrics]` table of the gateway's and the connectors'
/// configuration files.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsTable {
    listen: String,
}

impl MetricsTable {
    /// The address to serve on; `Err` says what is wrong, with `example`
    /// as a fitting address.
    pub fn address(&self, example: &str) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|_| format!("`{}` is not an address like {example}", self.listen))
    }
}

/// How often gauges derived from files are refreshed.
const REFRESH: Duration = Duration::from_secs(60);
/// Longest request head read from a scraper.
const MAX_REQUEST: usize = 8 * 1024;

/// Installs the process's metrics recorder and serves `GET /metrics` on
/// `listen`. Returns the bound address (port 0 picks a free port).
pub async fn serve(listen: SocketAddr) -> Result<SocketAddr, TelemetryError> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| TelemetryError::Bind {
            address: listen,
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| TelemetryError::Bind {
            address: listen,
            source,
        })?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(accept(listener, handle));
    tracing::info!(address = %local, "metrics on http://{local}/metrics");
    Ok(local)
}

async fn accept(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
            let (status, body) = if line.starts_with(b"GET /metrics ") {
                ("200 OK", handle.render())
            } else {
                (
                    "404 Not Found",
                    "only GET /metrics is served here\n".to_string(),
                )
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

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
