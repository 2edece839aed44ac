//! `ListSources`: the federation's members, what they can answer, their
//! health (which follows each partner's database), their circuit and their
//! calls in flight; with a context, which sections the policy lets that
//! operator read at each source for that purpose. Not about anyone, so not
//! audited.

use tonic::Request;
use trama_proto::v1::{self, OutcomeStatus};

use crate::call::Admitted;
use crate::policy::{Action, Decider, Resource};
use crate::registry::{self, Source};
use crate::service::FederationService;
use crate::validate::Context;

/// `grpc.health.v1` status SERVING.
const SERVING: i32 = 1;

/// Asks every connector to describe itself and how it is, in parallel;
/// with `context`, says what the policy lets its operator read.
pub async fn run(
    gw: &FederationService,
    call: Admitted,
    context: Option<&Context>,
) -> v1::ListSourcesResponse {
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
    let policy = gw.policy.load();
    let asker = context.map(|c| c.asker(&call.client.organisation));
    let decider = asker.as_ref().map(|a| policy.decider(a));
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
            let access = decider
                .as_ref()
                .map(|decider| access(decider, &source.organisation, &d.sections))
                .unwrap_or_default();
            v1::SourceInfo {
                access,
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

/// Whether the asker may read each of `sections` at `organisation`.
fn access(
    decider: &Decider<'_, '_>,
    organisation: &str,
    sections: &[i32],
) -> Vec<v1::SectionAccess> {
    sections
        .iter()
        .filter_map(|&s| v1::Section::try_from(s).ok())
        .map(|section| {
            let d = decider.decide(Action::Read, Resource::Section(organisation, section));
            v1::SectionAccess {
                section: section as i32,
                allowed: d.allowed,
                rule: d.rule.clone(),
                reason: if d.allowed {
                    String::new()
                } else {
                    d.reason.clone()
                },
            }
        })
        .collect()
}
