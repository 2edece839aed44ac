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

use crate::ConnectorError;
use crate::check::CheckError;
use crate::config::ConnectorConfig;
use crate::mapping::Mapping;
use crate::runtime::{Connector, RuntimeError};
use crate::source::{Database, SourceError};

/// Most candidates a connector returns for one query.
const MAX_CANDIDATES: usize = 50;

/// The gRPC face of a [`Connector`].
#[derive(Debug, Clone)]
pub struct ConnectorService {
    inner: Arc<Connector>,
}

impl ConnectorService {
    /// Wraps a connector.
    pub fn new(inner: Arc<Connector>) -> Self {
        ConnectorService { inner }
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
        let query = req.query.unwrap_or_default();
        let max = match req.max_candidates {
            0 => 10,
            n => (n as usize).min(MAX_CANDIDATES),
        };
        let candidates = self
            .inner
            .match_subject(&query, max)
            .await
            .map_err(to_status)?;
        tracing::info!(
            client = %req.client_organisation,
            purpose = req.context.as_ref().map(|c| c.purpose.as_str()).unwrap_or(""),
            candidates = candidates.len(),
            "match answered"
        );
        Ok(Response::new(v1::MatchSubjectResponse { candidates }))
    }

    async fn fetch_record(
        &self,
        request: Request<v1::FetchRecordRequest>,
    ) -> Result<Response<v1::FetchRecordResponse>, Status> {
        let req = request.into_inner();
        let sections = sections_of(&req.sections)?;
        let response = self
            .inner
            .fetch_record(&req.tax_code, &req.local_id, &sections)
            .await
            .map_err(to_status)?;
        tracing::info!(
            client = %req.client_organisation,
            purpose = req.context.as_ref().map(|c| c.purpose.as_str()).unwrap_or(""),
            found = response.found,
            sections = sections.len(),
            "record answered"
        );
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
    let connector = Arc::new(open(&config).await?);
    match connector.check().await {
        Ok(()) => {}
        Err(CheckError::Unavailable(e)) => {
            tracing::warn!(error = %e, "database unreachable at start; serving NOT_SERVING until it answers");
        }
        Err(e) => return Err(e.into()),
    }
    let tls = trama_tls::server::server_config(&config.tls)?;
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
    let authz = RequireRole::new(&config.federation, Role::Gateway, "trama.v1.Connector");
    let service = tonic::service::interceptor::InterceptedService::new(
        ConnectorServer::new(ConnectorService::new(connector.clone()))
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
        .serve_with_incoming_shutdown(trama_tls::server::incoming(listener, tls), shutdown);
    tokio::select! {
        served = server => served.map_err(|e| ConnectorError::Internal(e.to_string())),
        refused = watcher => Err(refused),
    }
}
