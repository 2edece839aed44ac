//! `trama.v1.Federation`: validates each call, fans out to the connectors
//! that can answer it, merges, and reports one outcome per source. Nothing a
//! connector returns is written anywhere: records pass through memory only,
//! and logs carry organisations, purposes, counts and outcomes, never
//! names, tax codes or contents.

use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};
use trama_proto::v1::federation_server::Federation;
use trama_proto::v1::{self, OutcomeStatus};
use trama_tls::NodeIdentity;

use crate::merge;
use crate::registry::{self, Registry};
use crate::validate;

/// `grpc.health.v1` status SERVING.
const SERVING: i32 = 1;

/// Deadline kept back from the caller's, so the answer (with the outcome of
/// every source) still reaches the caller in time.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// The Federation service.
#[derive(Debug, Clone)]
pub struct FederationService {
    registry: Registry,
    default_deadline: Duration,
}

impl FederationService {
    /// Serves `registry`; calls without a deadline get `default_deadline`.
    pub fn new(registry: Registry, default_deadline: Duration) -> Self {
        FederationService {
            registry,
            default_deadline,
        }
    }

    fn deadline<T>(&self, request: &Request<T>) -> Instant {
        let asked = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .unwrap_or(self.default_deadline);
        Instant::now() + asked.saturating_sub(DEADLINE_MARGIN)
    }
}

