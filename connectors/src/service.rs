//! `trama.v1.Connector` over mutual TLS: the tonic service, the mapping of
//! errors to gRPC statuses, and the server that admits only the
//! federation's gateway.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};
use trama_proto::v1::connector_server::{Connector as ConnectorApi, ConnectorServer};
use trama_proto::v1::{self, Section};
use trama_tls::Role;
use trama_tls::authz::RequireRole;

use trama_audit::{AuditLog, Entry, Pseudonymiser};

use crate::ConnectorError;
use crate::check::CheckError;
use crate::config::ConnectorConfig;
use crate::export::ExportPolicy;
use crate::mapping::Mapping;
use crate::runtime::{Connector, RuntimeError};
use crate::source::{Database, SourceError};

/// How often certificate, key and CRL files are checked for changes.
const TLS_POLL: Duration = Duration::from_secs(2);

/// Most candidates a connector returns for one query.
const MAX_CANDIDATES: usize = 50;

/// The gRPC face of a [`Connector`].
#[derive(Debug, Clone)]
pub struct ConnectorService {
    inner: Arc<Connector>,
    export: Arc<ExportPolicy>,
    audit: AuditLog,
    pseudonyms: Pseudonymiser,
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
        }
    }

    /// The pseudonyms of a person's tax code and local id.
    fn subject(&self, tax_code: &str, local_id: Option<&v1::LocalId>) -> Vec<String> {
        self.pseudonyms.subject(
            tax_code,
            local_id.map(|l| (l.organisation.as_str(), l.id.as_str())),
        )
    }

    /// The start of a local audit entry.
    fn draft(&self, call: &str, client: &str, ctx: &v1::RequestContext) -> Entry {
        let operator = ctx.operator.clone().unwrap_or_default();
        Entry {
            call: call.into(),
            organisation: client.into(),
            operator_id: operator.id,
            operator_role: operator.role,
            purpose: ctx.purpose.clone(),
            case_id: ctx.case_id.clone(),
            legal_basis: ctx.legal_basis.clone(),
            ..Entry::default()
        }
    }

    /// Writes the entry, then lets the answer go; no answer without its
    /// audit entry.
    async fn audited<T>(&self, mut entry: Entry, result: Result<T, Status>) -> Result<T, Status> {
        entry.subjects.sort();
        entry.subjects.dedup();
        match &result {
            Ok(_) => {
                entry.status = "OK".into();
                if entry.decision.is_empty() {
                    entry.decision = "permit".into();
                }
            }
            Err(s) => {
                entry.status = trama_proto::code_name(s.code()).into();
                if entry.decision.is_empty() {
                    entry.decision = "error".into();
                }
            }
        }
        if entry.decision == "deny" {
            metrics::counter!("trama_export_denials_total", "client" => entry.organisation.clone())
                .increment(1);
        }
        let call = entry.call.clone();
        let result = match self.audit.append(entry).await {
            Ok(_) => result,
            Err(e) => {
                tracing::error!(error = %e, "local audit entry not written; nothing released");
                Err(Status::unavailable(
                    "the connector cannot write its audit log; nothing was released",
                ))
            }
        };
        let status = match &result {
            Ok(_) => "OK",
            Err(s) => trama_proto::code_name(s.code()),
        };
        metrics::counter!("trama_connector_calls_total", "call" => call, "status" => status)
            .increment(1);
        result
    }
}

fn to_status(e: RuntimeError) -> Status {
    match e {
        RuntimeError::NotReady => Status::unavailable(
            "the partner database has not been reachable since the connector started",
        ),
        RuntimeError::Source { key, source } => {
            tracing::warn!(key, error = %source, "database query failed");
            match source {
                SourceError::Timeout(d) => {
                    Status::deadline_exceeded(format!("the database query `{key}` ran past {d:?}"))
                }
                s if s.is_unavailable() => {
                    Status::unavailable("the partner database is unavailable")
                }
                _ => Status::internal(format!(
                    "the database query `{key}` failed; see the connector's log"
                )),
            }
        }
    }
}

fn sections_of(raw: &[i32]) -> Result<Vec<Section>, Status> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| match Section::try_from(*s) {
            Ok(Section::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
                "sections[{i}]: unknown section {s}"
            ))),
            Ok(section) => Ok(section),
        })
        .collect()
}

#[tonic::async_trait]
impl ConnectorApi for ConnectorService {
    async fn describe(
        &self,
        _request: Request<v1::DescribeRequest>,
    ) -> Result<Response<v1::DescribeResponse>, Status> {
        let m = &self.inner.mapping;
        Ok(Response::new(v1::DescribeResponse {
            organisation: self.inner.organisation.clone(),
            system: m.system.clone(),
            schema_version: trama_proto::SCHEMA_VERSION.to_string(),
            sections: m
                .provided_sections()
                .into_iter()
                .map(|s| s as i32)
                .collect(),
            match_capabilities: m.match_capabilities(),
        }))
    }

