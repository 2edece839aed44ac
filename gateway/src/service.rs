//! `trama.v1.Federation`: validates each call, asks the policy what it may
//! do, fans out to the connectors that can answer it, merges, reports one
//! outcome per source, and writes the audit entry before the answer
//! leaves. Nothing a connector returns is written anywhere: records pass
//! through memory only, and logs carry organisations, purposes, counts and
//! outcomes, never names, tax codes or contents.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use trama_audit::Entry;
use trama_proto::sections;
use trama_proto::v1::federation_server::Federation;
use trama_proto::v1::{self, OutcomeStatus, Section};
use trama_tls::NodeIdentity;

use crate::audit::{self, Auditor};
use crate::locator::Locator;
use crate::merge;
use crate::policy::{Action, Asker, Decision, Policy, Resource};
use crate::protect::RateLimiter;
use crate::registry::{self, Registry};
use crate::validate;

/// `grpc.health.v1` status SERVING.
const SERVING: i32 = 1;

/// Deadline kept back from the caller's, so the answer (with the outcome of
/// every source) still reaches the caller in time.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// The Federation service.
#[derive(Debug, Clone)]
pub struct FederationService {
    registry: Registry,
    default_deadline: Duration,
    policy: Arc<ArcSwap<Policy>>,
    auditor: Auditor,
    limiter: Arc<RateLimiter>,
    slots: Arc<Semaphore>,
    locator: Locator,
}

impl FederationService {
    /// Serves `registry` under `policy`, writing every call to `auditor`;
    /// calls without a deadline get `default_deadline`.
    pub fn new(
        registry: Registry,
        limits: &crate::config::Limits,
        policy: Arc<ArcSwap<Policy>>,
        auditor: Auditor,
    ) -> Self {
        FederationService {
            registry,
            default_deadline: limits.default_deadline,
            policy,
            auditor,
            limiter: Arc::new(RateLimiter::new(limits.client, limits.clients.clone())),
            slots: Arc::new(Semaphore::new(limits.max_in_flight)),
            locator: Locator::new(limits.locator_ttl, limits.locator_capacity),
        }
    }

    /// Lets a call in, or refuses it with `RESOURCE_EXHAUSTED` and when to
    /// retry: the client organisation's rate and daily quota first, then
    /// the gateway's own bound on calls in flight (load shedding, so that
    /// memory stays bounded under a flood). The slot is held for the call.
    fn admit(&self, client: &NodeIdentity) -> Result<OwnedSemaphorePermit, Status> {
        if let Err(limited) = self.limiter.take(&client.organisation) {
            metrics::counter!(
                "trama_rate_limited_total",
                "client" => client.organisation.clone(),
                "limit" => limited.limit
            )
            .increment(1);
            let mut details = ErrorDetails::new();
            details.set_retry_info(Some(limited.retry_after));
            details.add_quota_failure_violation(
                format!("organisation:{}", client.organisation),
                limited.description.clone(),
            );
            return Err(Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "{} exceeded ({}); retry in {} ms",
                    limited.limit,
                    limited.description,
                    limited.retry_after.as_millis()
                ),
                details,
            ));
        }
        self.slots.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("trama_shed_total").increment(1);
            let mut details = ErrorDetails::new();
            details.set_retry_info(Some(Duration::from_millis(200)));
            Status::with_error_details(
                Code::ResourceExhausted,
                "the gateway is at its limit of calls in flight; retry in 200 ms",
                details,
            )
        })
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

/// Who asks and why, for the policy.
fn asker<'a>(client: &'a NodeIdentity, ctx: &'a v1::RequestContext) -> Asker<'a> {
    let operator = ctx.operator.as_ref();
    Asker {
        organisation: &client.organisation,
        operator_id: operator.map_or("", |o| o.id.as_str()),
        role: operator.map_or("", |o| o.role.as_str()),
        purpose: &ctx.purpose,
        case_id: &ctx.case_id,
        legal_basis: &ctx.legal_basis,
    }
}

