//! `FindSubject`: candidates for a person from every source the caller may
//! search, grouped across sources with their scores.

use tonic::Request;
use tracing::Instrument;
use trama_proto::v1::{self, OutcomeStatus};

use crate::audit::{Facts, Finished};
use crate::call::{Admitted, FederationRequest, stage};
use crate::cases::CasePerson;
use crate::error::CallError;
use crate::federation::FederationService;
use crate::outcome::{self, Outcome};
use crate::plan::Plan;
use crate::policy::{Action, Decision};
use crate::records::merge;
use crate::registry::{self, Answer};
use crate::validate::{self, Context, FindQuery};

impl FederationRequest for v1::FindSubjectRequest {
    const CALL: &'static str = "FindSubject";

    fn context(&self) -> Option<&v1::RequestContext> {
        self.context.as_ref()
    }

    fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>) {
        let q = self.query.as_ref();
        let locals = q
            .and_then(|q| q.local_id.as_ref())
            .map(|l| vec![(l.organisation.as_str(), l.id.as_str())])
            .unwrap_or_default();
        (q.map_or("", |q| q.tax_code.as_str()), locals)
    }
}

/// A valid `FindSubject`.
#[derive(Debug)]
pub struct Valid {
    ctx: Context,
    query: FindQuery,
    /// The pseudonyms of the identifiers asked (the tax code's first),
    /// computed once for the locator and the audit entry.
    subjects: Vec<String>,
}

/// What the sources' answers make together.
#[derive(Debug)]
pub struct Combined {
    outcomes: Vec<Outcome>,
    candidates: Vec<v1::Candidate>,
}

/// Runs a `FindSubject` through the pipeline.
pub async fn run(
    gw: FederationService,
    call: Admitted,
    req: v1::FindSubjectRequest,
) -> Finished<v1::FindSubjectResponse> {
    let v = match stage("validate").in_scope(|| validated(&gw, &req)) {
        Ok(v) => v,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let plan = match stage("plan").in_scope(|| planned(&gw, &call, &v)) {
        Ok(p) => p,
        Err(e) => return Finished::refused(e, facts(&gw, &v, None, None)),
    };
    // A search under a case: the case must include someone the search
    // finds at the caller's own organisation.
    let org = &call.client.organisation;
    let person = CasePerson::of(&v.query.wire, org, &gw.auditor.pseudonyms);
    let case = match gw
        .cases
        .check(&gw.registry, org, &v.ctx, &person, call.deadline)
        .instrument(stage("case"))
        .await
    {
        Ok(case) => case,
        Err(refused) => {
            let facts = Facts {
                case: refused.check,
                ..facts(&gw, &v, None, None)
            };
            return Finished::refused(refused.error, facts);
        }
    };
    let answers = fanned_out(&call, &v, &plan)
        .instrument(stage("fan_out"))
        .await;
    let combined = stage("combine").in_scope(|| combined(&plan, answers));
    if let (Some(code), Some(pseudonym)) = (&v.query.tax_code, v.subjects.first()) {
        gw.learn_from_find(
            code.as_str(),
            pseudonym,
            &combined.outcomes,
            &combined.candidates,
        );
    }
    let facts = Facts {
        case,
        ..facts(&gw, &v, Some(&plan), Some(&combined))
    };
    let groups = merge::group(combined.candidates);
    let partial = outcome::is_partial(&combined.outcomes);
    tracing::info!(
        client = %call.client.organisation,
        purpose = %v.ctx.purpose,
        groups = groups.len(),
        sources = combined.outcomes.len(),
        partial,
        "find answered"
    );
    let answer = v1::FindSubjectResponse {
        groups,
        outcomes: combined.outcomes.iter().map(Outcome::to_proto).collect(),
        partial,
    };
    Finished::answered(answer, facts)
}

fn validated(gw: &FederationService, req: &v1::FindSubjectRequest) -> Result<Valid, CallError> {
    let ctx = validate::context(req.context.as_ref())?;
    let query = validate::subject_query(req.query.as_ref(), req.max_candidates, |o| {
        gw.registry.contains(o)
    })?;
    let tax = query
        .tax_code
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let local = query
        .local_id
        .as_ref()
        .map(|l| (l.organisation.as_str(), l.id.as_str()));
    let subjects = gw.auditor.pseudonyms.subject(&tax, local);
    Ok(Valid {
        ctx,
        query,
        subjects,
    })
}

/// The plan: a local id alone names one source, otherwise every source;
/// each is searched where the policy lets the caller find. No source to
/// ask refuses the call.
fn planned<'r>(
    gw: &'r FederationService,
    call: &Admitted,
    v: &Valid,
) -> Result<Plan<'r, ()>, CallError> {
    let policy = gw.policy.load();
    let asker = v.ctx.asker(&call.client.organisation);
    let decider = policy.decider(&asker);
    let only = v.query.local_id_only().map(|l| l.organisation.as_str());
    let sources = gw
        .registry
        .all()
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.organisation));
    let plan = Plan::per_source(sources, &decider, Action::Find);
    if plan.asks_anyone() {
        return Ok(plan);
    }
    let nobody = Decision {
        allowed: false,
        rule: "default-deny".into(),
        reason: "no source to ask".into(),
    };
    Err(CallError::denied(
        "find",
        plan.first_denial().map_or(&nobody, |d| d.as_ref()),
    ))
}

