//! `Aggregate`: counts of distinct people across the partners by the
//! dimensions asked. Each partner counts its own facts into sketches of
//! pseudonyms under the federation linkage key (which the gateway does not
//! hold); the gateway merges them, checks that no filter singles anyone
//! out, and publishes every cell, margin and overlap under consistent
//! perturbation ([`crate::stats`]). The audit records what was asked,
//! never the answer's cells.

use std::sync::Arc;

use tonic::Request;
use tracing::Instrument;
use trama_proto::v1::{self, OutcomeStatus};

use crate::audit::{Facts, Finished};
use crate::call::{Admitted, FederationRequest, stage};
use crate::error::CallError;
use crate::federation::FederationService;
use crate::outcome::{self, Outcome};
use crate::plan::Plan;
use crate::policy::Action;
use crate::registry::{self, Answer, Source};
use crate::stats::domain::Domain;
use crate::stats::question::Question;
use crate::stats::table::{self, SourceCounts};
use crate::validate::{self, Context};

impl FederationRequest for v1::AggregateRequest {
    const CALL: &'static str = "Aggregate";

    fn context(&self) -> Option<&v1::RequestContext> {
        self.context.as_ref()
    }

    fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>) {
        // About groups of people, never one person.
        ("", Vec::new())
    }
}

/// A valid `Aggregate`.
#[derive(Debug)]
struct Valid {
    ctx: Context,
    question: Question,
    /// The values the table lists, fixed before anyone is asked.
    domain: Domain,
    /// The day of the answer, `YYYY-MM-DD`.
    as_of: String,
}

/// Runs an `Aggregate` through the pipeline.
pub async fn run(
    gw: FederationService,
    call: Admitted,
    req: v1::AggregateRequest,
) -> Finished<v1::AggregateResponse> {
    let v = match stage("validate").in_scope(|| validated(&gw, &req)) {
        Ok(v) => v,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let mut facts = Facts {
        sections_asked: v.question.audit_terms(),
        ..Facts::default()
    };
    let plan = match stage("plan").in_scope(|| planned(&gw, &call, &v)) {
        Ok(p) => p,
        Err(e) => return Finished::refused(e, facts),
    };
    facts.permitted_by = plan.permitted_by.iter().cloned().collect();
    let key = cache_key(&call, &v, &plan);
    if let Some(table) = gw.statistics.cached(&key) {
        facts.sources = cached_sources(&table);
        return Finished::answered((*table).clone(), facts);
    }
    let answers = fanned_out(&call, &v, &plan)
        .instrument(stage("fan_out"))
        .await;
    let (outcomes, counts) = stage("combine").in_scope(|| decoded(&plan, answers));
    facts.sources = Facts::sources_of(&outcomes);
    let table = match stage("publish").in_scope(|| published(&gw, &v, &counts, &outcomes)) {
        Ok(t) => t,
        Err(e) => return Finished::refused(e, facts),
    };
    tracing::info!(
        client = %call.client.organisation,
        purpose = %v.ctx.purpose,
        cells = table.cells.len(),
        partial = table.partial,
        "aggregate answered"
    );
    let table = Arc::new(table);
    if !table.partial {
        gw.statistics.keep(key, table.clone());
    }
    Finished::answered((*table).clone(), facts)
}

fn validated(gw: &FederationService, req: &v1::AggregateRequest) -> Result<Valid, CallError> {
    let ctx = validate::context(req.context.as_ref())?;
    let question = Question::of(req)?;
    let max_cells = gw.statistics.perturbation.params().max_cells;
    let domain = Domain::of(&question, &gw.statistics.places, max_cells)?;
    let today = time::OffsetDateTime::now_utc().date();
    Ok(Valid {
        ctx,
        question,
        domain,
        as_of: format!(
            "{:04}-{:02}-{:02}",
            today.year(),
            u8::from(today.month()),
            today.day()
        ),
    })
}

/// The policy for counting at every source; refused when no source may be
/// counted for this caller.
fn planned<'r>(
    gw: &'r FederationService,
    call: &Admitted,
    v: &Valid,
) -> Result<Plan<'r, ()>, CallError> {
    let policy = gw.policy.load();
    let asker = v.ctx.asker(&call.client.organisation);
    let decider = policy.decider(&asker);
    let plan = Plan::per_source(gw.registry.all(), &decider, Action::Aggregate);
    if !plan.asks_anyone()
        && let Some(d) = plan.first_denial()
    {
        return Err(CallError::denied("statistics", d));
    }
    Ok(plan)
}

