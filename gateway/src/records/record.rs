//! `GetRecord`: the sections of a person's record the purpose allows, from
//! every source that holds the person, merged with provenance, with one
//! outcome per source.

use std::collections::BTreeSet;
use std::sync::Arc;

use tonic::Request;
use tracing::Instrument;
use trama_proto::sections;
use trama_proto::v1::{self, OutcomeStatus, Section};

use crate::audit::{Facts, Finished};
use crate::call::{Admitted, FederationRequest, stage};
use crate::cases::{CaseCheck, CasePerson};
use crate::error::CallError;
use crate::federation::FederationService;
use crate::outcome::{self, Outcome};
use crate::plan::{Ask, Plan, SourcePlan};
use crate::policy::{Action, Decider, Decision, Resource};
use crate::records::locator::Located;
use crate::records::merge;
use crate::registry::{self, Answer, Source};
use crate::validate::{self, Context, SubjectKey};

impl FederationRequest for v1::GetRecordRequest {
    const CALL: &'static str = "GetRecord";

    fn context(&self) -> Option<&v1::RequestContext> {
        self.context.as_ref()
    }

    fn subject_as_sent(&self) -> (&str, Vec<(&str, &str)>) {
        let key = self.subject.as_ref();
        let locals = key
            .map(|k| {
                k.local_ids
                    .iter()
                    .map(|l| (l.organisation.as_str(), l.id.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        (key.map_or("", |k| k.tax_code.as_str()), locals)
    }
}

/// A valid `GetRecord`.
#[derive(Debug)]
pub struct Valid {
    ctx: Context,
    key: SubjectKey,
    /// The key's pseudonyms (the tax code's first), computed once for the
    /// locator and the audit entry.
    subjects: Vec<String>,
    sections: Vec<Section>,
}

/// What one source is asked.
#[derive(Debug)]
pub struct RecordAsk {
    /// The source's own id for the person, empty to ask by tax code.
    local_id: String,
    /// The sections the policy lets it be asked for.
    sections: Vec<Section>,
    /// The sections asked of the call that the policy withholds here.
    withheld: Vec<Section>,
}

/// What the sources' answers make together.
#[derive(Debug)]
pub struct Combined {
    outcomes: Vec<Outcome>,
    record: Option<v1::Record>,
}

/// Runs a `GetRecord` through the pipeline.
pub async fn run(
    gw: FederationService,
    call: Admitted,
    req: v1::GetRecordRequest,
) -> Finished<v1::GetRecordResponse> {
    let v = match stage("validate").in_scope(|| validated(&gw, &req)) {
        Ok(v) => v,
        Err(e) => return Finished::refused(e, Facts::default()),
    };
    let mut plan = match stage("plan").in_scope(|| planned(&gw, &call, &v)) {
        Ok(p) => p,
        Err(e) => return Finished::refused(e, facts(&gw, &v, None, None)),
    };
    let case = match case_checked(&gw, &call, &v).instrument(stage("case")).await {
        Ok(case) => case,
        Err(refused) => {
            let facts = Facts {
                case: refused.check,
                ..facts(&gw, &v, None, None)
            };
            return Finished::refused(refused.error, facts);
        }
    };
    let located = stage("plan").in_scope(|| located(&gw, &v, &mut plan));
    let answers = fanned_out(&call, &v, &plan)
        .instrument(stage("fan_out"))
        .await;
    let combined = stage("combine").in_scope(|| combined(&plan, answers));
    if let Some(located) = located {
        gw.learn_holders(located, &plan.answered(&combined.outcomes));
    }
    let facts = Facts {
        case,
        ..facts(&gw, &v, Some(&plan), Some(&combined))
    };
    let partial = outcome::is_partial(&combined.outcomes);
    tracing::info!(
        client = %call.client.organisation,
        purpose = %v.ctx.purpose,
        sections = v.sections.len(),
        sources_found = combined.record.as_ref().map_or(0, |r| r.identities.len()),
        partial,
        "record answered"
    );
    let answer = v1::GetRecordResponse {
        record: combined.record,
        outcomes: combined.outcomes.iter().map(Outcome::to_proto).collect(),
        partial,
    };
    Finished::answered(answer, facts)
}

fn validated(gw: &FederationService, req: &v1::GetRecordRequest) -> Result<Valid, CallError> {
    let ctx = validate::context(req.context.as_ref())?;
    let key = validate::subject_key(req.subject.as_ref(), |o| gw.registry.contains(o))?;
    Ok(Valid {
        ctx,
        subjects: gw.auditor.key(&key),
        key,
        sections: validate::sections(&req.sections)?,
    })
}

/// The plan: the policy for every section of every source; a section no
/// source may release refuses the call.
fn planned<'r>(
    gw: &'r FederationService,
    call: &Admitted,
    v: &Valid,
) -> Result<Plan<'r, RecordAsk>, CallError> {
    let policy = gw.policy.load();
    let asker = v.ctx.asker(&call.client.organisation);
    let decider = policy.decider(&asker);
    let decided: Vec<Decided<'r>> = targets(gw, &v.key)
        .into_iter()
        .map(|(source, local_id)| Decided::of(&decider, source, local_id, &v.sections))
        .collect();
    refuse_unreleasable(&v.sections, &decided)?;
    let mut permitted_by = BTreeSet::new();
    let sources = decided
        .into_iter()
        .map(|d| d.into_plan(&v.sections, &mut permitted_by))
        .collect();
    Ok(Plan {
        sources,
        permitted_by,
    })
}

/// The case the caller states, bound to an open case of its organisation
/// that includes the person: after the policy, before the locator and the
/// sources.
async fn case_checked(
    gw: &FederationService,
    call: &Admitted,
    v: &Valid,
) -> Result<CaseCheck, crate::cases::CaseRefused> {
    let org = &call.client.organisation;
    let named = v1::SubjectQuery {
        tax_code: v.key.tax_text(),
        local_id: v.key.local_at(org).map(|id| v1::LocalId {
            organisation: org.clone(),
            id: id.to_string(),
        }),
        ..v1::SubjectQuery::default()
    };
    let person = CasePerson::of(&named, org, &gw.auditor.pseudonyms);
    gw.cases
        .check(&gw.registry, org, &v.ctx, &person, call.deadline)
        .await
}

/// The locator, among the sources the caller may ask: those that answered
/// recently that they do not hold the person are not asked again.
fn located(gw: &FederationService, v: &Valid, plan: &mut Plan<'_, RecordAsk>) -> Option<Located> {
    let located = gw.locate(&v.key, &v.subjects);
    if let Some(known) = located.as_ref().and_then(|l| l.known.clone()) {
        plan.skip_absent(&known.absent);
    }
    located
}

/// Each source is asked by its own local id when the caller gave one, else
/// by tax code; a source with neither is not part of the call.
fn targets<'r>(gw: &'r FederationService, key: &SubjectKey) -> Vec<(&'r Source, String)> {
    gw.registry
        .all()
        .iter()
        .filter_map(|s| match (key.local_at(&s.organisation), &key.tax_code) {
            (Some(id), _) => Some((s, id.to_string())),
            (None, Some(_)) => Some((s, String::new())),
            (None, None) => None,
        })
        .collect()
}

/// The policy's decisions for one source: finding the person there (reading
/// a source's sections also tells whether it knows the person) and reading
/// each section asked.
struct Decided<'r> {
    source: &'r Source,
    local_id: String,
    find: Arc<Decision>,
    reads: Vec<Arc<Decision>>,
}

