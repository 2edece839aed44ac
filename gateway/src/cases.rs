//! A stated case bound to a real one. A caller that states a case id
//! (`RequestContext.case_id`) acts on that case, and purposes such as
//! `presa_in_carico` reach health and judicial data on its strength; so the
//! case must be an open case of the caller's own organisation that includes
//! the person the call is about. The gateway asks the connector of that
//! organisation (`CheckCase`: the source of the same organisation, which
//! answers from its mapping's `case_membership` section under its own
//! export rules), after the policy and before anything else is consulted,
//! and remembers a confirmed case briefly, keyed by the organisation, the
//! case, the purpose and role, and keyed pseudonyms of the person.
//!
//! An organisation whose connector maps no cases, or that has no connector,
//! is named in `[cases] taken_as_stated`: its case ids are taken as stated,
//! and the audit records `unverified`. There is no silent pass: a case that
//! is not confirmed and not so taken is refused with `PERMISSION_DENIED`
//! under rule [`RULE`], or `UNAVAILABLE` when the organisation's connector
//! cannot answer now.

use std::time::{Duration, Instant};

use tonic::Request;
use trama_audit::Pseudonymiser;
use trama_proto::v1::{self, OutcomeStatus};

use crate::config::CasesConfig;
use crate::error::CallError;
use crate::policy::Decision;
use crate::registry::{self, Registry};
use crate::validate::Context;

/// The rule a refused case is denied under.
pub const RULE: &str = "case-bound";

/// Confirmed cases remembered at most.
const CAPACITY: u64 = 100_000;

/// What became of a stated case, as the audit log records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseCheck {
    /// No case stated, or the call stopped before the check.
    #[default]
    NotChecked,
    /// An open case of the caller's organisation that includes the person.
    Verified,
    /// Taken as stated: the organisation is in `[cases] taken_as_stated`.
    Unverified,
    /// Not such a case, or not one that can be checked: refused.
    Refused,
    /// The organisation's connector could not answer now.
    Failed,
}

impl CaseCheck {
    /// The name written in the audit entry (empty when not checked).
    pub fn name(self) -> &'static str {
        match self {
            CaseCheck::NotChecked => "",
            CaseCheck::Verified => "verified",
            CaseCheck::Unverified => "unverified",
            CaseCheck::Refused => "refused",
            CaseCheck::Failed => "failed",
        }
    }
}

/// A stated case that does not pass: what the audit records, and the
/// caller's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRefused {
    /// `refused` or `failed`.
    pub check: CaseCheck,
    /// The answer.
    pub error: CallError,
}

/// The person a stated case must include, as the caller's connector is
/// asked about them.
#[derive(Debug, Clone)]
pub struct CasePerson {
    /// The person as sent: a tax code and the caller's own local id, or
    /// what a search gives.
    query: v1::SubjectQuery,
    /// Keyed pseudonyms of the tax code and local id, when the person is
    /// named by them (only such a check is remembered).
    key: Option<String>,
}

impl CasePerson {
    /// The person `query` describes, for a call of `organisation`: named by
    /// its tax code or `organisation`'s own local id when it gives either
    /// (the rest left out), else by what it gives to search with. Another
    /// organisation's local id means nothing to the caller's connector and
    /// is not sent to it.
    pub fn of(query: &v1::SubjectQuery, organisation: &str, pseudonyms: &Pseudonymiser) -> Self {
        let own = query
            .local_id
            .clone()
            .filter(|l| l.organisation == organisation && !l.id.trim().is_empty());
        if query.tax_code.trim().is_empty() && own.is_none() {
            return CasePerson {
                query: v1::SubjectQuery {
                    local_id: None,
                    ..query.clone()
                },
                key: None,
            };
        }
        let locals = own.iter().map(|l| (l.organisation.as_str(), l.id.as_str()));
        let key = pseudonyms.subject(&query.tax_code, locals).join(",");
        CasePerson {
            query: v1::SubjectQuery {
                tax_code: query.tax_code.clone(),
                local_id: own,
                ..v1::SubjectQuery::default()
            },
            key: Some(key),
        }
    }