/// The caller's identity, put in the request by the role check.
fn caller<T>(request: &Request<T>) -> Result<NodeIdentity, Status> {
    request
        .extensions()
        .get::<NodeIdentity>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no verified client identity"))
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

#[tonic::async_trait]
impl Federation for FederationService {
    async fn find_subject(
        &self,
        request: Request<v1::FindSubjectRequest>,
    ) -> Result<Response<v1::FindSubjectResponse>, Status> {
        let client = caller(&request)?;
        let deadline = self.deadline(&request);
        let req = request.into_inner();
        let ctx = validate::context(req.context.as_ref())?.clone();
        let tax_code = validate::subject_query(req.query.as_ref(), |o| self.registry.contains(o))?;
        let mut query = req.query.unwrap_or_default();
        if let Some(code) = &tax_code {
            query.tax_code = code.to_string();
        }
        let max_candidates = match req.max_candidates {
            0 => 10,
            n => n.min(50),
        };
        // A local id names one source; otherwise every source is asked.
        let targets: Vec<&registry::Source> = match &query.local_id {
            Some(local) if tax_code.is_none() && query.family_name.is_empty() => self
                .registry
                .all()
                .iter()
                .filter(|s| s.organisation == local.organisation)
                .collect(),
            _ => self.registry.all().iter().collect(),
        };
        let connector_request = v1::MatchSubjectRequest {
            context: Some(ctx.clone()),
            client_organisation: client.organisation.clone(),
            query: Some(query),
            max_candidates,
        };
        let answers = registry::fan_out(targets, deadline, |source, budget| {
            let mut client = source.client;
            let mut r = Request::new(connector_request.clone());
            r.set_timeout(budget);
            async move { client.match_subject(r).await.map(Response::into_inner) }
        })
        .await;
        let mut outcomes = Vec::with_capacity(answers.len());
        let mut candidates = Vec::new();
        for mut answer in answers {
            if let Some(found) = answer.value {
                answer.outcome.entries = u32::try_from(found.candidates.len()).unwrap_or(u32::MAX);
                if found.candidates.is_empty() {
                    answer.outcome.status = OutcomeStatus::NotFound as i32;
                }
                candidates.extend(found.candidates);
            }
            outcomes.push(answer.outcome);
        }
        let groups = merge::group(candidates);
        let partial = registry::is_partial(&outcomes);
        tracing::info!(
            client = %client.organisation,
            purpose = %ctx.purpose,
            groups = groups.len(),
            sources = outcomes.len(),
            partial,
            "find answered"
        );
        Ok(Response::new(v1::FindSubjectResponse {
            groups,
            outcomes,
            partial,
        }))
    }

    async fn get_record(
        &self,
        request: Request<v1::GetRecordRequest>,
    ) -> Result<Response<v1::GetRecordResponse>, Status> {
        let client = caller(&request)?;
        let deadline = self.deadline(&request);
        let req = request.into_inner();
        let ctx = validate::context(req.context.as_ref())?.clone();
        let tax_code = validate::subject_key(req.subject.as_ref(), |o| self.registry.contains(o))?;
        let sections = validate::sections(&req.sections)?;
        let key = req.subject.unwrap_or_default();
        // Each source is asked by its own local id when the caller gave
        // one, else by tax code; a source with neither is not asked.
        let targets: Vec<(&registry::Source, String)> = self
            .registry
            .all()
            .iter()
            .filter_map(|s| {
                let local = key
                    .local_ids
                    .iter()
                    .find(|l| l.organisation == s.organisation)
                    .map(|l| l.id.clone());
                match (local, &tax_code) {
                    (Some(id), _) => Some((s, id)),
                    (None, Some(_)) => Some((s, String::new())),
                    (None, None) => None,
                }
            })
            .collect();
        let base = v1::FetchRecordRequest {
            context: Some(ctx.clone()),
            client_organisation: client.organisation.clone(),
            tax_code: tax_code
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            local_id: String::new(),
            sections: sections.iter().map(|s| *s as i32).collect(),
        };
        let sources: Vec<&registry::Source> = targets.iter().map(|(s, _)| *s).collect();
        let answers = registry::fan_out(sources, deadline, |source, budget| {
            let mut client = source.client.clone();
            let local_id = targets
                .iter()
                .find(|(s, _)| s.organisation == source.organisation)
                .map(|(_, id)| id.clone())
                .unwrap_or_default();
            let mut r = Request::new(v1::FetchRecordRequest {
                local_id,
                ..base.clone()
            });
            r.set_timeout(budget);
            async move { client.fetch_record(r).await.map(Response::into_inner) }
        })
        .await;
        let mut outcomes = Vec::with_capacity(answers.len());
        let mut found = Vec::new();
        for mut answer in answers {
            match answer.value {
                Some(r) if r.found => {
                    let sections = r.sections.unwrap_or_default();
                    answer.outcome.entries = merge::entry_count(&sections);
                    found.push((r.identity.unwrap_or_default(), sections));
                }
                Some(_) => answer.outcome.status = OutcomeStatus::NotFound as i32,
                None => {}
            }
            outcomes.push(answer.outcome);
        }
        let partial = registry::is_partial(&outcomes);
        let record = (!found.is_empty()).then(|| merge::record(found));
        tracing::info!(
            client = %client.organisation,
            purpose = %ctx.purpose,
            sections = sections.len(),
            sources_found = record.as_ref().map_or(0, |r| r.identities.len()),
            partial,
            "record answered"
        );
        Ok(Response::new(v1::GetRecordResponse {
            record,
            outcomes,
            partial,
        }))
    }

    async fn list_sources(
        &self,
        request: Request<v1::ListSourcesRequest>,
    ) -> Result<Response<v1::ListSourcesResponse>, Status> {
        caller(&request)?;
        let deadline = self.deadline(&request);
        let answers = registry::fan_out(
            self.registry.all().iter().collect(),
            deadline,
            |source, budget| {
                let mut client = source.client;
                let mut health = source.health;
                let mut describe = Request::new(v1::DescribeRequest {});
                describe.set_timeout(budget);
                // The connector's own health follows its database.
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
            },
        )
        .await;
        let sources = answers
            .into_iter()
            .map(|a| {
                let health = match (OutcomeStatus::try_from(a.outcome.status), &a.value) {
                    (Ok(OutcomeStatus::Ok), Some((_, true))) => v1::SourceHealth::Serving,
                    (Ok(OutcomeStatus::Unavailable | OutcomeStatus::Timeout), _) => {
                        v1::SourceHealth::Unreachable
                    }
                    _ => v1::SourceHealth::NotServing,
                };
                let d = a.value.map(|(d, _)| d).unwrap_or_default();
                v1::SourceInfo {
                    organisation: a.outcome.organisation,
                    system: d.system,
                    schema_version: d.schema_version,
                    sections: d.sections,
                    match_capabilities: d.match_capabilities,
                    health: health as i32,
                }
            })
            .collect();
        Ok(Response::new(v1::ListSourcesResponse { sources }))
    }
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
}