/// `PERMISSION_DENIED` naming the rule and the reason.
fn denied(decision: &Decision, what: &str) -> Status {
    metrics::counter!("trama_policy_denials_total", "rule" => decision.rule.clone()).increment(1);
    Status::with_error_details(
        Code::PermissionDenied,
        format!("{what}: {} (rule {})", decision.reason, decision.rule),
        ErrorDetails::with_error_info(
            "POLICY_DENIED",
            "trama",
            std::collections::HashMap::from([("rule".to_string(), decision.rule.clone())]),
        ),
    )
}

/// The outcome of a source the policy keeps the call away from.
fn denied_outcome(organisation: &str, decision: &Decision) -> v1::SourceOutcome {
    v1::SourceOutcome {
        organisation: organisation.to_string(),
        status: OutcomeStatus::Denied as i32,
        message: format!(
            "denied by policy: {} (rule {})",
            decision.reason, decision.rule
        ),
        latency_ms: 0,
        entries: 0,
    }
}

/// Appends `more` to an outcome message.
fn note(message: &mut String, more: &str) {
    if more.is_empty() {
        return;
    }
    if !message.is_empty() {
        message.push_str("; ");
    }
    message.push_str(more);
}

/// Puts outcomes in registry order.
fn in_registry_order(registry: &Registry, outcomes: &mut [v1::SourceOutcome]) {
    outcomes.sort_by_key(|o| {
        registry
            .all()
            .iter()
            .position(|s| s.organisation == o.organisation)
            .unwrap_or(usize::MAX)
    });
}

