//! The one pipeline every Federation call passes through:
//!
//! admitted ([`Admitted`]: identity, rate, a slot) → validated (domain
//! types, [`crate::validate`]) → planned (policy first, [`crate::plan`];
//! then the stated case bound to a real one, [`crate::cases`]) → fanned
//! out ([`crate::registry::fan_out`]) → combined → audited
//! ([`audited`]: one entry, derived once from what the call reached) →
//! answered.
//!
//! Each call in [`crate::calls`] supplies its stages' contents; this module
//! holds what they share: admission, the deadline, the [`crate::audit::Facts`] a call
//! reports for its audit entry, and the wrapper that runs a call to its
//! audit entry even when the caller goes away.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use trama_audit::Entry;
use trama_proto::v1;
use trama_tls::NodeIdentity;

use crate::audit::{Auditor, Finished};
use crate::error::CallError;
use crate::federation::FederationService;

/// Deadline kept back from the caller's, so the answer (with the outcome of
/// every source, after its audit entry is written) still reaches the caller
/// in time: a tenth of what the caller allows, within these bounds.
const DEADLINE_MARGIN: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_millis(500));

/// A call let in: who asks, until when, and the slot it holds.
#[derive(Debug)]
pub struct Admitted {
    /// The client system, from its certificate.
    pub client: NodeIdentity,
    /// When the answer must be ready.
    pub deadline: Instant,
    /// The gateway's slot, held for the whole call.
    _slot: OwnedSemaphorePermit,
}

/// A Federation request as the pipeline sees it before validation.
pub trait FederationRequest: Send + 'static {
    /// The call's name in the audit log and the metrics.
    const CALL: &'static str;
    /// The context as sent.
    fn context(&self) -> Option<&v1::RequestContext>;
    /// The subject's tax code and local ids as sent: recorded (as
    /// pseudonyms) even when the call is refused.
    fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>);
}

impl FederationService {
    /// Lets a call in, or refuses it with `RESOURCE_EXHAUSTED` and when to
    /// retry: the client organisation's rate and daily quota first, then
    /// the gateway's own bound on calls in flight (load shedding, so that
    /// memory stays bounded under a flood).
    pub(crate) async fn admit<T>(&self, request: &Request<T>) -> Result<Admitted, CallError> {
        let client = request
            .extensions()
            .get::<NodeIdentity>()
            .cloned()
            .ok_or(CallError::Unauthenticated)?;
        let deadline = self.deadline(request);
        if let Err(limited) = self.limiter.take(&client.organisation).await {
            metrics::counter!(
                "trama_rate_limited_total",
                "client" => client.organisation.clone(),
                "limit" => limited.limit
            )
            .increment(1);
            return Err(CallError::Exhausted {
                description: format!("{} exceeded ({})", limited.limit, limited.description),
                quota: Some(format!("organisation:{}", client.organisation)),
                retry_after: limited.retry_after,
            });
        }
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("trama_shed_total").increment(1);
            CallError::Exhausted {
                description: "the gateway is at its limit of calls in flight".into(),
                quota: None,
                retry_after: Duration::from_millis(200),
            }
        })?;
        Ok(Admitted {
            client,
            deadline,
            _slot: slot,
        })
    }

    /// The caller's deadline (or the default), less the margin.
    fn deadline<T>(&self, request: &Request<T>) -> Instant {
        let asked = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .unwrap_or(self.default_deadline);
        Instant::now() + asked.saturating_sub(margin(asked))
    }
}

/// What is kept back from a deadline of `asked` (see [`DEADLINE_MARGIN`]).
fn margin(asked: Duration) -> Duration {
    (asked / 10).clamp(DEADLINE_MARGIN.0, DEADLINE_MARGIN.1)
}

/// Runs an audited call: admits it, runs `call` to its end even if the
/// caller goes away (the connectors may already have released data, so
/// the entry must still be written), writes the audit entry, and only then
/// answers.
pub async fn audited<Req, Resp, F, Fut>(
    service: &FederationService,
    request: Request<Req>,
    call: F,
) -> Result<Response<Resp>, Status>
where
    Req: FederationRequest,
    Resp: Send + 'static,
    F: FnOnce(FederationService, Admitted, Req) -> Fut + Send + 'static,
    Fut: Future<Output = Finished<Resp>> + Send + 'static,
{
    let admitted = service.admit(&request).instrument(stage("admit")).await?;
    let this = service.clone();
    let span = tracing::info_span!(
        "call",
        call = Req::CALL,
        client = %admitted.client.organisation
    );
    let task = tokio::spawn(
        async move {
            let req = request.into_inner();
            let draft = draft(Req::CALL, &admitted.client, &req, &this.auditor);
            let finished = call(this.clone(), admitted, req).await;
            this.auditor
                .commit(draft, finished)
                .instrument(stage("audit"))
                .await
        }
        .instrument(span),
    );
    let answer = task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a call's task failed");
        Err(CallError::Internal("task failed".into()))
    });
    answer.map(Response::new).map_err(Status::from)
}

/// The start of a call's entry: who asks, why, and the subject as sent.
fn draft<Req: FederationRequest>(
    call: &str,
    client: &NodeIdentity,
    req: &Req,
    auditor: &Auditor,
) -> Entry {
    let ctx = req
        .context()
        .map(crate::validate::trimmed)
        .unwrap_or_default();
    let (tax_code, locals) = req.subject_as_sent();
    Entry {
        call: call.into(),
        organisation: client.organisation.clone(),
        operator_id: ctx.operator_id,
        operator_role: ctx.role,
        purpose: ctx.purpose,
        case_id: ctx.case_id,
        legal_basis: ctx.legal_basis,
        subjects: auditor.pseudonyms.subject(tax_code, locals),
        ..Entry::default()
    }
}

/// The span of one stage of a call. Stages carry no fields: what a call is
/// about stays out of traces.
pub fn stage(name: &'static str) -> tracing::Span {
    tracing::info_span!("stage", otel.name = name)
}

/// Parses a `grpc-timeout` header value (`100m`, `5S`, ...).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_table() {
        for (v, want) in [
            ("100m", Some(Duration::from_millis(100))),
            ("5S", Some(Duration::from_secs(5))),
            ("2M", Some(Duration::from_secs(120))),
            ("7u", Some(Duration::from_micros(7))),
            ("", None),
            ("5x", None),
            ("m", None),
        ] {
            assert_eq!(parse_grpc_timeout(v), want, "{v}");
        }
    }

    #[test]
    fn the_margin_grows_with_the_deadline_within_its_bounds() {
        for (asked_ms, kept_ms) in [(100, 50), (1_500, 150), (4_000, 400), (60_000, 500)] {
            assert_eq!(
                margin(Duration::from_millis(asked_ms)),
                Duration::from_millis(kept_ms),
                "{asked_ms} ms"
            );
        }
    }
}
