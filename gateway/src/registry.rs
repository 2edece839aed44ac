//! The registry of sources and the fan-out: one multiplexed mTLS channel per
//! connector, calls to several sources in parallel, each under its own
//! budget inside the caller's deadline, and one outcome per source.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Code, Status};
use trama_proto::v1::connector_client::ConnectorClient;
use trama_proto::v1::{OutcomeStatus, SourceOutcome};
use trama_tls::client::ExpectedPeer;
use trama_tls::{Role, TlsState};

use crate::GatewayError;
use crate::config::GatewayConfig;
use crate::protect::{Breaker, InFlight};

/// Largest response accepted from a connector.
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// One member of the federation, as the gateway reaches it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The partner organisation.
    pub organisation: String,
    /// Its connector's address.
    pub address: String,
    /// The budget of one call.
    pub timeout: Duration,
    /// The client over the source's channel.
    pub client: ConnectorClient<Channel>,
    /// The standard health service over the same channel.
    pub health: tonic_health::pb::health_client::HealthClient<Channel>,
    /// The source's circuit breaker.
    pub breaker: Arc<Breaker>,
    /// The bound on calls in flight to it.
    pub in_flight: InFlight,
}

/// The federation's sources.
#[derive(Debug, Clone)]
pub struct Registry {
    sources: Arc<Vec<Source>>,
}

impl Registry {
    /// Builds the registry from configuration: one lazily connecting
    /// channel per source, each checking that the server is that
    /// organisation's connector.
    pub fn new(config: &GatewayConfig, tls: &TlsState) -> Result<Registry, GatewayError> {
        let mut sources = Vec::with_capacity(config.sources.len());
        for s in &config.sources {
            let channel = trama_tls::client::channel_reloading(
                &s.address,
                tls.clone(),
                ExpectedPeer {
                    federation: config.federation.clone(),
                    organisation: Some(s.organisation.clone()),
                    role: Role::Connector,
                },
                config.limits.connect_timeout,
            )?;
            let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            let client = ConnectorClient::new(channel)
                .max_decoding_message_size(MAX_RESPONSE_BYTES)
                .max_encoding_message_size(1 << 20);
            sources.push(Source {
                organisation: s.organisation.clone(),
                address: s.address.clone(),
                timeout: s.timeout,
                client,
                health,
                breaker: Arc::new(Breaker::new(
                    config.limits.breaker_failures,
                    config.limits.breaker_cooldown,
                )),
                in_flight: InFlight::new(s.max_in_flight),
            });
        }
        Ok(Registry {
            sources: Arc::new(sources),
        })
    }

    /// All sources, in registry order.
    pub fn all(&self) -> &[Source] {
        &self.sources
    }

    /// Whether `organisation` is a source.
    pub fn contains(&self, organisation: &str) -> bool {
        self.sources.iter().any(|s| s.organisation == organisation)
    }
}

/// What one source answered in a fan-out.
#[derive(Debug)]
pub struct Answer<T> {
    /// The source's outcome, with latency.
    pub outcome: SourceOutcome,
    /// The value, when the source answered.
    pub value: Option<T>,
}

/// Calls `call` on each of `sources` in parallel. Each call gets the
/// smaller of the source's own budget and what is left of `deadline`; a
/// call that does not finish in time is abandoned and reported as a
/// timeout. A source whose circuit is open is not called (`unavailable`,
/// at once); a source with all its slots in flight is waited for within
/// the budget (`timeout` when none frees up). The answers come back in the
/// order of `sources`.
pub async fn fan_out<T, F, Fut>(sources: Vec<&Source>, deadline: Instant, call: F) -> Vec<Answer<T>>
where
    F: Fn(Source, Duration) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let calls = sources.into_iter().map(|source| {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let budget = source.timeout.min(remaining);
        let organisation = source.organisation.clone();
        let fut = call(source.clone(), budget);
        let breaker = source.breaker.clone();
        let in_flight = source.in_flight.clone();
        async move {
            let started = Instant::now();
            // An open circuit fails at once, without waiting for a slot.
            let (status, message, value) = match breaker.peek() {
                Err(refused) => (OutcomeStatus::Unavailable, refused.reason, None),
                Ok(()) => match in_flight.acquire(budget).await {
                    None => (
                        OutcomeStatus::Timeout,
                        format!(
                            "busy: {} calls already in flight to this source",
                            in_flight.max()
                        ),
                        None,
                    ),
                    Some(_permit) => match breaker.admit() {
                        Err(refused) => (OutcomeStatus::Unavailable, refused.reason, None),
                        Ok(()) => {
                            let left = budget.saturating_sub(started.elapsed());
                            let result = tokio::time::timeout(left, fut).await;
                            let (status, message, value) = match result {
                                Ok(Ok(v)) => (OutcomeStatus::Ok, String::new(), Some(v)),
                                Ok(Err(status)) => {
                                    let (s, m) = outcome_of(&status);
                                    (s, m, None)
                                }
                                Err(_) => (
                                    OutcomeStatus::Timeout,
                                    format!("no answer within {} ms", budget.as_millis()),
                                    None,
                                ),
                            };
                            breaker.record(!matches!(
                                status,
                                OutcomeStatus::Timeout
                                    | OutcomeStatus::Unavailable
                                    | OutcomeStatus::Error
                            ));
                            (status, message, value)
                        }
                    },
                },
            };
            let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
            let open = breaker.state() == crate::protect::Circuit::Open;
            metrics::gauge!("trama_source_circuit_open", "source" => organisation.clone())
                .set(if open { 1.0 } else { 0.0 });
            metrics::counter!(
                "trama_source_calls_total",
                "source" => organisation.clone(),
                "outcome" => crate::audit::outcome_name(status as i32)
            )
            .increment(1);
            Answer {
                outcome: SourceOutcome {
                    organisation,
                    status: status as i32,
                    message,
                    latency_ms,
                    entries: 0,
                },
                value,
            }
        }
    });
    futures_util::future::join_all(calls).await
}

/// The outcome a connector's error status stands for, and a message safe
/// to show an operator.
pub fn outcome_of(status: &Status) -> (OutcomeStatus, String) {
    let kind = match status.code() {
        Code::NotFound => OutcomeStatus::NotFound,
        Code::PermissionDenied | Code::Unauthenticated => OutcomeStatus::Denied,
        Code::DeadlineExceeded | Code::Cancelled => OutcomeStatus::Timeout,
        Code::Unavailable => OutcomeStatus::Unavailable,
        // The connection itself failed (reset, closed mid-call): tonic
        // reports it as UNKNOWN "transport error"; the source is
        // unreachable, not faulty.
        Code::Unknown if is_transport(status) => OutcomeStatus::Unavailable,
        _ => OutcomeStatus::Error,
    };
    let mut message = if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_string()
    };
    if kind == OutcomeStatus::Denied {
        message = format!("denied by source: {message}");
    }
    (kind, message)
}

/// Whether `status` is a failure of the connection rather than an answer.
fn is_transport(status: &Status) -> bool {
    let m = status.message();
    m.starts_with("transport error")
        || m.contains("h2 protocol error")
        || m.contains("connection")
        || m.contains("broken pipe")
}

/// Whether any outcome makes the answer partial.
pub fn is_partial(outcomes: &[SourceOutcome]) -> bool {
    outcomes.iter().any(|o| {
        matches!(
            OutcomeStatus::try_from(o.status),
            Ok(OutcomeStatus::Timeout | OutcomeStatus::Unavailable | OutcomeStatus::Error)
        )
    })
}