    /// Whether the person is named at all in a way the caller's connector
    /// can look them up.
    fn is_named(&self) -> bool {
        let q = &self.query;
        self.key.is_some()
            || !q.family_name.trim().is_empty()
            || !q.given_name.trim().is_empty()
            || !q.tax_code_fragment.trim().is_empty()
            || q.birth_date.is_some()
    }
}

/// The check of stated cases, with the cases confirmed lately.
#[derive(Debug, Clone)]
pub struct Cases {
    taken_as_stated: std::sync::Arc<std::collections::BTreeSet<String>>,
    confirmed: Option<moka::sync::Cache<String, ()>>,
}

impl Cases {
    /// The check `config` describes.
    pub fn new(config: &CasesConfig) -> Cases {
        let confirmed = (!config.cache_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(config.cache_ttl)
                .build()
        });
        Cases {
            taken_as_stated: std::sync::Arc::new(config.taken_as_stated.clone()),
            confirmed,
        }
    }

    /// Checks the case `ctx` states, for a call of `organisation` about
    /// `person`, within `deadline`.
    pub async fn check(
        &self,
        registry: &Registry,
        organisation: &str,
        ctx: &Context,
        person: &CasePerson,
        deadline: Instant,
    ) -> Result<CaseCheck, CaseRefused> {
        if ctx.case_id.is_empty() {
            return Ok(CaseCheck::NotChecked);
        }
        let checked = self
            .checked(registry, organisation, ctx, person, deadline)
            .await;
        let result = match &checked {
            Ok(c) | Err(CaseRefused { check: c, .. }) => c.name(),
        };
        metrics::counter!("trama_case_checks_total", "client" => organisation.to_string(), "result" => result)
            .increment(1);
        checked
    }

    async fn checked(
        &self,
        registry: &Registry,
        organisation: &str,
        ctx: &Context,
        person: &CasePerson,
        deadline: Instant,
    ) -> Result<CaseCheck, CaseRefused> {
        if self.taken_as_stated.contains(organisation) {
            return Ok(CaseCheck::Unverified);
        }
        let Some(source) = registry
            .all()
            .iter()
            .find(|s| s.organisation == organisation)
        else {
            return Err(refused(format!(
                "{organisation} has no connector in this federation to confirm its cases; if its case ids are to be taken as stated, the federation lists it in [cases] taken_as_stated of the gateway's configuration"
            )));
        };
        if !person.is_named() {
            return Err(refused(format!(
                "a case is checked against the person: name them by tax code or by {organisation}'s own local id"
            )));
        }
        // The connector's answer depends on its export rules too, so on the
        // purpose and role as well as on the case and the person.
        let remembered = person
            .key
            .as_ref()
            .map(|key| [organisation, &ctx.case_id, &ctx.purpose, &ctx.role, key].join("\u{1f}"));
        if let (Some(cache), Some(key)) = (&self.confirmed, &remembered)
            && cache.contains_key(key)
        {
            metrics::counter!("trama_case_cache_hits_total").increment(1);
            return Ok(CaseCheck::Verified);
        }
        let request = v1::CheckCaseRequest {
            context: Some(ctx.to_proto()),
            client_organisation: organisation.to_string(),
            subject: Some(person.query.clone()),
        };
        let mut answers = registry::fan_out(vec![(source, ())], deadline, |source, (), budget| {
            let mut client = source.client.clone();
            let mut r = Request::new(request.clone());
            r.set_timeout(budget);
            async move { client.check_case(r).await.map(tonic::Response::into_inner) }
        })
        .await;
        let Some(answer) = answers.pop() else {
            return Err(failed(organisation, "not asked"));
        };
        let check = answer.value.map(|r| r.check());
        match check {
            Some(v1::CaseCheck::OpenWithPerson) => {
                if let (Some(cache), Some(key)) = (&self.confirmed, remembered) {
                    cache.insert(key, ());
                }
                Ok(CaseCheck::Verified)
            }
            Some(v1::CaseCheck::NotOpenWithPerson) => Err(refused(format!(
                "not an open case of {organisation} that includes this person; state the id of the open case in which {organisation} follows them"
            ))),
            Some(v1::CaseCheck::NoCasesMapped) => Err(refused(format!(
                "{organisation}'s connector maps no cases (no case_membership query binding case_id), so its case ids cannot be checked: map its cases, or the federation lists {organisation} in [cases] taken_as_stated of the gateway's configuration"
            ))),
            Some(v1::CaseCheck::Unspecified) => Err(failed(organisation, "no answer")),
            None if answer.outcome.status == OutcomeStatus::Denied => Err(refused(format!(
                "{organisation}'s connector confirms no case for this purpose and role: its export rules must release case_membership to {organisation} for them"
            ))),
            None => Err(failed(
                organisation,
                crate::outcome::name(answer.outcome.status),
            )),
        }
    }
}

