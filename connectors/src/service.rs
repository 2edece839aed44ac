//! `trama.v1.Connector` over mutual TLS: the tonic service (the partner's
//! export rules enforced, the local audit written before any answer), the
//! watch that keeps the health status true to the database, and the server
//! that admits only the federation's gateway.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};
use trama_node::server::NodeServer;
use trama_proto::v1::connector_server::{Connector as ConnectorApi, ConnectorServer};
use trama_proto::v1::{self, Section};
use trama_subject::text;
use trama_telemetry::ready::Readiness;
use trama_tls::Role;

use trama_audit::{AuditLog, Entry, Pseudonymiser};

use crate::ConnectorError;
use crate::check::CheckError;
use crate::config::ConnectorConfig;
use crate::error::CallError;
use crate::export::ExportPolicy;
use crate::export::Release;
use crate::from_proto::{self, CaseCall, CountCall, FetchCall, MatchCall};
use crate::linkage::Linkage;
use crate::model::{Candidate, CaseAnswer, Context, Person};
use crate::runtime::Connector;
use crate::source::SourceError;
use crate::startup;
use crate::to_proto::{self, Origin};

/// The service a connector serves.
const CONNECTOR: &str = "trama.v1.Connector";

/// The largest request accepted from the gateway.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The largest answer sent to the gateway (counts of a large partner by
/// several dimensions are sketches of up to 128 KiB per group).
pub const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The gRPC face of a [`Connector`].
#[derive(Debug, Clone)]
pub struct ConnectorService {
    inner: Arc<Connector>,
    export: Arc<ExportPolicy>,
    audit: AuditLog,
    pseudonyms: Pseudonymiser,
    linkage: Option<Linkage>,
}

impl ConnectorService {
    /// Wraps a connector, releasing what `export` allows and recording each
    /// release in `audit`.
    pub fn new(
        inner: Arc<Connector>,
        export: ExportPolicy,
        audit: AuditLog,
        pseudonyms: Pseudonymiser,
    ) -> Self {
        ConnectorService {
            inner,
            export: Arc::new(export),
            audit,
            pseudonyms,
            linkage: None,
        }
    }

    /// Counts people for statistics with the federation `linkage` key.
    pub fn with_linkage(mut self, linkage: Option<Linkage>) -> Self {
        self.linkage = linkage;
        self
    }

