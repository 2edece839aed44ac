//! The plain-HTTP endpoints a node serves beside its gRPC port, each on an
//! address the operator chooses: `GET /metrics` (Prometheus text) for
//! scrapers, and `GET /livez` and `GET /readyz` for load balancers and
//! orchestrators. They need no certificate and carry no personal data.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::TelemetryError;
use crate::ready::Readiness;

/// The content type of Prometheus' text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// Installs the process's metrics recorder and serves `GET /metrics` on
/// `listen`. Returns the bound address (port 0 picks a free port).
pub async fn metrics(listen: SocketAddr) -> Result<SocketAddr, TelemetryError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(crate::LATENCY_BUCKETS)
        .and_then(|b| b.install_recorder())
        .map_err(|e| TelemetryError::Recorder(e.to_string()))?;
    metrics::gauge!("trama_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { not_here("only GET /metrics is served here") })
        .with_state(handle);
    let local = serve(listen, app).await?;
    tracing::info!(address = %local, "metrics on http://{local}/metrics");
    Ok(local)
}

/// Serves `GET /livez` (the process answers) and `GET /readyz` (every
/// check of `readiness` passes: 200, else 503; the checks as JSON either
/// way) on `listen`. Returns the bound address.
pub async fn health(
    listen: SocketAddr,
    readiness: Readiness,
) -> Result<SocketAddr, TelemetryError> {
    let app = Router::new()
        .route("/livez", get(|| async { "live\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { not_here("only GET /livez and GET /readyz are served here") })
        .with_state(readiness);
    let local = serve(listen, app).await?;
    tracing::info!(address = %local, "health on http://{local}/livez and /readyz");
    Ok(local)
}

async fn scrape(State(handle): State<PrometheusHandle>) -> Response {
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], handle.render()).into_response()
}

async fn readyz(State(readiness): State<Readiness>) -> Response {
    let report = readiness.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string(&report).unwrap_or_else(|_| "{\"ready\":false}".into());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body + "\n",
    )
        .into_response()
}

fn not_here(what: &'static str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what}\n")).into_response()
}

/// Binds `listen` and serves `app` there in the background.
async fn serve(listen: SocketAddr, app: Router) -> Result<SocketAddr, TelemetryError> {
    let bind = |source| TelemetryError::Bind {
        address: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, address = %local, "HTTP endpoint stopped");
        }
    });
    Ok(local)
}
