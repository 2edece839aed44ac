//! `ListSources`: the federation's members, what they can answer, their
//! health (which follows each partner's database), their circuit and their
//! calls in flight. Not about anyone, so not audited.

use tonic::Request;
use trama_proto::v1::{self, OutcomeStatus};

use crate::call::Admitted;
use crate::registry::{self, Source};
use crate::service::FederationService;

/// `grpc.health.v1` status SERVING.
const SERVING: i32 = 1;

/// Asks every connector to describe itself and how it is, in parallel.
pub async fn run(gw: &FederationService, call: Admitted) -> v1::ListSourcesResponse {
    let asked: Vec<(&Source, ())> = gw.registry.all().iter().map(|s| (s, ())).collect();
    let answers = registry::fan_out(asked, call.deadline, |source, (), budget| {
        let mut client = source.client.clone();
        let mut health = source.health.clone();
        let mut describe = Request::new(v1::DescribeRequest {});
        describe.set_timeout(budget);
        let mut check = Request::new(tonic_health::pb::HealthCheckRequest {
            service: "trama.v1.Connector".into(),
        });
        check.set_timeout(budget);
        async move {
            let d = client.describe(describe).await?.into_inner();
            let serving = health
                .check(check)
                .await
                .map(|r| r.into_inner().status == SERVING)
                .unwrap_or(false);
            Ok((d, serving))
        }
    })
    .await;
    let sources = gw
        .registry
        .all()
        .iter()
        .zip(answers)
        .map(|(source, a)| {
            let health = match (a.outcome.status, &a.value) {
                (OutcomeStatus::Ok, Some((_, true))) => v1::SourceHealth::Serving,
                (OutcomeStatus::Unavailable | OutcomeStatus::Timeout, _) => {
                    v1::SourceHealth::Unreachable
                }
                _ => v1::SourceHealth::NotServing,
            };
            let d = a.value.map(|(d, _)| d).unwrap_or_default();
            v1::SourceInfo {
                circuit: source.breaker.state().name().to_string(),
                in_flight: u32::try_from(source.in_flight.current()).unwrap_or(u32::MAX),
                max_in_flight: u32::try_from(source.in_flight.max()).unwrap_or(u32::MAX),
                organisation: source.organisation.clone(),
                system: d.system,
                schema_version: d.schema_version,
                sections: d.sections,
                match_capabilities: d.match_capabilities,
                health: health as i32,
            }
        })
        .collect();
    v1::ListSourcesResponse { sources }
}