    fn origin(&self) -> Origin<'_> {
        Origin {
            organisation: &self.inner.organisation,
            system: &self.inner.mapping.system,
        }
    }

    /// The pseudonyms of a person this partner holds.
    fn person(&self, person: &Person) -> Vec<String> {
        self.pseudonyms.subject(
            &person.tax_code,
            Some((self.inner.organisation.as_str(), person.local_id.as_str())),
        )
    }

    /// The start of a local audit entry, from the request as it came (a
    /// refused request is audited too).
    fn draft(&self, call: &str, client: &str, ctx: Option<&v1::RequestContext>) -> Entry {
        let ctx = ctx.cloned().unwrap_or_default();
        let operator = ctx.operator.unwrap_or_default();
        Entry {
            call: call.into(),
            organisation: text::trim(client).into(),
            operator_id: text::trim(&operator.id).into(),
            operator_role: text::trim(&operator.role).into(),
            purpose: text::trim(&ctx.purpose).into(),
            case_id: text::trim(&ctx.case_id).into(),
            legal_basis: text::trim(&ctx.legal_basis).into(),
            ..Entry::default()
        }
    }

    /// Writes the entry, then lets the answer go; no answer without its
    /// audit entry. The decision follows from the result: `permit`, `deny`
    /// (the partner's rules) or `error`.
    async fn audited<T>(
        &self,
        mut entry: Entry,
        result: Result<T, CallError>,
    ) -> Result<T, Status> {
        entry.subjects.sort();
        entry.subjects.dedup();
        entry.decision = match &result {
            Ok(_) => "permit",
            Err(e) if e.is_denial() => "deny",
            Err(_) => "error",
        }
        .into();
        entry.status = match &result {
            Ok(_) => "OK",
            Err(e) => trama_proto::code_name(e.reason().code()),
        }
        .into();
        if let Err(CallError::ExportDenied(why)) = &result {
            entry.reason = why.clone();
            metrics::counter!("trama_export_denials_total", "client" => entry.organisation.clone())
                .increment(1);
        }
        let call = entry.call.clone();
        let result = match self.audit.append(entry).await {
            Ok(_) => result,
            Err(e) => Err(CallError::AuditUnavailable(e.to_string())),
        };
        let status = match &result {
            Ok(_) => "OK",
            Err(e) => trama_proto::code_name(e.reason().code()),
        };
        metrics::counter!("trama_connector_calls_total", "call" => call, "status" => status)
            .increment(1);
        result.map_err(Status::from)
    }

    /// Answers a match within the partner's rules.
    async fn matched(
        &self,
        req: &v1::MatchSubjectRequest,
        entry: &mut Entry,
    ) -> Result<Vec<Candidate>, CallError> {
        let today = time::OffsetDateTime::now_utc().date();
        let MatchCall {
            context,
            lookup,
            max,
        } = from_proto::match_subject(req, &self.inner.organisation, today)?;
        if let Err(why) = self.export.may_match(&context) {
            tracing::info!(client = %context.client, purpose = %context.purpose, "match refused by the export policy");
            return Err(CallError::ExportDenied(why));
        }
        let candidates = self.inner.match_subject(&lookup, max).await?;
        for c in &candidates {
            entry.subjects.extend(self.person(&c.person));
        }
        tracing::info!(
            client = %context.client,
            purpose = %context.purpose,
            candidates = candidates.len(),
            "match answered"
        );
        Ok(candidates)
    }

    /// Reads a record within the partner's rules. Sovereignty: the
    /// partner's own policy, whatever the gateway allowed. A client or
    /// purpose no rule fits gets nothing, not even whether the partner
    /// knows the person; of the sections the mapping provides, those the
    /// rules do not release are withheld and named.
    async fn fetched(
        &self,
        req: &v1::FetchRecordRequest,
        entry: &mut Entry,
    ) -> Result<v1::FetchRecordResponse, CallError> {
        let FetchCall {
            context,
            key,
            sections,
        } = from_proto::fetch_record(req)?;
        entry.sections_asked = names(&sections);
        let release = self.release(&context, sections)?;
        if !release.withheld.is_empty() {
            entry.reason = format!(
                "export policy withheld: {}",
                names(&release.withheld).join(", ")
            );
        }
        let record = self.inner.fetch_record(&key, &release.released).await?;
        if let Some(r) = &record {
            entry.subjects.extend(self.person(&r.person));
            entry.sections_returned = names(&r.sections_with_entries());
        }
        let response = to_proto::fetch_response(record.as_ref(), &release.withheld, self.origin());
        tracing::info!(
            client = %context.client,
            purpose = %context.purpose,
            found = response.found,
            sections = release.released.len(),
            withheld = release.withheld.len(),
            "record answered"
        );
        Ok(response)
    }

    /// What the partner's rules release of `sections` (those the mapping
    /// provides) for this context; refused when no rule fits, or when
    /// every section asked is withheld.
    fn release(&self, context: &Context, sections: Vec<Section>) -> Result<Release, CallError> {
        let provided = self.inner.mapping.provided_sections();
        let here: Vec<Section> = sections
            .into_iter()
            .filter(|s| provided.contains(s))
            .collect();
        let release = self.export.release(context, &here);
        let refused = self.export.may_match(context).err().or_else(|| {
            (release.released.is_empty() && !release.withheld.is_empty())
                .then(|| self.export.refusal(context))
        });
        match refused {
            Some(why) => {
                tracing::info!(client = %context.client, purpose = %context.purpose, "fetch refused by the export policy");
                Err(CallError::ExportDenied(why))
            }
            None => Ok(release),
        }
    }
}

impl ConnectorService {
    /// Answers whether one of the partner's own open cases includes the
    /// person, for the partner's own organisation only (a case is its
    /// organisation's business) and only where its export rules release
    /// `case_membership` to that organisation for the purpose and role:
    /// the answer is read from that section.
    /// What a referral in the inbox says, for this partner's own
    /// operators only; the person's pseudonyms go to the audit entry.
    async fn referral_read(
        &self,
        req: &v1::ReadReferralRequest,
        entry: &mut Entry,
    ) -> Result<v1::ReadReferralResponse, CallError> {
        if req.client_organisation != self.inner.organisation {
            return Err(CallError::ExportDenied(format!(
                "a referral in {}'s inbox is read by {}'s own operators only, not {}'s",
                self.inner.organisation, self.inner.organisation, req.client_organisation
            )));
        }
        let content = self.inner.read_referral(&req.id).await?;
        if let Some(person) = content.as_ref().and_then(|c| c.person.as_ref()) {
            entry.subjects = self.pseudonyms.subject(text::trim(&person.tax_code), None);
        }
        Ok(v1::ReadReferralResponse {
            found: content.is_some(),
            content,
        })
    }