/// The distinct rules behind the permits, for the audit entry.
fn permit_reason(rules: BTreeSet<String>) -> String {
    if rules.is_empty() {
        String::new()
    } else {
        format!("rule {}", rules.into_iter().collect::<Vec<_>>().join(","))
    }
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

impl FederationService {
    async fn find(
        &self,
        request: Request<v1::FindSubjectRequest>,
        client: &NodeIdentity,
        entry: &mut Entry,
    ) -> Result<Response<v1::FindSubjectResponse>, Status> {
        let deadline = self.deadline(&request);
        let req = request.into_inner();
        let ctx = validate::context(req.context.as_ref())?;
        let tax_code = validate::subject_query(req.query.as_ref(), |o| self.registry.contains(o))?;
        let mut query = req.query.unwrap_or_default();
        if let Some(code) = &tax_code {
            query.tax_code = code.to_string();
        }
        let locals: Vec<v1::LocalId> = query.local_id.iter().cloned().collect();
        self.auditor.add_key(entry, &query.tax_code, &locals);
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
        let policy = self.policy.load();
        let who = asker(client, &ctx);
        let mut outcomes = Vec::new();
        let mut allowed = Vec::new();
        let mut rules = BTreeSet::new();
        let mut first_denial = None;
        let decider = policy.decider(&who);
        for source in targets {
            let d = decider.decide(Action::Find, Resource::Source(&source.organisation));
            if d.allowed {
                rules.insert(d.rule.clone());
                allowed.push(source);
            } else {
                outcomes.push(denied_outcome(&source.organisation, &d));
                first_denial.get_or_insert(d);
            }
        }
        if allowed.is_empty() {
            let d = first_denial.unwrap_or_else(|| {
                Arc::new(Decision {
                    allowed: false,
                    rule: "default-deny".into(),
                    reason: "no source to ask".into(),
                })
            });
            entry.reason = format!("rule {}: {}", d.rule, d.reason);
            return Err(denied(&d, "find"));
        }
        entry.reason = permit_reason(rules);
        let connector_request = v1::MatchSubjectRequest {
            context: Some(ctx.clone()),
            client_organisation: client.organisation.clone(),
            query: Some(query),
            max_candidates,
        };
        let answers = registry::fan_out(allowed, deadline, |source, budget| {
            let mut client = source.client;
            let mut request = connector_request.clone();
            // A partner's local id goes only to that partner: the others
            // must not learn that the person is known there.
            if let Some(q) = request.query.as_mut()
                && q.local_id
                    .as_ref()
                    .is_some_and(|l| l.organisation != source.organisation)
            {
                q.local_id = None;
            }
            let mut r = Request::new(request);
            r.set_timeout(budget);
            async move { client.match_subject(r).await.map(Response::into_inner) }
        })
        .await;
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
        if let Some(code) = &tax_code {
            self.locate_from_find(code.as_str(), &outcomes, &candidates);
        }
        in_registry_order(&self.registry, &mut outcomes);
        // The people the answer shows are recorded as candidates, apart
        // from the subject asked about.
        for c in &candidates {
            if let Some(identity) = &c.identity {
                self.auditor.add_candidate(entry, identity);
            }
        }
        audit::add_outcomes(entry, &outcomes);
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

    /// A search by tax code that every source answered tells the locator
    /// who holds the person (the sources that returned a candidate with
    /// exactly that code, the way `GetRecord` looks them up): the record
    /// read that usually follows asks only them.
    fn locate_from_find(
        &self,
        code: &str,
        outcomes: &[v1::SourceOutcome],
        candidates: &[v1::Candidate],
    ) {
        if !self.every_source_answered(outcomes) {
            return;
        }
        let mut holders: Vec<String> = candidates
            .iter()
            .filter_map(|c| c.identity.as_ref())
            .filter(|i| i.tax_code == code)
            .filter_map(|i| i.local_id.as_ref().map(|l| l.organisation.clone()))
            .collect();
        holders.sort();
        holders.dedup();
        self.locator
            .remember(self.auditor.pseudonyms.tax_code(code), holders);
    }

    /// Whether `outcomes` hold an answer (`ok` or `not found`) from every
    /// source of the federation: only then does the locator learn who
    /// holds a person.
    fn every_source_answered(&self, outcomes: &[v1::SourceOutcome]) -> bool {
        outcomes.len() == self.registry.all().len()
            && outcomes.iter().all(|o| {
                matches!(
                    OutcomeStatus::try_from(o.status),
                    Ok(OutcomeStatus::Ok | OutcomeStatus::NotFound)
                )
            })
    }

    async fn record(
        &self,
        request: Request<v1::GetRecordRequest>,
        client: &NodeIdentity,
        entry: &mut Entry,
    ) -> Result<Response<v1::GetRecordResponse>, Status> {
        let deadline = self.deadline(&request);
        let req = request.into_inner();
        let ctx = validate::context(req.context.as_ref())?;
        let tax_code = validate::subject_key(req.subject.as_ref(), |o| self.registry.contains(o))?;
        let key = req.subject.unwrap_or_default();
        let tax_text = tax_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        self.auditor.add_key(entry, &tax_text, &key.local_ids);
        let asked = validate::sections(&req.sections)?;
        entry.sections_asked = asked.iter().map(|s| sections::name(*s).into()).collect();
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

        // The locator: asked by tax code alone, only the sources that held
        // the person at a recent complete answer are asked.
        let located = match (&tax_code, key.local_ids.is_empty()) {
            (Some(code), true) => {
                let p = self.auditor.pseudonyms.tax_code(code.as_str());
                let known = self.locator.get(&p);
                Some((p, known))
            }
            _ => None,
        };
        let mut skipped = Vec::new();
        let targets: Vec<(&registry::Source, String)> = match located.as_ref().and_then(|(_, k)| k.clone()) {
            Some(known) => targets
                .into_iter()
                .filter(|(s, _)| {
                    let keep = known.contains(&s.organisation);
                    if !keep {
                        skipped.push(v1::SourceOutcome {
                            organisation: s.organisation.clone(),
                            status: OutcomeStatus::NotFound as i32,
                            message: "not asked: it did not hold this person at a recent complete answer (locator cache)".into(),
                            latency_ms: 0,
                            entries: 0,
                        });
                    }
                    keep
                })
                .collect(),
            None => targets,
        };
        let used_locator = located.as_ref().is_some_and(|(_, k)| k.is_some());

        // The policy, for every section of every source asked.
        let policy = self.policy.load();
        let who = asker(client, &ctx);
        // Reading a source's sections also tells whether the person is known
        // there: a source the caller may not `find` at is not asked.
        let decider = policy.decider(&who);
        let finds: Vec<Arc<Decision>> = targets
            .iter()
            .map(|(source, _)| decider.decide(Action::Find, Resource::Source(&source.organisation)))
            .collect();
        let decisions: Vec<Vec<(Section, Arc<Decision>)>> = targets
            .iter()
            .map(|(source, _)| {
                asked
                    .iter()
                    .map(|section| {
                        let d = decider.decide(
                            Action::Read,
                            Resource::Section(&source.organisation, *section),
                        );
                        (*section, d)
                    })
                    .collect()
            })
            .collect();
        // A section no source may release is refused outright: the caller
        // asked for more than the purpose allows.
        for (i, section) in asked.iter().enumerate() {
            let anywhere = decisions
                .iter()
                .zip(&finds)
                .any(|(per, f)| f.allowed && per[i].1.allowed);
            // Report the section's own refusal where the source may be
            // asked at all, else why no source may be.
            let why = decisions
                .iter()
                .zip(&finds)
                .find(|(_, f)| f.allowed)
                .map(|(per, _)| &per[i].1)
                .or_else(|| finds.first());
            if !anywhere && let Some(d) = why {
                entry.reason = format!(
                    "section {}: rule {}: {}",
                    sections::name(*section),
                    d.rule,
                    d.reason
                );
                return Err(denied(d, &format!("section {}", sections::name(*section))));
            }
        }
        let mut outcomes = Vec::new();
        let mut plan: Vec<(&registry::Source, String, Vec<i32>, String)> = Vec::new();
        let mut rules = BTreeSet::new();
        for (((source, local_id), per), find) in targets.iter().zip(&decisions).zip(&finds) {
            if !find.allowed {
                outcomes.push(denied_outcome(&source.organisation, find));
                continue;
            }
            let allowed: Vec<i32> = per
                .iter()
                .filter(|(_, d)| d.allowed)
                .map(|(s, _)| *s as i32)
                .collect();
            rules.extend(
                per.iter()
                    .filter(|(_, d)| d.allowed)
                    .map(|(_, d)| d.rule.clone()),
            );
            let withheld: Vec<&str> = per
                .iter()
                .filter(|(_, d)| !d.allowed)
                .map(|(s, _)| sections::name(*s))
                .collect();
            if allowed.is_empty() {
                if let Some((_, d)) = per.first() {
                    outcomes.push(denied_outcome(&source.organisation, d));
                }
                continue;
            }
            let message = if withheld.is_empty() {
                String::new()
            } else {
                format!("withheld by policy: {}", withheld.join(", "))
            };
            plan.push((source, local_id.clone(), allowed, message));
        }
        entry.reason = permit_reason(rules);

        let base = v1::FetchRecordRequest {
            context: Some(ctx.clone()),
            client_organisation: client.organisation.clone(),
            tax_code: tax_text,
            local_id: String::new(),
            sections: Vec::new(),
        };
        let sources: Vec<&registry::Source> = plan.iter().map(|(s, ..)| *s).collect();
        let answers = registry::fan_out(sources, deadline, |source, budget| {
            let mut client = source.client.clone();
            let (local_id, sections) = plan
                .iter()
                .find(|(s, ..)| s.organisation == source.organisation)
                .map(|(_, id, sections, _)| (id.clone(), sections.clone()))
                .unwrap_or_default();
            let mut r = Request::new(v1::FetchRecordRequest {
                local_id,
                sections,
                ..base.clone()
            });
            r.set_timeout(budget);
            async move { client.fetch_record(r).await.map(Response::into_inner) }
        })
        .await;
        let mut found = Vec::new();
        for (mut answer, (.., policy_note)) in answers.into_iter().zip(&plan) {
            let mut message = std::mem::take(&mut answer.outcome.message);
            note(&mut message, policy_note);
            if let Some(r) = answer.value {
                if !r.withheld.is_empty() {
                    let names: Vec<&str> = r
                        .withheld
                        .iter()
                        .filter_map(|s| Section::try_from(*s).ok())
                        .map(sections::name)
                        .collect();
                    note(
                        &mut message,
                        &format!("denied by source: {}", names.join(", ")),
                    );
                }
                if r.found {
                    let mut sections = r.sections.unwrap_or_default();
                    let asked_here = plan
                        .iter()
                        .find(|(s, ..)| s.organisation == answer.outcome.organisation)
                        .map(|(_, _, allowed, _)| allowed.as_slice())
                        .unwrap_or_default();
                    if merge::retain_sections(&mut sections, asked_here) {
                        tracing::warn!(
                            source = %answer.outcome.organisation,
                            "a connector returned sections it was not asked for; dropped"
                        );
                        answer.outcome.status = OutcomeStatus::Error as i32;
                        note(
                            &mut message,
                            "the source returned sections it was not asked for; they were dropped",
                        );
                    }
                    answer.outcome.entries = merge::entry_count(&sections);
                    let identity = r.identity.unwrap_or_default();
                    self.auditor.add_identity(entry, &identity);
                    found.push((identity, sections));
                } else {
                    answer.outcome.status = OutcomeStatus::NotFound as i32;
                }
            }
            answer.outcome.message = message;
            outcomes.push(answer.outcome);
        }
        // `outcomes` are, so far, those of the sources asked.
        if let Some((pseudonym, _)) = located {
            let status = |o: &v1::SourceOutcome| OutcomeStatus::try_from(o.status);
            if used_locator {
                // A remembered source no longer holds the person: ask
                // everyone next time.
                if outcomes
                    .iter()
                    .any(|o| status(o) == Ok(OutcomeStatus::NotFound))
                {
                    self.locator.forget(&pseudonym);
                }
            } else if self.every_source_answered(&outcomes) {
                // Every source answered: remember who holds the person.
                let holders = outcomes
                    .iter()
                    .filter(|o| status(o) == Ok(OutcomeStatus::Ok))
                    .map(|o| o.organisation.clone())
                    .collect();
                self.locator.remember(pseudonym, holders);
            }
        }
        outcomes.extend(skipped);
        in_registry_order(&self.registry, &mut outcomes);
        audit::add_outcomes(entry, &outcomes);
        let partial = registry::is_partial(&outcomes);
        let record = (!found.is_empty()).then(|| merge::record(found));
        if let Some(r) = &record {
            entry.sections_returned = r
                .sections
                .as_ref()
                .map(v1::RecordSections::names_with_entries)
                .unwrap_or_default();
        }
        tracing::info!(
            client = %client.organisation,
            purpose = %ctx.purpose,
            sections = asked.len(),
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

    async fn access(
        &self,
        request: Request<v1::AccessLogRequest>,
        client: &NodeIdentity,
        entry: &mut Entry,
    ) -> Result<Response<v1::AccessLogResponse>, Status> {
        let req = request.into_inner();
        let ctx = validate::context(req.context.as_ref())?;
        let tax_code = validate::subject_key(req.subject.as_ref(), |o| self.registry.contains(o))?;
        let key = req.subject.unwrap_or_default();
        let tax_text = tax_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        self.auditor.add_key(entry, &tax_text, &key.local_ids);
        let policy = self.policy.load();
        let d = policy.decide(&asker(client, &ctx), Action::AccessLog, Resource::AuditLog);
        if !d.allowed {
            entry.reason = format!("rule {}: {}", d.rule, d.reason);
            return Err(denied(&d, "access log"));
        }
        entry.reason = format!("rule {}", d.rule);
        let limit = match req.limit {
            0 => 100,
            n => n.min(1000),
        };
        let mut pseudonyms = entry.subjects.clone();
        pseudonyms.sort();
        pseudonyms.dedup();
        let found = self
            .auditor
            .log
            .store()
            .by_subject(&pseudonyms, i64::from(limit))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "access log read failed");
                Status::unavailable("the audit log cannot be read now; try again later")
            })?;
        tracing::info!(
            client = %client.organisation,
            purpose = %ctx.purpose,
            entries = found.len(),
            "access log answered"
        );
        Ok(Response::new(v1::AccessLogResponse {
            entries: found
                .into_iter()
                .map(|(seq, e)| audit::access_entry(seq, e, &pseudonyms))
                .collect(),
        }))
    }
}

/// Runs a call to completion even if the caller goes away (cancels, or
/// its deadline passes): the connectors may already have released data,
/// so the audit entry must still be written.
async fn detached<T: Send + 'static>(
    call: impl Future<Output = Result<T, Status>> + Send + 'static,
) -> Result<T, Status> {
    tokio::spawn(call).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a call's task failed");
        Err(Status::internal(
            "the gateway failed to answer; see its log",
        ))
    })
}

