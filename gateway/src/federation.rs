//! The gateway's state, shared by every Federation call: the sources, the
//! policy, the audit log, the limits, the locator and the capabilities'
//! own state (statistics, catalogue, referrals, cases). The gRPC adapter
//! ([`crate::service`]) and the calls ([`crate::calls`]) read it; it knows
//! neither.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;
use trama_proto::v1;

use crate::audit::Auditor;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::protect::RateLimiter;
use crate::records::locator::{Located, Locator};
use crate::registry::Registry;
use crate::stats::Statistics;
use crate::validate::SubjectKey;

/// The Federation service.
#[derive(Debug, Clone)]
pub struct FederationService {
    pub(crate) registry: Registry,
    pub(crate) default_deadline: Duration,
    pub(crate) policy: Arc<ArcSwap<Policy>>,
    pub(crate) auditor: Auditor,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) locator: Locator,
    pub(crate) statistics: Statistics,
    pub(crate) catalogue: crate::catalogue::Catalogue,
    pub(crate) referrals: crate::referrals::Referrals,
    pub(crate) cases: crate::cases::Cases,
}

impl FederationService {
    /// Serves `registry` under `policy`, writing every call to `auditor`;
    /// calls without a deadline get `default_deadline`; stated cases are
    /// checked as `cases` says.
    #[allow(
        clippy::too_many_arguments,
        reason = "the service is assembled once, in serve, from its parts"
    )]
    pub fn new(
        registry: Registry,
        limits: &crate::config::Limits,
        policy: Arc<ArcSwap<Policy>>,
        auditor: Auditor,
        statistics: Statistics,
        catalogue: crate::catalogue::Catalogue,
        referrals: crate::referrals::Referrals,
        cases: crate::cases::Cases,
    ) -> Self {
        let limiter = Arc::new(limiter(limits, &auditor));
        FederationService {
            cases,
            catalogue,
            referrals,
            statistics,
            registry,
            default_deadline: limits.default_deadline,
            policy,
            auditor,
            limiter,
            slots: Arc::new(Semaphore::new(limits.max_in_flight)),
            locator: Locator::new(limits.locator_ttl, limits.locator_capacity),
        }
    }

    /// What the locator knows of a subject asked by tax code alone;
    /// `subjects` are the key's pseudonyms, the tax code's first.
    pub(crate) fn locate(&self, key: &SubjectKey, subjects: &[String]) -> Option<Located> {
        key.tax_code.as_ref().filter(|_| key.local_ids.is_empty())?;
        let pseudonym = subjects.first()?.clone();
        let known = self.locator.get(&pseudonym);
        Some(Located { pseudonym, known })
    }

    /// Teaches the locator from a record read: `answered` are the sources
    /// asked that answered, each with whether it holds the person. A
    /// remembered holder that no longer holds the person makes it forget;
    /// otherwise what the answers said is added to what it knew.
    pub(crate) fn learn_holders(&self, located: Located, answered: &[(String, bool)]) {
        let known = located.known.as_deref().cloned().unwrap_or_default();
        let lost = answered
            .iter()
            .any(|(org, holds)| !holds && known.holders.contains(org));
        if lost {
            self.locator.forget(&located.pseudonym);
            return;
        }
        let next = known.with(answered.iter().cloned());
        // Nothing new (the usual warm call): no write to the cache.
        if located.known.as_deref() != Some(&next) {
            self.locator.remember(located.pseudonym, next);
        }
    }

    /// A search by tax code tells the locator who holds the person: each
    /// source that answered holds them if it returned a candidate with
    /// exactly that code, and does not otherwise; the record read that
    /// usually follows skips the latter. `pseudonym` is the tax code's.
    pub(crate) fn learn_from_find(
        &self,
        code: &str,
        pseudonym: &str,
        outcomes: &[Outcome],
        candidates: &[v1::Candidate],
    ) {
        let holders: Vec<&str> = candidates
            .iter()
            .filter_map(|c| c.identity.as_ref())
            .filter(|i| i.tax_code == code)
            .filter_map(|i| i.local_id.as_ref().map(|l| l.organisation.as_str()))
            .collect();
        let answered = outcomes.iter().filter(|o| o.answered()).map(|o| {
            let holds = holders.contains(&o.organisation.as_str());
            (o.organisation.clone(), holds)
        });
        let known = self
            .locator
            .peek(pseudonym)
            .as_deref()
            .cloned()
            .unwrap_or_default();
        self.locator
            .remember(pseudonym.to_string(), known.with(answered));
    }
}

/// The client allowances: shared with the other replicas in the audit
/// database when it is PostgreSQL, in this process otherwise.
fn limiter(limits: &crate::config::Limits, auditor: &Auditor) -> RateLimiter {
    let limiter = RateLimiter::new(limits.client, limits.clients.clone());
    match auditor.log.store().shared_pool() {
        Some(pool) => limiter.shared(pool.clone()),
        None => limiter,
    }
}