impl<'r> Decided<'r> {
    fn of(
        decider: &Decider<'_, '_>,
        source: &'r Source,
        local_id: String,
        asked: &[Section],
    ) -> Self {
        let org = source.organisation.as_str();
        Decided {
            source,
            local_id,
            find: decider.decide(Action::Find, Resource::Source(org)),
            reads: asked
                .iter()
                .map(|s| decider.decide(Action::Read, Resource::Section(org, *s)))
                .collect(),
        }
    }

    /// Whether section number `i` of the call may be read here.
    fn releases(&self, i: usize) -> bool {
        self.find.allowed && self.reads[i].allowed
    }

    fn into_plan(
        self,
        asked: &[Section],
        rules: &mut BTreeSet<String>,
    ) -> SourcePlan<'r, RecordAsk> {
        let ask = if !self.find.allowed {
            Ask::Denied(self.find)
        } else {
            let (mut sections, mut withheld) = (Vec::new(), Vec::new());
            for (section, d) in asked.iter().zip(&self.reads) {
                if d.allowed {
                    rules.insert(d.rule.clone());
                    sections.push(*section);
                } else {
                    withheld.push(*section);
                }
            }
            match self.reads.first() {
                Some(first) if sections.is_empty() => Ask::Denied(first.clone()),
                _ => Ask::Yes(RecordAsk {
                    local_id: self.local_id,
                    sections,
                    withheld,
                }),
            }
        };
        SourcePlan {
            source: self.source,
            ask,
        }
    }
}