#[tonic::async_trait]
impl Federation for FederationService {
    async fn find_subject(
        &self,
        request: Request<v1::FindSubjectRequest>,
    ) -> Result<Response<v1::FindSubjectResponse>, Status> {
        let client = caller(&request)?;
        let slot = self.admit(&client)?;
        let this = self.clone();
        detached(async move {
            let _slot = slot;
            let mut entry =
                audit::draft("FindSubject", &client, request.get_ref().context.as_ref());
            // The subject as asked, even if the request is then refused.
            if let Some(q) = &request.get_ref().query {
                let locals: Vec<v1::LocalId> = q.local_id.iter().cloned().collect();
                this.auditor.add_key(&mut entry, &q.tax_code, &locals);
            }
            let result = this.find(request, &client, &mut entry).await;
            this.auditor.finish(entry, result).await
        })
        .await
    }

    async fn get_record(
        &self,
        request: Request<v1::GetRecordRequest>,
    ) -> Result<Response<v1::GetRecordResponse>, Status> {
        let client = caller(&request)?;
        let slot = self.admit(&client)?;
        let this = self.clone();
        detached(async move {
            let _slot = slot;
            let mut entry = audit::draft("GetRecord", &client, request.get_ref().context.as_ref());
            if let Some(k) = &request.get_ref().subject {
                this.auditor.add_key(&mut entry, &k.tax_code, &k.local_ids);
            }
            let result = this.record(request, &client, &mut entry).await;
            this.auditor.finish(entry, result).await
        })
        .await
    }