    async fn match_subject(
        &self,
        request: Request<v1::MatchSubjectRequest>,
    ) -> Result<Response<v1::MatchSubjectResponse>, Status> {
        let req = request.into_inner();
        let ctx = req.context.clone().unwrap_or_default();
        let mut entry = self.draft("MatchSubject", &req.client_organisation, &ctx);
        let query = req.query.unwrap_or_default();
        entry.subjects = self.subject(&query.tax_code, query.local_id.as_ref());
        if let Err(why) = self.export.may_match(&req.client_organisation, &ctx) {
            entry.decision = "deny".into();
            entry.reason = why.clone();
            tracing::info!(client = %req.client_organisation, purpose = %ctx.purpose, "match refused by the export policy");
            return self
                .audited(entry, Err(Status::permission_denied(why)))
                .await;
        }
        let max = match req.max_candidates {
            0 => 10,
            n => (n as usize).min(MAX_CANDIDATES),
        };
        let result = self
            .inner
            .match_subject(&query, max)
            .await
            .map_err(to_status);
        if let Ok(candidates) = &result {
            for c in candidates.iter().filter_map(|c| c.identity.as_ref()) {
                entry
                    .subjects
                    .extend(self.subject(&c.tax_code, c.local_id.as_ref()));
            }
            tracing::info!(
                client = %req.client_organisation,
                purpose = %ctx.purpose,
                candidates = candidates.len(),
                "match answered"
            );
        }
        let candidates = self.audited(entry, result).await?;
        Ok(Response::new(v1::MatchSubjectResponse { candidates }))
    }

