//! `trama.v1.Federation`, the gRPC adapter over the gateway's state
//! ([`crate::federation`]): each call runs through the one pipeline of
//! [`crate::call`] with its stages from [`crate::calls`]. Nothing a
//! connector returns is written anywhere: records pass through memory
//! only, and logs carry organisations, purposes, counts and outcomes, never
//! names, tax codes or contents.

use tonic::{Request, Response, Status};
use trama_proto::v1;
use trama_proto::v1::federation_server::Federation;

use crate::call::audited;
use crate::calls;
pub use crate::federation::FederationService;

#[tonic::async_trait]
impl Federation for FederationService {
    async fn find_subject(
        &self,
        request: Request<v1::FindSubjectRequest>,
    ) -> Result<Response<v1::FindSubjectResponse>, Status> {
        audited(self, request, crate::records::find::run).await
    }

    async fn get_record(
        &self,
        request: Request<v1::GetRecordRequest>,
    ) -> Result<Response<v1::GetRecordResponse>, Status> {
        audited(self, request, crate::records::record::run).await
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
        audited(self, request, crate::stats::aggregate::run).await
    }

    async fn send_referral(
        &self,
        request: Request<v1::SendReferralRequest>,
    ) -> Result<Response<v1::SendReferralResponse>, Status> {
        audited(self, request, crate::referrals::calls::send).await
    }

    async fn get_referral(
        &self,
        request: Request<v1::GetReferralRequest>,
    ) -> Result<Response<v1::GetReferralResponse>, Status> {
        audited(self, request, crate::referrals::calls::get).await
    }

    async fn list_referrals(
        &self,
        request: Request<v1::ListReferralsRequest>,
    ) -> Result<Response<v1::ListReferralsResponse>, Status> {
        audited(self, request, crate::referrals::calls::list).await
    }

    async fn update_referral(
        &self,
        request: Request<v1::UpdateReferralRequest>,
    ) -> Result<Response<v1::UpdateReferralResponse>, Status> {
        audited(self, request, crate::referrals::calls::update).await
    }

    async fn search_services(
        &self,
        request: Request<v1::SearchServicesRequest>,
    ) -> Result<Response<v1::SearchServicesResponse>, Status> {
        // Public data about services, never about a person: admitted like
        // any call (certificate, rate, slots), not audited.
        let _call = self.admit(&request).await?;
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
        let call = self.admit(&request).await?;
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
