//! The registry of sources and the fan-out: one multiplexed mTLS channel per
//! connector, calls to several sources in parallel, each under its own
//! budget inside the caller's deadline, and one outcome per source.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing::Instrument;
use trama_proto::v1::OutcomeStatus;
use trama_proto::v1::connector_client::ConnectorClient;
use trama_telemetry::traces::Propagate;
use trama_tls::client::ExpectedPeer;
use trama_tls::{Role, TlsState};

use crate::GatewayError;
use crate::config::GatewayConfig;
use crate::outcome::Outcome;
use crate::protect::{Breaker, InFlight};

/// Largest response accepted from a connector.
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// A channel to a connector whose calls carry the W3C trace context.
pub type Traced = InterceptedService<Channel, Propagate>;

/// One member of the federation, as the gateway reaches it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The partner organisation.
    pub organisation: String,
    /// Its connector's address.
    pub address: String,
    /// The budget of one call.
    pub timeout: Duration,
    /// The client over the source's channel; every call carries the
    /// trace context.
    pub client: ConnectorClient<Traced>,
    /// The standard health service over the same channel.
    pub health: tonic_health::pb::health_client::HealthClient<Traced>,
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

impl Source {
    /// Whether the source's connector answers its health check `SERVING`
    /// within `budget` (`ListSources` and the gateway's readiness ask). The
    /// answer borrows nothing of the source, so it can outlive the call.
    pub fn is_serving(&self, budget: Duration) -> impl Future<Output = bool> + use<> {
        let mut check = tonic::Request::new(tonic_health::pb::HealthCheckRequest {
            service: "trama.v1.Connector".into(),
        });
        check.set_timeout(budget);
        let mut health = self.health.clone();
        let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
        async move {
            matches!(
                tokio::time::timeout(budget, health.check(check)).await,
                Ok(Ok(r)) if r.get_ref().status == serving
            )
        }
    }
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
            let traced = InterceptedService::new(channel, Propagate);
            let health = tonic_health::pb::health_client::HealthClient::new(traced.clone());
            let client = ConnectorClient::new(traced)
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
    pub outcome: Outcome,
    /// The value, when the source answered.
    pub value: Option<T>,
}

/// Calls `call` on each source of `asked` (with what to ask it) in
/// parallel. Each call gets the smaller of the source's own budget and
/// what is left of the caller's `deadline`; a call that does not finish in
/// time is abandoned and reported as a timeout. A source whose circuit is
/// open is not called (`unavailable`, at once); a source with all its slots
/// in flight is waited for within the budget (`timeout` when none frees
/// up). The answers come back in the order of `asked`.
///
/// Only the source's own failures count against its circuit: a call the
/// caller's deadline cut shorter than a fair trial ([`FAIR_TRIAL`]) says
/// nothing about the source, or one organisation's impatient calls would
/// open the circuits every other organisation relies on.
pub async fn fan_out<I, T, F, Fut>(
    asked: Vec<(&Source, I)>,
    deadline: Instant,
    call: F,
) -> Vec<Answer<T>>
where
    F: Fn(&Source, I, Duration) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let calls = asked.into_iter().map(|(source, what)| {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let time = source.timeout.min(remaining);
        let budget = Budget {
            time,
            fair: time >= source.timeout.min(FAIR_TRIAL),
        };
        let span = tracing::info_span!("source", source = %source.organisation);
        let fut = call(source, what, budget.time);
        ask_one(source, budget, fut).instrument(span)
    });
    futures_util::future::join_all(calls).await
}

/// The least time a source must have had for a timeout to count against
/// its circuit (or all of its own budget, if that is shorter). A caller
/// whose deadline leaves less has given up before a healthy source could
/// answer.
pub const FAIR_TRIAL: Duration = Duration::from_millis(250);

/// The time one source gets, and whether it is a fair trial of the source.
#[derive(Debug, Clone, Copy)]
struct Budget {
    time: Duration,
    fair: bool,
}

async fn ask_one<T>(
    source: &Source,
    budget: Budget,
    fut: impl Future<Output = Result<T, Status>>,
) -> Answer<T> {
    let started = Instant::now();
    let (status, message, value) = if budget.time.is_zero() {
        (
            OutcomeStatus::Timeout,
            "not asked: the caller's deadline left no time".to_string(),
            None,
        )
    } else {
        guarded(source, budget, started, fut).await
    };
    let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    let organisation = source.organisation.clone();
    let open = source.breaker.state() == crate::protect::Circuit::Open;
    metrics::gauge!("trama_source_circuit_open", "source" => organisation.clone()).set(if open {
        1.0
    } else {
        0.0
    });
    metrics::counter!(
        "trama_source_calls_total",
        "source" => organisation.clone(),
        "outcome" => crate::outcome::name(status)
    )
    .increment(1);
    metrics::histogram!(
        "trama_source_call_seconds",
        "source" => organisation.clone(),
        "outcome" => crate::outcome::name(status)
    )
    .record(started.elapsed().as_secs_f64());
    Answer {
        outcome: Outcome {
            organisation,
            status,
            notes: if message.is_empty() {
                Vec::new()
            } else {
                vec![message]
            },
            latency_ms,
            rule: String::new(),
            entries: 0,
        },
        value,
    }
}

/// One call behind the source's circuit and slots.
async fn guarded<T>(
    source: &Source,
    budget: Budget,
    started: Instant,
    fut: impl Future<Output = Result<T, Status>>,
) -> (OutcomeStatus, String, Option<T>) {
    // An open circuit fails at once, without waiting for a slot.
    if let Err(refused) = source.breaker.peek() {
        return (OutcomeStatus::Unavailable, refused.reason, None);
    }
    let Some(_slot) = source.in_flight.acquire(budget.time).await else {
        let busy = format!(
            "busy: {} calls already in flight to this source",
            source.in_flight.max()
        );
        return (OutcomeStatus::Timeout, busy, None);
    };
    let admission = match source.breaker.admit() {
        Ok(a) => a,
        Err(refused) => return (OutcomeStatus::Unavailable, refused.reason, None),
    };
    let left = budget.time.saturating_sub(started.elapsed());
    let (status, message, value) = match tokio::time::timeout(left, fut).await {
        Ok(Ok(v)) => (OutcomeStatus::Ok, String::new(), Some(v)),
        Ok(Err(status)) => {
            let (s, m) = crate::outcome::classify(&status);
            (s, m, None)
        }
        Err(_) => (
            OutcomeStatus::Timeout,
            format!("no answer within {} ms", budget.time.as_millis()),
            None,
        ),
    };
    let failed = matches!(
        status,
        OutcomeStatus::Timeout | OutcomeStatus::Unavailable | OutcomeStatus::Error
    );
    if status == OutcomeStatus::Timeout && !budget.fair {
        // The caller's deadline, not the source: no verdict.
        drop(admission);
    } else {
        admission.record(!failed);
    }
    (status, message, value)
}