    async fn case_checked(
        &self,
        req: &v1::CheckCaseRequest,
        entry: &mut Entry,
    ) -> Result<v1::CheckCaseResponse, CallError> {
        let today = time::OffsetDateTime::now_utc().date();
        let CaseCall {
            context,
            case_id,
            lookup,
        } = from_proto::check_case(req, &self.inner.organisation, today)?;
        if context.client != self.inner.organisation {
            return Err(CallError::ExportDenied(format!(
                "a connector confirms only its own organisation's cases ({}), not {}'s",
                self.inner.organisation, context.client
            )));
        }
        if !self.inner.maps_cases() {
            return Ok(to_proto::case_response(CaseAnswer::NoCasesMapped));
        }
        let release = self.export.release(&context, &[Section::CaseMembership]);
        if release.released.is_empty() {
            tracing::info!(client = %context.client, purpose = %context.purpose, "case check refused by the export policy");
            return Err(CallError::ExportDenied(format!(
                "the partner's export policy does not release case_membership to {} for purpose `{}` (role `{}`), so it confirms no case for it",
                context.client, context.purpose, context.operator_role
            )));
        }
        let answer = self.inner.check_case(&case_id, &lookup).await?;
        entry.case_check = match answer {
            CaseAnswer::OpenWithPerson => "verified",
            CaseAnswer::NotOpenWithPerson => "refused",
            CaseAnswer::NoCasesMapped => "",
        }
        .into();
        tracing::info!(
            client = %context.client,
            purpose = %context.purpose,
            answer = ?answer,
            "case checked"
        );
        Ok(to_proto::case_response(answer))
    }

    /// Counts the partner's people within its rules: only sketches of
    /// pseudonyms leave, and the local audit records what was asked.
    async fn counted(
        &self,
        req: &v1::CountPeopleRequest,
        entry: &mut Entry,
    ) -> Result<v1::CountPeopleResponse, CallError> {
        let CountCall { context, ask } = from_proto::count_people(req)?;
        entry.sections_asked = to_proto::asked_dimensions(&ask);
        if let Err(why) = self.export.may_aggregate(&context) {
            tracing::info!(client = %context.client, purpose = %context.purpose, "count refused by the export policy");
            return Err(CallError::ExportDenied(why));
        }
        // Without a linkage key the mapping counts nothing (the connector
        // does not start with facts and no key).
        let Some(linkage) = &self.linkage else {
            return Ok(to_proto::nothing_counted());
        };
        let counted = self.inner.count(&ask, linkage).await?;
        entry.sections_returned = vec![format!("groups:{}", counted.cells.len())];
        tracing::info!(
            client = %context.client,
            purpose = %context.purpose,
            groups = counted.cells.len(),
            rows = counted.rows_read,
            query_ms = counted.query_ms,
            "count answered"
        );
        Ok(to_proto::count_response(counted))
    }
}

/// Section names, for the audit and the log.
fn names(sections: &[Section]) -> Vec<String> {
    sections
        .iter()
        .map(|s| trama_proto::sections::name(*s).to_string())
        .collect()
}

#[tonic::async_trait]
impl ConnectorApi for ConnectorService {
    async fn describe(
        &self,
        _request: Request<v1::DescribeRequest>,
    ) -> Result<Response<v1::DescribeResponse>, Status> {
        Ok(Response::new(to_proto::describe(
            &self.inner.mapping,
            &self.inner.organisation,
        )))
    }

