//! Planning a call: for each source, whether it is asked and with what, or
//! why not. The policy decides first; only then does the locator narrow the
//! sources the caller may ask. So what a caller may not ask never shows
//! through the locator: a source the policy refuses reads `denied` whether
//! or not it holds the person.

use std::collections::BTreeSet;
use std::sync::Arc;

use trama_proto::v1::OutcomeStatus;

use crate::outcome::Outcome;
use crate::policy::{Action, Decider, Decision, Resource};
use crate::registry::Source;

/// What the plan says of one source.
#[derive(Debug)]
pub enum Ask<T> {
    /// Asked, with this.
    Yes(T),
    /// Not asked: the policy refuses.
    Denied(Arc<Decision>),
    /// Not asked: at a recent complete answer it did not hold the person
    /// (the locator).
    NotHolding,
}

/// One source in a plan.
#[derive(Debug)]
pub struct SourcePlan<'r, T> {
    /// The source.
    pub source: &'r Source,
    /// Whether and what to ask it.
    pub ask: Ask<T>,
}

/// The plan of a call: every source it concerns, in registry order.
#[derive(Debug)]
pub struct Plan<'r, T> {
    /// The sources.
    pub sources: Vec<SourcePlan<'r, T>>,
    /// The rules that permit what is asked.
    pub permitted_by: BTreeSet<String>,
}

impl<'r> Plan<'r, ()> {
    /// The plan of a call that asks each of `sources` the same thing when
    /// the policy permits `action` there (finding, counting).
    pub fn per_source(
        sources: impl IntoIterator<Item = &'r Source>,
        decider: &Decider<'_, '_>,
        action: Action,
    ) -> Plan<'r, ()> {
        let mut permitted_by = BTreeSet::new();
        let sources = sources
            .into_iter()
            .map(|source| {
                let d = decider.decide(action, Resource::Source(&source.organisation));
                let ask = if d.allowed {
                    permitted_by.insert(d.rule.clone());
                    Ask::Yes(())
                } else {
                    Ask::Denied(d)
                };
                SourcePlan { source, ask }
            })
            .collect();
        Plan {
            sources,
            permitted_by,
        }
    }
}

impl<'r, T> Plan<'r, T> {
    /// The sources asked, with what, in order.
    pub fn asked(&self) -> Vec<(&'r Source, &T)> {
        self.sources
            .iter()
            .filter_map(|p| match &p.ask {
                Ask::Yes(what) => Some((p.source, what)),
                _ => None,
            })
            .collect()
    }

    /// Whether any source is asked.
    pub fn asks_anyone(&self) -> bool {
        self.sources.iter().any(|p| matches!(p.ask, Ask::Yes(_)))
    }

    /// The first policy refusal, if any.
    pub fn first_denial(&self) -> Option<&Arc<Decision>> {
        self.sources.iter().find_map(|p| match &p.ask {
            Ask::Denied(d) => Some(d),
            _ => None,
        })
    }

    /// Narrows the plan: the sources the locator knows answered recently
    /// that they do not hold the person are not asked; every other source
    /// the caller may ask still is.
    pub fn skip_absent(&mut self, absent: &[String]) {
        for p in &mut self.sources {
            if matches!(p.ask, Ask::Yes(_)) && absent.contains(&p.source.organisation) {
                p.ask = Ask::NotHolding;
            }
        }
    }

    /// The sources asked that answered, each with whether it holds the
    /// person (`ok`) or not (`not found`), from `outcomes` of
    /// [`Plan::outcomes`]; the sources left out, and those that failed,
    /// say nothing.
    pub fn answered(&self, outcomes: &[Outcome]) -> Vec<(String, bool)> {
        self.sources
            .iter()
            .zip(outcomes)
            .filter(|(p, o)| matches!(p.ask, Ask::Yes(_)) && o.answered())
            .map(|(p, o)| (p.source.organisation.clone(), o.status == OutcomeStatus::Ok))
            .collect()
    }

    /// Every source's outcome: the sources asked take theirs from
    /// `answered` (in the order of [`Plan::asked`]); the others say why
    /// they were not asked.
    pub fn outcomes(&self, answered: impl IntoIterator<Item = Outcome>) -> Vec<Outcome> {
        let mut answered = answered.into_iter();
        self.sources
            .iter()
            .filter_map(|p| {
                let organisation = &p.source.organisation;
                match &p.ask {
                    Ask::Yes(_) => answered.next(),
                    Ask::Denied(d) => Some(denied_outcome(organisation, d)),
                    Ask::NotHolding => Some(Outcome::not_asked(
                        organisation,
                        OutcomeStatus::NotFound,
                        "not asked: it did not hold this person at a recent answer (locator cache)"
                            .into(),
                    )),
                }
            })
            .collect()
    }
}

/// The outcome of a source the policy keeps the call away from.
pub fn denied_outcome(organisation: &str, decision: &Decision) -> Outcome {
    Outcome {
        rule: decision.rule.clone(),
        ..Outcome::not_asked(
            organisation,
            OutcomeStatus::Denied,
            format!(
                "denied by policy: {} (rule {})",
                decision.reason, decision.rule
            ),
        )
    }
}