    async fn fetch_record(
        &self,
        request: Request<v1::FetchRecordRequest>,
    ) -> Result<Response<v1::FetchRecordResponse>, Status> {
        let req = request.into_inner();
        let sections = sections_of(&req.sections)?;
        let ctx = req.context.clone().unwrap_or_default();
        let mut entry = self.draft("FetchRecord", &req.client_organisation, &ctx);
        entry.sections_asked = sections
            .iter()
            .map(|s| trama_proto::sections::name(*s).into())
            .collect();
        let asked_local = (!req.local_id.is_empty())
            .then_some((self.inner.organisation.as_str(), req.local_id.as_str()));
        entry.subjects = self.pseudonyms.subject(&req.tax_code, asked_local);
        // Sovereignty: the partner's own policy, whatever the gateway
        // allowed. A client or purpose no rule fits gets nothing, not even
        // whether the partner knows the person; of the sections the
        // mapping provides, those the rules do not release are withheld.
        let provided = self.inner.mapping.provided_sections();
        let here: Vec<Section> = sections
            .iter()
            .copied()
            .filter(|s| provided.contains(s))
            .collect();
        let release = self.export.release(&req.client_organisation, &ctx, &here);
        let fits = self.export.may_match(&req.client_organisation, &ctx);
        if let Err(why) = fits.and_then(|()| {
            if release.released.is_empty() && !release.withheld.is_empty() {
                Err(self.export.refusal(&req.client_organisation, &ctx))
            } else {
                Ok(())
            }
        }) {
            entry.decision = "deny".into();
            entry.reason = why.clone();
            tracing::info!(client = %req.client_organisation, purpose = %ctx.purpose, "fetch refused by the export policy");
            return self
                .audited(entry, Err(Status::permission_denied(why)))
                .await;
        }
        if !release.withheld.is_empty() {
            entry.reason = format!(
                "export policy withheld: {}",
                release
                    .withheld
                    .iter()
                    .map(|s| trama_proto::sections::name(*s))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let result = self
            .inner
            .fetch_record(&req.tax_code, &req.local_id, &release.released)
            .await
            .map_err(to_status)
            .map(|mut response| {
                response.withheld = release.withheld.iter().map(|s| *s as i32).collect();
                response
            });
        if let Ok(response) = &result {
            if let Some(identity) = &response.identity {
                entry
                    .subjects
                    .extend(self.subject(&identity.tax_code, identity.local_id.as_ref()));
            }
            entry.sections_returned = response
                .sections
                .as_ref()
                .map(v1::RecordSections::names_with_entries)
                .unwrap_or_default();
            tracing::info!(
                client = %req.client_organisation,
                purpose = %ctx.purpose,
                found = response.found,
                sections = release.released.len(),
                withheld = release.withheld.len(),
                "record answered"
            );
        }
        let response = self.audited(entry, result).await?;
        Ok(Response::new(response))
    }
}

/// How often the connector checks that its database answers.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// Loads the mapping and opens the database, without checking the mapping
/// yet.
pub async fn open(config: &ConnectorConfig) -> Result<Connector, ConnectorError> {
    let mapping = Mapping::load(&config.mapping)?;
    let db = Database::connect(&config.database, config.limits)
        .await
        .map_err(|source| ConnectorError::Database {
            url: crate::source::redact(&config.database),
            source,
        })?;
    Ok(Connector::new(config.organisation.clone(), mapping, db))
}

/// Loads the mapping, connects to the database and checks the mapping
/// against it: the connector is ready to serve. Fails if the database
/// cannot be reached (`trama check`).
pub async fn prepare(config: &ConnectorConfig) -> Result<Connector, ConnectorError> {
    let connector = open(config).await?;
    connector.check().await?;
    Ok(connector)
}

/// Keeps the health status true: checks the mapping as soon as the
/// database answers (a connector may start while its database is down),
/// then pings the database. Returns only if the database, once reached,
/// does not fit the mapping: the connector must then stop.
async fn watch_database(
    connector: Arc<Connector>,
    health: tonic_health::server::HealthReporter,
) -> ConnectorError {
    let mut serving: Option<bool> = None;
    loop {
        let up = if connector.is_ready() {
            connector.db.ping().await.map_err(|e| e.to_string())
        } else {
            match connector.check().await {
                Ok(()) => {
                    tracing::info!(
                        engine = connector.db.engine(),
                        "mapping checked against the database"
                    );
                    Ok(())
                }
                Err(CheckError::Unavailable(e)) => Err(e.to_string()),
                Err(e) => return ConnectorError::Check(e),
            }
        };
        let now = up.is_ok();
        if serving != Some(now) {
            if now {
                tracing::info!("database reachable: serving");
                health
                    .set_serving::<ConnectorServer<ConnectorService>>()
                    .await;
                health
                    .set_service_status("", tonic_health::ServingStatus::Serving)
                    .await;
            } else {
                tracing::warn!(
                    error = up.err().unwrap_or_default(),
                    "database unreachable: not serving"
                );
                health
                    .set_not_serving::<ConnectorServer<ConnectorService>>()
                    .await;
                health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            }
            serving = Some(now);
        }
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}

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
    let identity = crate::check::identity(&config)?;
    let connector = Arc::new(open(&config).await?);
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
    let owner = crate::check::owner(&config, &identity);
    let (audit, pseudonyms) =
        trama_audit::settings::open(&config.audit, &config.tls.key, &owner).await?;
    let tls = trama_tls::TlsState::load(config.tls.clone())?;
    let tls_watch = tls.clone().watch(TLS_POLL);
    let gauges = match config.metrics {
        Some(address) => {
            trama_telemetry::serve(address).await?;
            Some(trama_telemetry::watch_certificates(tls.clone()))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ConnectorError::Bind {
            address: config.listen.to_string(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| ConnectorError::Bind {
            address: config.listen.to_string(),
            source,
        })?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_not_serving::<ConnectorServer<ConnectorService>>()
        .await;
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let watcher = watch_database(connector.clone(), health_reporter);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(trama_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ConnectorError::Internal(e.to_string()))?;
    let authz = RequireRole::new(&config.federation, Role::Gateway, "trama.v1.Connector")
        .with_revocation(tls.clone());
    let service = tonic::service::interceptor::InterceptedService::new(
        ConnectorServer::new(ConnectorService::new(
            connector.clone(),
            config.export.clone(),
            audit.clone(),
            pseudonyms,
        ))
        .max_decoding_message_size(1 << 20)
        .max_encoding_message_size(16 << 20),
        authz.clone(),
    );
    tracing::info!(
        organisation = %config.organisation,
        address = %local,
        sections = connector.mapping.sections.len(),
        "connector serving"
    );
    on_ready(local);
    let server = tonic::transport::Server::builder()
        .add_service(service)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            health_service,
            authz.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            reflection, authz,
        ))
        .serve_with_incoming_shutdown(
            trama_tls::server::incoming_reloading(listener, tls),
            shutdown,
        );
    let result = tokio::select! {
        served = server => served.map_err(|e| ConnectorError::Internal(e.to_string())),
        refused = watcher => Err(refused),
    };
    tls_watch.abort();
    if let Some(g) = gauges {
        g.abort();
    }
    if let Err(e) = audit.checkpoint().await {
        tracing::error!(error = %e, "final audit checkpoint failed");
    }
    result
}
