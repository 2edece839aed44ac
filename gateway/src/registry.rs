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
/// timeout. The answers come back in the order of `sources`.
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
        async move {
            let started = Instant::now();
            let result = tokio::time::timeout(budget, fut).await;
            let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
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

/// Whether any outcome makes the answer partial.
pub fn is_partial(outcomes: &[SourceOutcome]) -> bool {
    outcomes.iter().any(|o| {
        matches!(
            OutcomeStatus::try_from(o.status),
            Ok(OutcomeStatus::Timeout | OutcomeStatus::Unavailable | OutcomeStatus::Error)
        )
    })
}
