//! `trama.v1.Federation`: each call runs through the one pipeline of
//! [`crate::call`] with its stages from [`crate::calls`]. Nothing a
//! connector returns is written anywhere: records pass through memory
//! only, and logs carry organisations, purposes, counts and outcomes, never
//! names, tax codes or contents.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use trama_proto::v1;
use trama_proto::v1::federation_server::Federation;

use crate::audit::Auditor;
use crate::call::audited;
use crate::calls;
use crate::locator::{Located, Locator};
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::protect::RateLimiter;
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
        FederationService {
            cases,
            catalogue,
            referrals,
            statistics,
            registry,
            default_deadline: limits.default_deadline,
            policy,
            auditor,
            limiter: Arc::new(RateLimiter::new(limits.client, limits.clients.clone())),
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

#[tonic::async_trait]
impl Federation for FederationService {
    async fn find_subject(
        &self,
        request: Request<v1::FindSubjectRequest>,
    ) -> Result<Response<v1::FindSubjectResponse>, Status> {
        audited(self, request, calls::find::run).await
    }

    async fn get_record(
        &self,
        request: Request<v1::GetRecordRequest>,
    ) -> Result<Response<v1::GetRecordResponse>, Status> {
        audited(self, request, calls::record::run).await
    }

    async fn access_log(
        &self,
        request: Request<v1::AccessLogRequest>,
    ) -> Result<Response<v1::AccessLogResponse>, Status> {
        audited(self, request, calls::access::run).await
    }

    async fn aggregate(
        &self,
        request: Request<v1::AggregateRequest>,
    ) -> Result<Response<v1::AggregateResponse>, Status> {
        audited(self, request, calls::aggregate::run).await
    }

    async fn send_referral(
        &self,
        request: Request<v1::SendReferralRequest>,
    ) -> Result<Response<v1::SendReferralResponse>, Status> {
        audited(self, request, calls::referral::send).await
    }

    async fn get_referral(
        &self,
        request: Request<v1::GetReferralRequest>,
    ) -> Result<Response<v1::GetReferralResponse>, Status> {
        audited(self, request, calls::referral::get).await
    }

    async fn list_referrals(
        &self,
        request: Request<v1::ListReferralsRequest>,
    ) -> Result<Response<v1::ListReferralsResponse>, Status> {
        audited(self, request, calls::referral::list).await
    }

    async fn update_referral(
        &self,
        request: Request<v1::UpdateReferralRequest>,
    ) -> Result<Response<v1::UpdateReferralResponse>, Status> {
        audited(self, request, calls::referral::update).await
    }

    async fn search_services(
        &self,
        request: Request<v1::SearchServicesRequest>,
    ) -> Result<Response<v1::SearchServicesResponse>, Status> {
        // Public data about services, never about a person: admitted like
        // any call (certificate, rate, slots), not audited.
        let _call = self.admit(&request)?;
        let search = self
            .catalogue
            .check(request.get_ref())
            .map_err(Status::from)?;
        let found = self.catalogue.search(&search).await.map_err(Status::from)?;
        Ok(Response::new(found))
    }

    async fn list_sources(
        &self,
        request: Request<v1::ListSourcesRequest>,
    ) -> Result<Response<v1::ListSourcesResponse>, Status> {
        let call = self.admit(&request)?;
        let context = request
            .get_ref()
            .context
            .as_ref()
            .map(|c| crate::validate::context(Some(c)))
            .transpose()
            .map_err(Status::from)?;
        let purposes =
            calls::sources::purposes_asked(&request.get_ref().purposes, context.is_some())
                .map_err(Status::from)?;
        Ok(Response::new(
            calls::sources::run(self, call, context.as_ref(), purposes).await,
        ))
    }
}
