//! `ListSources`: the federation's members, what they can answer, their
//! health (which follows each partner's database), their circuit and their
//! calls in flight; with a context, which sections the policy lets that
//! operator read at each source for that purpose, and, for the purposes
//! listed, which calls the policy permits that operator's role with each.
//! Not about anyone, so not audited.

use tonic::Request;
use trama_proto::v1::{self, OutcomeStatus};

use crate::call::Admitted;
use crate::error::CallError;
use crate::federation::FederationService;
use crate::policy::{Action, Decider, LogScope, Resource};
use crate::registry::{self, Source};
use crate::validate::Context;

/// Asks every connector to describe itself and how it is, in parallel;
/// with `context`, says what the policy lets its operator read.
pub async fn run(
    gw: &FederationService,
    call: Admitted,
    context: Option<&Context>,
    purposes: &[String],
) -> v1::ListSourcesResponse {
    let asked: Vec<(&Source, ())> = gw.registry.all().iter().map(|s| (s, ())).collect();
    let answers = registry::fan_out(asked, call.deadline, |source, (), budget| {
        let mut client = source.client.clone();
        let mut describe = Request::new(v1::DescribeRequest {});
        describe.set_timeout(budget);
        let serving = source.is_serving(budget);
        async move {
            let d = client.describe(describe).await?.into_inner();
            Ok((d, serving.await))
        }
    })
    .await;
    let policy = gw.policy.load();
    let asker = context.map(|c| c.asker(&call.client.organisation));
    let decider = asker.as_ref().map(|a| policy.decider(a));
    let sources: Vec<v1::SourceInfo> = gw
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
                software_accepted: trama_proto::accepts_software(
                    trama_proto::SOFTWARE_VERSION,
                    &d.software_version,
                ),
                software_version: d.software_version,
            }
        })
        .collect();
    let purposes = match context {
        Some(ctx) => purpose_access(gw, &call.client.organisation, ctx, &sources, purposes),
        None => Vec::new(),
    };
    v1::ListSourcesResponse {
        sources,
        purposes,
        accepted_software: trama_proto::compatible_series(trama_proto::SOFTWARE_VERSION)
            .unwrap_or_default(),
        gateway_version: trama_proto::SOFTWARE_VERSION.to_string(),
    }
}

/// Most purposes one `ListSources` may ask about.
const MAX_PURPOSES: usize = 50;

/// The purposes a `ListSources` asks about, checked: at most
/// [`MAX_PURPOSES`], none blank, and only with a context (the role they
/// are for).
pub fn purposes_asked(purposes: &[String], with_context: bool) -> Result<&[String], CallError> {
    if purposes.is_empty() {
        return Ok(purposes);
    }
    if !with_context {
        return Err(CallError::invalid(
            "purposes",
            "state the context (operator and role) the purposes are asked for",
        ));
    }
    if purposes.len() > MAX_PURPOSES {
        return Err(CallError::invalid(
            "purposes",
            format!("ask about at most {MAX_PURPOSES} purposes at once"),
        ));
    }
    if purposes.iter().any(|p| p.trim().is_empty()) {
        return Err(CallError::invalid(
            "purposes",
            "a purpose is blank: name each one, for example presa_in_carico",
        ));
    }
    Ok(purposes)
}

/// The case id the policy is asked with to learn whether a purpose is
/// permitted once a case is stated (no case is ever checked here).
const ANY_CASE: &str = "(a case)";

/// For each purpose, what the context's role may do with it: first
/// without a case id, then, if nothing is permitted, with one.
fn purpose_access(
    gw: &FederationService,
    organisation: &str,
    ctx: &Context,
    sources: &[v1::SourceInfo],
    purposes: &[String],
) -> Vec<v1::PurposeAccess> {
    let policy = gw.policy.load();
    purposes
        .iter()
        .map(|purpose| {
            let permitted = |case_id: &str| {
                let asked = Context {
                    purpose: purpose.trim().to_string(),
                    case_id: case_id.to_string(),
                    ..ctx.clone()
                };
                let asker = asked.asker(organisation);
                actions(&policy.decider(&asker), sources)
            };
            let free = permitted("");
            let (actions, needs_case) = if free.is_empty() {
                let with_case = permitted(ANY_CASE);
                let needs = !with_case.is_empty();
                (with_case, needs)
            } else {
                (free, false)
            };
            v1::PurposeAccess {
                purpose: purpose.clone(),
                actions,
                needs_case,
            }
        })
        .collect()
}

/// The actions `decider` permits at one source at least (reading: one
/// section of one source).
fn actions(decider: &Decider<'_, '_>, sources: &[v1::SourceInfo]) -> Vec<String> {
    let at_a_source = |action: Action| {
        sources.iter().any(|s| {
            decider
                .decide(action, Resource::Source(&s.organisation))
                .allowed
        })
    };
    let reads = sources.iter().any(|s| {
        s.sections
            .iter()
            .filter_map(|&n| v1::Section::try_from(n).ok())
            .any(|section| {
                decider
                    .decide(Action::Read, Resource::Section(&s.organisation, section))
                    .allowed
            })
    });
    let mut permitted = Vec::new();
    for (action, allowed) in [
        (Action::Find, at_a_source(Action::Find)),
        (Action::Read, reads),
        (Action::Aggregate, at_a_source(Action::Aggregate)),
        (Action::Refer, at_a_source(Action::Refer)),
        (
            Action::AccessLog,
            [LogScope::Person, LogScope::Review]
                .into_iter()
                .any(|scope| {
                    decider
                        .decide(Action::AccessLog, Resource::AuditLog(scope))
                        .allowed
                }),
        ),
    ] {
        if allowed {
            permitted.push(action.name().to_string());
        }
    }
    permitted
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