/// A case refused under [`RULE`].
fn refused(reason: String) -> CaseRefused {
    let decision = Decision {
        allowed: false,
        rule: RULE.into(),
        reason,
    };
    CaseRefused {
        check: CaseCheck::Refused,
        error: CallError::denied("context.case_id", &decision),
    }
}

/// A case that could not be checked now.
fn failed(organisation: &str, outcome: &str) -> CaseRefused {
    tracing::warn!(client = %organisation, outcome, "stated case not checked: the organisation's connector did not answer");
    CaseRefused {
        check: CaseCheck::Failed,
        error: CallError::CaseUnchecked {
            organisation: organisation.to_string(),
            outcome: outcome.to_string(),
            retry_after: Duration::from_secs(1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(tax: &str, local: Option<(&str, &str)>, family: &str) -> v1::SubjectQuery {
        v1::SubjectQuery {
            tax_code: tax.into(),
            local_id: local.map(|(o, id)| v1::LocalId {
                organisation: o.into(),
                id: id.into(),
            }),
            family_name: family.into(),
            ..v1::SubjectQuery::default()
        }
    }

    #[test]
    fn the_person_is_named_by_identifiers_where_given_and_only_the_callers_own() {
        let p = Pseudonymiser::new(b"k");
        let by_code = CasePerson::of(
            &query("DNGGPP58L14D150Z", Some(("asl", "9")), "D'Angelo"),
            "comune",
            &p,
        );
        assert_eq!(by_code.query.tax_code, "DNGGPP58L14D150Z");
        assert_eq!(by_code.query.local_id, None, "another's local id stays");
        assert_eq!(by_code.query.family_name, "", "identifiers only");
        assert!(by_code.key.as_ref().is_some_and(|k| !k.contains("DNGGPP")));
        let by_own = CasePerson::of(&query("", Some(("comune", "1")), ""), "comune", &p);
        assert!(by_own.key.is_some() && by_own.query.local_id.is_some());
        let searched = CasePerson::of(&query("", Some(("asl", "9")), "Rossi"), "comune", &p);
        assert!(searched.key.is_none() && searched.is_named());
        assert_eq!(searched.query.local_id, None);
        let nobody = CasePerson::of(&query("", Some(("asl", "9")), ""), "comune", &p);
        assert!(!nobody.is_named());
    }

    #[test]
    fn refusals_name_the_rule_and_failures_ask_to_retry() {
        let r = refused("why".into());
        assert_eq!(r.check, CaseCheck::Refused);
        assert!(matches!(&r.error, CallError::Denied { rule, .. } if rule == RULE));
        let f = failed("comune", "timeout");
        assert_eq!(f.check, CaseCheck::Failed);
        assert_eq!(f.error.code(), tonic::Code::Unavailable);
    }
}
