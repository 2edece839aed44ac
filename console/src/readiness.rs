//! The console's readiness and its request metrics. Ready means the
//! gateway answers its health check over the organisation's mutual-TLS
//! channel; a watch asks every [`WATCH`] and `/readyz` reports it. Each
//! request is counted and timed by the route that served it (the route's
//! pattern, never the path asked, which may hold an id).

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use trama_telemetry::ready::Readiness;

/// How often the gateway is asked.
pub const WATCH: Duration = Duration::from_secs(2);

/// How long the gateway has to answer.
const PROBE: Duration = Duration::from_secs(1);

/// The console's one ready check.
pub const GATEWAY: &str = "gateway";

/// Keeps `readiness` true to whether the gateway at the end of `channel`
/// answers, forever.
pub async fn keep(readiness: Readiness, channel: Channel) {
    let mut health = HealthClient::new(channel);
    loop {
        let mut ask = tonic::Request::new(HealthCheckRequest {
            service: "trama.v1.Federation".into(),
        });
        ask.set_timeout(PROBE);
        let (ok, detail) = match tokio::time::timeout(PROBE, health.check(ask)).await {
            Ok(Ok(answer)) => {
                let name = ServingStatus::try_from(answer.get_ref().status)
                    .unwrap_or(ServingStatus::Unknown)
                    .as_str_name();
                (true, format!("the gateway answers ({name})"))
            }
            Ok(Err(refused)) => (
                false,
                format!("the gateway refuses its health check: {:?}", refused.code()),
            ),
            Err(_) => (
                false,
                format!("the gateway did not answer within {} ms", PROBE.as_millis()),
            ),
        };
        readiness.set(GATEWAY, ok, detail);
        tokio::time::sleep(WATCH).await;
    }
}

/// Counts and times each request by the surface that served it
/// (`operators` or `public`) and its route:
/// `trama_console_requests_total{surface, route, status}` and
/// `trama_console_request_seconds{surface, route}`.
pub async fn measure(
    State(surface): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "trama_console_request_seconds",
        "surface" => surface,
        "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "trama_console_requests_total",
        "surface" => surface,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}