/// The cache key: the question, and who asks (the partners' own rules
/// depend on the client, purpose and role, the plan on the policy), so
/// that a table is never served to a caller who could not have asked for
/// all of it.
fn cache_key(call: &Admitted, v: &Valid, plan: &Plan<'_, ()>) -> String {
    let asked: Vec<&str> = plan
        .asked()
        .iter()
        .map(|(s, ())| s.organisation.as_str())
        .collect();
    format!(
        "{}|{}|{}|{}|{}",
        v.question.canonical(&v.as_of),
        call.client.organisation,
        v.ctx.purpose,
        v.ctx.role,
        asked.join(",")
    )
}

/// Asks every source the plan allows to count, in parallel.
async fn fanned_out(
    call: &Admitted,
    v: &Valid,
    plan: &Plan<'_, ()>,
) -> Vec<Answer<v1::CountPeopleResponse>> {
    let (base_by, _) = v.question.base_by();
    let template = v1::CountPeopleRequest {
        context: Some(v.ctx.to_proto()),
        client_organisation: call.client.organisation.clone(),
        group_by: v.question.group_by_names(),
        filters: v.question.wire_filters(),
        base_by: base_by.iter().map(|d| d.name().into()).collect(),
    };
    registry::fan_out(
        plan.asked(),
        call.deadline,
        |source: &Source, (), budget| {
            let mut client = source.client.clone();
            let mut request = Request::new(template.clone());
            request.set_timeout(budget);
            async move { Ok(client.count_people(request).await?.into_inner()) }
        },
    )
    .await
}

/// Every source's outcome, and the counts of those that answered; a
/// malformed answer is that source's error. An outcome carries no number
/// of entries: how much a partner holds about a small population would say
/// who is known there.
fn decoded(
    plan: &Plan<'_, ()>,
    answers: Vec<Answer<v1::CountPeopleResponse>>,
) -> (Vec<Outcome>, Vec<SourceCounts>) {
    let mut counts = Vec::new();
    let answered: Vec<Outcome> = answers
        .into_iter()
        .map(|a| {
            let mut o = a.outcome;
            if let Some(r) = a.value {
                match SourceCounts::decode(&o.organisation, &r) {
                    Ok(c) => counts.push(c),
                    Err(problem) => {
                        o.status = OutcomeStatus::Error;
                        o.note(problem);
                    }
                }
            }
            o
        })
        .collect();
    (plan.outcomes(answered), counts)
}

/// The published table: the difference check and the table's population
/// first, then every cell of the domain, margin, overlap and contribution
/// under disclosure control.
fn published(
    gw: &FederationService,
    v: &Valid,
    counts: &[SourceCounts],
    outcomes: &[Outcome],
) -> Result<v1::AggregateResponse, CallError> {
    let p = &gw.statistics.perturbation;
    let (base_by, groups) = v.question.base_by();
    if !base_by.is_empty() {
        let min = p.params().min_difference;
        table::difference_check(&base_by, groups, &v.question.checked_filters(), counts, min)?;
    }
    let inner = table::merged(&v.domain, counts).map_err(CallError::Internal)?;
    let population = table::population(&inner).map_err(CallError::Internal)?;
    let min = p.params().min_population;
    if population < u64::from(min) {
        return Err(too_few(&v.question, min));
    }
    let cells = table::cells(&v.domain, &inner, p).map_err(CallError::Internal)?;
    let overlaps = table::overlaps(counts, p).map_err(CallError::Internal)?;
    Ok(v1::AggregateResponse {
        group_by: v.question.group_by_names(),
        cells,
        overlaps,
        contributions: table::contributions(counts, p),
        protection: Some(p.describe()),
        outcomes: outcomes.iter().map(Outcome::to_proto).collect(),
        partial: outcome::is_partial(outcomes),
        as_of: v.as_of.clone(),
        ages_at: "fact_date".into(),
    })
}

/// The refusal of a table whose whole population is below the minimum. It
/// says only that the filters leave few people, which the published grand
/// total would say too.
fn too_few(question: &Question, min: u32) -> CallError {
    let field = if question.filters.is_empty() {
        "group_by"
    } else {
        "filters"
    };
    CallError::Disclosure {
        field: field.into(),
        reason: format!(
            "the table counts fewer than {min} people (statistics.min_population): a table of so few could single someone out. Widen or drop a filter"
        ),
    }
}

/// The sources of a table served from the cache, for the audit entry.
fn cached_sources(table: &v1::AggregateResponse) -> Vec<trama_audit::SourceEntry> {
    table
        .outcomes
        .iter()
        .map(|o| trama_audit::SourceEntry {
            organisation: o.organisation.clone(),
            outcome: "cached".into(),
            entries: o.entries,
        })
        .collect()
}