    async fn access_log(
        &self,
        request: Request<v1::AccessLogRequest>,
    ) -> Result<Response<v1::AccessLogResponse>, Status> {
        let client = caller(&request)?;
        let slot = self.admit(&client)?;
        let this = self.clone();
        detached(async move {
            let _slot = slot;
            let mut entry = audit::draft("AccessLog", &client, request.get_ref().context.as_ref());
            let result = this.access(request, &client, &mut entry).await;
            this.auditor.finish(entry, result).await
        })
        .await
    }

    async fn list_sources(
        &self,
        request: Request<v1::ListSourcesRequest>,
    ) -> Result<Response<v1::ListSourcesResponse>, Status> {
        let client = caller(&request)?;
        let _slot = self.admit(&client)?;
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
                let source = self
                    .registry
                    .all()
                    .iter()
                    .find(|s| s.organisation == a.outcome.organisation);
                v1::SourceInfo {
                    circuit: source
                        .map(|s| s.breaker.state().name().to_string())
                        .unwrap_or_default(),
                    in_flight: source.map_or(0, |s| {
                        u32::try_from(s.in_flight.current()).unwrap_or(u32::MAX)
                    }),
                    max_in_flight: source
                        .map_or(0, |s| u32::try_from(s.in_flight.max()).unwrap_or(u32::MAX)),
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