/// A section no source may release refuses the call: the caller asked for
/// more than the purpose allows. The refusal names the section's own rule
/// where some source may be asked at all, else why no source may be.
fn refuse_unreleasable(asked: &[Section], decided: &[Decided<'_>]) -> Result<(), CallError> {
    for (i, section) in asked.iter().enumerate() {
        if decided.iter().any(|d| d.releases(i)) {
            continue;
        }
        let why = decided
            .iter()
            .find(|d| d.find.allowed)
            .map(|d| &d.reads[i])
            .or_else(|| decided.first().map(|d| &d.find));
        if let Some(d) = why {
            return Err(CallError::denied(
                format!("section {}", sections::name(*section)),
                d,
            ));
        }
    }
    Ok(())
}

async fn fanned_out(
    call: &Admitted,
    v: &Valid,
    plan: &Plan<'_, RecordAsk>,
) -> Vec<Answer<v1::FetchRecordResponse>> {
    let base = v1::FetchRecordRequest {
        context: Some(v.ctx.to_proto()),
        client_organisation: call.client.organisation.clone(),
        tax_code: v.key.tax_text(),
        local_id: String::new(),
        sections: Vec::new(),
    };
    registry::fan_out(plan.asked(), call.deadline, |source, ask, budget| {
        let mut client = source.client.clone();
        let mut r = Request::new(v1::FetchRecordRequest {
            local_id: ask.local_id.clone(),
            sections: ask.sections.iter().map(|s| *s as i32).collect(),
            ..base.clone()
        });
        r.set_timeout(budget);
        async move {
            client
                .fetch_record(r)
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await
}

/// Every source's outcome, and the merged record of those that hold the
/// person. The gateway keeps only the sections it asked each source for.
fn combined(plan: &Plan<'_, RecordAsk>, answers: Vec<Answer<v1::FetchRecordResponse>>) -> Combined {
    let mut found = Vec::new();
    let mut outcomes = Vec::with_capacity(answers.len());
    for (answer, (_, ask)) in answers.into_iter().zip(plan.asked()) {
        let mut outcome = answer.outcome;
        outcome.note(withheld_note("withheld by policy", &ask.withheld));
        if let Some(r) = answer.value
            && let Some(held) = read_answer(&mut outcome, r, ask)
        {
            found.push(held);
        }
        outcomes.push(outcome);
    }
    Combined {
        outcomes: plan.outcomes(outcomes),
        record: (!found.is_empty()).then(|| merge::record(found)),
    }
}

/// What one source's answer holds, with its outcome completed.
fn read_answer(
    outcome: &mut Outcome,
    r: v1::FetchRecordResponse,
    ask: &RecordAsk,
) -> Option<(v1::SubjectIdentity, v1::RecordSections)> {
    let refused: Vec<Section> = r
        .withheld
        .iter()
        .filter_map(|s| Section::try_from(*s).ok())
        .collect();
    outcome.note(withheld_note("denied by source", &refused));
    if !r.found {
        outcome.status = OutcomeStatus::NotFound;
        return None;
    }
    let mut sections = r.sections.unwrap_or_default();
    let asked: Vec<i32> = ask.sections.iter().map(|s| *s as i32).collect();
    if merge::retain_sections(&mut sections, &asked) {
        tracing::warn!(
            source = %outcome.organisation,
            "a connector returned sections it was not asked for; dropped"
        );
        outcome.status = OutcomeStatus::Error;
        outcome.note("the source returned sections it was not asked for; they were dropped");
    }
    outcome.entries = merge::entry_count(&sections);
    Some((r.identity.unwrap_or_default(), sections))
}

fn withheld_note(by: &str, withheld: &[Section]) -> String {
    if withheld.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = withheld.iter().map(|s| sections::name(*s)).collect();
    format!("{by}: {}", names.join(", "))
}

/// The audit facts of a `GetRecord`, from the stage it reached.
fn facts(
    gw: &FederationService,
    v: &Valid,
    plan: Option<&Plan<'_, RecordAsk>>,
    combined: Option<&Combined>,
) -> Facts {
    let mut subjects = v.subjects.clone();
    let record = combined.and_then(|c| c.record.as_ref());
    for identity in record.map(|r| r.identities.as_slice()).unwrap_or_default() {
        subjects.extend(gw.auditor.identity(identity));
    }
    Facts {
        subjects,
        sections_asked: v
            .sections
            .iter()
            .map(|s| sections::name(*s).into())
            .collect(),
        sections_returned: record
            .and_then(|r| r.sections.as_ref())
            .map(v1::RecordSections::names_with_entries)
            .unwrap_or_default(),
        sources: combined
            .map(|c| Facts::sources_of(&c.outcomes))
            .unwrap_or_default(),
        permitted_by: plan
            .map(|p| p.permitted_by.iter().cloned().collect())
            .unwrap_or_default(),
        ..Facts::default()
    }
}