    async fn match_subject(
        &self,
        request: Request<v1::MatchSubjectRequest>,
    ) -> Result<Response<v1::MatchSubjectResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft(
            "MatchSubject",
            &req.client_organisation,
            req.context.as_ref(),
        );
        if let Some(q) = &req.query {
            let local = q
                .local_id
                .as_ref()
                .map(|l| (l.organisation.as_str(), l.id.as_str()));
            entry.subjects = self.pseudonyms.subject(text::trim(&q.tax_code), local);
        }
        let result = self.matched(&req, &mut entry).await;
        let candidates = self.audited(entry, result).await?;
        Ok(Response::new(to_proto::match_response(
            &candidates,
            self.origin(),
        )))
    }

    async fn fetch_record(
        &self,
        request: Request<v1::FetchRecordRequest>,
    ) -> Result<Response<v1::FetchRecordResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft(
            "FetchRecord",
            &req.client_organisation,
            req.context.as_ref(),
        );
        let asked_local = (!req.local_id.is_empty())
            .then_some((self.inner.organisation.as_str(), req.local_id.as_str()));
        entry.subjects = self
            .pseudonyms
            .subject(text::trim(&req.tax_code), asked_local);
        let result = self.fetched(&req, &mut entry).await;
        self.audited(entry, result).await.map(Response::new)
    }

    async fn count_people(
        &self,
        request: Request<v1::CountPeopleRequest>,
    ) -> Result<Response<v1::CountPeopleResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft(
            "CountPeople",
            &req.client_organisation,
            req.context.as_ref(),
        );
        let result = self.counted(&req, &mut entry).await;
        self.audited(entry, result).await.map(Response::new)
    }

    async fn deliver_referral(
        &self,
        request: Request<v1::DeliverReferralRequest>,
    ) -> Result<Response<v1::DeliverReferralResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft("DeliverReferral", &req.sender, None);
        entry.operator_id = text::trim(&req.sender_operator).into();
        entry.purpose = text::trim(&req.purpose).into();
        entry.case_id = text::trim(&req.case_id).into();
        let tax = req
            .content
            .as_ref()
            .and_then(|c| c.person.as_ref())
            .map(|p| p.tax_code.clone())
            .unwrap_or_default();
        entry.subjects = self.pseudonyms.subject(&tax, Vec::new());
        entry.sections_asked = vec![format!("referral:{}", req.id)];
        let result = self.delivered(&req).await;
        self.audited(entry, result).await.map(Response::new)
    }

    async fn list_referral_changes(
        &self,
        request: Request<v1::ListReferralChangesRequest>,
    ) -> Result<Response<v1::ListReferralChangesResponse>, Status> {
        let req = request.into_inner();
        let (changes, problems, latest) = self
            .inner
            .referral_changes(req.since.trim())
            .await
            .map_err(Status::from)?;
        let as_of = latest
            .and_then(crate::referrals::time_text)
            .unwrap_or(req.since);
        Ok(Response::new(v1::ListReferralChangesResponse {
            changes,
            as_of,
            problems,
        }))
    }

    async fn update_referral_status(
        &self,
        request: Request<v1::UpdateReferralStatusRequest>,
    ) -> Result<Response<v1::UpdateReferralStatusResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft("UpdateReferralStatus", "", None);
        entry.operator_id = text::trim(&req.operator_id).into();
        entry.sections_asked = vec![
            format!("referral:{}", req.id),
            format!("status:{}", req.status),
        ];
        let result = self
            .inner
            .write_status(&req)
            .await
            .map(|written| v1::UpdateReferralStatusResponse { written });
        self.audited(entry, result).await.map(Response::new)
    }

    async fn read_referral(
        &self,
        request: Request<v1::ReadReferralRequest>,
    ) -> Result<Response<v1::ReadReferralResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft(
            "ReadReferral",
            &req.client_organisation,
            req.context.as_ref(),
        );
        entry.sections_asked = vec![format!("referral:{}", req.id)];
        let result = self.referral_read(&req, &mut entry).await;
        self.audited(entry, result).await.map(Response::new)
    }

    async fn check_case(
        &self,
        request: Request<v1::CheckCaseRequest>,
    ) -> Result<Response<v1::CheckCaseResponse>, Status> {
        let req = request.into_inner();
        let mut entry = self.draft("CheckCase", &req.client_organisation, req.context.as_ref());
        if let Some(q) = &req.subject {
            let local = q
                .local_id
                .as_ref()
                .map(|l| (l.organisation.as_str(), l.id.as_str()));
            entry.subjects = self.pseudonyms.subject(text::trim(&q.tax_code), local);
        }
        entry.sections_asked = vec![trama_proto::sections::name(Section::CaseMembership).into()];
        let result = self.case_checked(&req, &mut entry).await;
        self.audited(entry, result).await.map(Response::new)
    }

    async fn list_services(
        &self,
        request: Request<v1::ListServicesRequest>,
    ) -> Result<Response<v1::ListServicesResponse>, Status> {
        // Offers are public data about services, never about a person:
        // nothing to decide by purpose, nothing for the audit log.
        let req = request.into_inner();
        self.offered(&req)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

impl ConnectorService {
    /// A referral written into the inbox, if the partner's rules take it.
    async fn delivered(
        &self,
        req: &v1::DeliverReferralRequest,
    ) -> Result<v1::DeliverReferralResponse, CallError> {
        if uuid::Uuid::try_parse(&req.id).is_err() {
            return Err(CallError::invalid("id", "not a referral id (a UUID)"));
        }
        self.export
            .may_refer(&req.sender, &req.purpose)
            .map_err(CallError::ExportDenied)?;
        let wrote = self.inner.deliver(req).await?;
        tracing::info!(sender = %req.sender, new = wrote, "referral delivered to the inbox");
        Ok(v1::DeliverReferralResponse {
            already_held: !wrote,
        })
    }

    /// The partner's offer, or what changed in it since the time asked.
    async fn offered(
        &self,
        req: &v1::ListServicesRequest,
    ) -> Result<v1::ListServicesResponse, CallError> {
        let since = match req.changed_since.trim() {
            "" => None,
            text => Some(
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| CallError::Invalid {
                        field: "changed_since".into(),
                        description: format!(
                            "`{text}` is not a time: write RFC 3339, for example 2026-12-01T09:00:00Z, or leave it empty for every service"
                        ),
                    })?,
            ),
        };
        let as_of = crate::offer::rfc3339(time::OffsetDateTime::now_utc().unix_timestamp());
        let offer = self.inner.offer().await?;
        let current_ids = offer.services.iter().map(|s| s.id.clone()).collect();
        let changed = |s: &v1::Service| match since {
            None => true,
            Some(since) => time::OffsetDateTime::parse(
                &s.last_modified,
                &time::format_description::well_known::Rfc3339,
            )
            .map_or(true, |t| t > since),
        };
        let services: Vec<v1::Service> = offer.services.into_iter().filter(changed).collect();
        tracing::info!(
            services = services.len(),
            problems = offer.problems.len(),
            "offer listed"
        );
        Ok(v1::ListServicesResponse {
            services,
            current_ids,
            as_of,
            problems: offer.problems,
        })
    }
}