async fn fanned_out(
    call: &Admitted,
    v: &Valid,
    plan: &Plan<'_, ()>,
) -> Vec<Answer<v1::MatchSubjectResponse>> {
    let base = v1::MatchSubjectRequest {
        context: Some(v.ctx.to_proto()),
        client_organisation: call.client.organisation.clone(),
        query: Some(v.query.wire.clone()),
        max_candidates: v.query.max_candidates,
    };
    registry::fan_out(plan.asked(), call.deadline, |source, (), budget| {
        let mut client = source.client.clone();
        let mut request = base.clone();
        // A partner's local id goes only to that partner: the others must
        // not learn that the person is known there.
        if let Some(q) = request.query.as_mut()
            && q.local_id
                .as_ref()
                .is_some_and(|l| l.organisation != source.organisation)
        {
            q.local_id = None;
        }
        let mut r = Request::new(request);
        r.set_timeout(budget);
        async move {
            client
                .match_subject(r)
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await
}

fn combined(plan: &Plan<'_, ()>, answers: Vec<Answer<v1::MatchSubjectResponse>>) -> Combined {
    let mut candidates = Vec::new();
    let mut outcomes = Vec::with_capacity(answers.len());
    for answer in answers {
        let mut outcome = answer.outcome;
        if let Some(found) = answer.value {
            outcome.entries = u32::try_from(found.candidates.len()).unwrap_or(u32::MAX);
            if found.candidates.is_empty() {
                outcome.status = OutcomeStatus::NotFound;
            }
            candidates.extend(found.candidates);
        }
        outcomes.push(outcome);
    }
    Combined {
        outcomes: plan.outcomes(outcomes),
        candidates,
    }
}

/// The audit facts of a `FindSubject`: the subject asked about, and the
/// people the answer showed as candidates, apart.
fn facts(
    gw: &FederationService,
    v: &Valid,
    plan: Option<&Plan<'_, ()>>,
    combined: Option<&Combined>,
) -> Facts {
    let candidates = combined
        .map(|c| {
            c.candidates
                .iter()
                .filter_map(|c| c.identity.as_ref())
                .flat_map(|i| gw.auditor.identity(i))
                .collect()
        })
        .unwrap_or_default();
    Facts {
        subjects: v.subjects.clone(),
        candidates,
        sources: combined
            .map(|c| Facts::sources_of(&c.outcomes))
            .unwrap_or_default(),
        permitted_by: plan
            .map(|p| p.permitted_by.iter().cloned().collect())
            .unwrap_or_default(),
        ..Facts::default()
    }
}