/// How often the connector checks that its database answers.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// What the health watch learnt from the database.
enum Watched {
    /// It answers what the mapping needs.
    Up,
    /// It does not, for now; why.
    Down(String),
    /// Reached for the first time, it does not fit the mapping.
    Misfit(CheckError),
}

/// Asks the database what the mapping needs. While it is up, every query
/// of the mapping runs with NULL parameters ([`Connector::probe`]): that
/// fails when a mapped table is dropped or a SQLite file is emptied, which a
/// bare `SELECT 1` does not notice. Before the first check passed, and
/// after any failure, the whole start-up check runs again, so a database
/// that comes back is served only once the mapping fits it again.
async fn watch_once(connector: &Connector) -> Watched {
    if connector.is_ready() && connector.is_up() {
        return match connector.probe().await {
            Ok(()) => Watched::Up,
            // Every connection busy answering calls: the database is up.
            Err(e) if matches!(e.source, SourceError::Busy { .. }) => Watched::Up,
            Err(e) => {
                connector.mark_down();
                Watched::Down(e.to_string())
            }
        };
    }
    let first = !connector.is_ready();
    match connector.check().await {
        Ok(()) => {
            tracing::info!(
                engine = connector.db.engine(),
                "mapping checked against the database"
            );
            Watched::Up
        }
        Err(CheckError::Unavailable(e)) => Watched::Down(e.to_string()),
        Err(e) if first => Watched::Misfit(e),
        // The database changed under a connector that served it: not
        // serving until it fits again, rather than stopping.
        Err(e) => Watched::Down(e.to_string()),
    }
}

/// Keeps the health status true to the database, for every engine (see
/// [`watch_once`]), from the status reported at start (`serving`).
/// Returns only if the database, once reached, does not fit the mapping:
/// the connector must then stop.
async fn watch_database(
    connector: Arc<Connector>,
    health: Health,
    mut serving: bool,
) -> ConnectorError {
    loop {
        tokio::time::sleep(HEALTH_INTERVAL).await;
        let down = match watch_once(&connector).await {
            Watched::Up => None,
            Watched::Down(why) => Some(why),
            Watched::Misfit(e) => return ConnectorError::Check(e),
        };
        if serving != down.is_none() {
            serving = down.is_none();
            report(&health, down).await;
        }
    }
}

/// Where the connector's health is told: the gRPC health service and the
/// ready checks of `/readyz`.
#[derive(Clone)]
struct Health {
    grpc: tonic_health::server::HealthReporter,
    readiness: Readiness,
}

/// Sets the health status: serving, or not serving and why (the why goes
/// to the log; `/readyz` says only that the database fails).
async fn report(health: &Health, down: Option<String>) {
    let serving = down.is_none();
    match down {
        None => {
            tracing::info!("database answers the mapping: serving");
            health
                .readiness
                .set(DATABASE, true, "the database answers the mapping");
        }
        Some(error) => {
            tracing::warn!(error, "database fails the mapping's queries: not serving");
            health
                .readiness
                .set(DATABASE, false, "the database fails the mapping's queries");
        }
    }
    trama_node::server::set_serving(&health.grpc, CONNECTOR, serving).await;
}

/// The connector's one ready check.
const DATABASE: &str = "database";

/// Serves `trama.v1.Connector` (and the standard health and reflection
/// services) until `shutdown` completes. `on_ready` is called with the
/// bound address once the port is open. A database that cannot be reached
/// at start does not stop the connector: it reports `NOT_SERVING` and
/// answers `UNAVAILABLE` until the database answers and the mapping has
/// been checked. A mapping that does not fit the database stops it.
pub async fn serve(
    config: ConnectorConfig,
    on_ready: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ConnectorError> {
    let identity = startup::identity(&config)?;
    let connector = Arc::new(startup::open(&config).await?);
    match connector.check().await {
        Ok(()) => {}
        Err(CheckError::Unavailable(e)) => {
            tracing::warn!(error = %e, "database unreachable at start; serving NOT_SERVING until it answers");
        }
        Err(e) => return Err(e.into()),
    }
    if config.export.rules.is_empty() {
        tracing::warn!(
            file = %config.path.display(),
            "no [[export]] rules: this connector releases nothing (see docs/connector-guide.md, export policy)"
        );
    }
    let linkage = startup::linkage(&config, &connector)?;
    let owner = startup::owner(&config, &identity);
    let (audit, pseudonyms) =
        trama_audit::settings::open(&config.audit, &config.tls.key, &owner).await?;
    let tls = trama_tls::TlsState::load(config.tls.clone())?;
    let readiness = Readiness::new(&[DATABASE]);
    let server = NodeServer {
        federation: config.federation.clone(),
        admits: Role::Gateway,
        service: CONNECTOR,
        listen: config.listen,
        metrics: config.metrics,
        health: config.health,
        readiness: readiness.clone(),
        max_request: (MAX_REQUEST_BYTES, "the gateway's requests"),
    }
    .bind(&tls)
    .await?;
    let health = Health {
        grpc: server.health().clone(),
        readiness,
    };
    // At zero from the start, so that an alert on its increase fires on
    // the first refusal.
    metrics::counter!("trama_connector_busy_total").increment(0);
    // Serving from the first call if the start-up check passed.
    let serving = connector.is_ready();
    let down = (!serving).then(|| "the database has not answered since start".to_string());
    report(&health, down).await;
    let watcher = watch_database(connector.clone(), health, serving);
    let service = crate::deadline::Deadlined(
        ConnectorServer::new(
            ConnectorService::new(
                connector.clone(),
                config.export.clone(),
                audit.clone(),
                pseudonyms,
            )
            .with_linkage(linkage),
        )
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(MAX_ANSWER_BYTES),
    );
    tracing::info!(
        organisation = %config.organisation,
        address = %server.local_addr(),
        sections = connector.mapping.sections.len(),
        "connector serving"
    );
    on_ready(server.local_addr());
    let result = tokio::select! {
        served = server.serve(service, shutdown) => served.map_err(ConnectorError::from),
        refused = watcher => Err(refused),
    };
    trama_node::server::final_checkpoint(&audit).await;
    result
}
