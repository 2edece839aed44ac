//! Trama's federation gateway. It serves `trama.v1.Federation` over mutual
//! TLS to the federation's `client` identities, asks the connectors of the
//! registry in parallel, each under its own budget inside the caller's
//! deadline, and merges their answers keeping each entry's provenance and
//! one outcome per source.
//!
//! Module map: [`config`] reads the configuration; [`registry`] holds the
//! sources and the fan-out; [`validate`] checks requests; [`merge`] merges
//! records and groups candidates; [`service`] is the gRPC service.
//!
//! **Architecture invariant:** the gateway never stores record contents.
//! What connectors return lives in memory for the duration of one call.

pub mod config;
pub mod merge;
pub mod registry;
pub mod service;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;

use tonic::service::interceptor::InterceptedService;
use trama_proto::v1::federation_server::FederationServer;
use trama_tls::Role;
use trama_tls::authz::RequireRole;

pub use config::GatewayConfig;

/// Why the gateway cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is refused.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Certificates could not be loaded.
    #[error(transparent)]
    Tls(#[from] trama_tls::TlsError),
    /// The listening address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The error.
        source: std::io::Error,
    },
    /// The server failed.
    #[error("server: {0}")]
    Internal(String),
}

/// Serves `trama.v1.Federation` (and the standard health and reflection
/// services) until `shutdown` completes. `on_ready` is called with the
/// bound address once the port is open.
pub async fn serve(
    config: GatewayConfig,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    let registry = registry::Registry::new(&config)?;
    let tls = trama_tls::server::server_config(&config.tls)?;
    let bind_error = |source| GatewayError::Bind {
        address: config.listen.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<FederationServer<service::FederationService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(trama_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let authz = RequireRole::new(&config.federation, Role::Client, "trama.v1.Federation");
    let federation = InterceptedService::new(
        FederationServer::new(service::FederationService::new(
            registry,
            config.limits.default_deadline,
        ))
        .max_decoding_message_size(config.limits.max_request_bytes)
        .max_encoding_message_size(64 << 20),
        authz.clone(),
    );
    tracing::info!(
        federation = %config.federation,
        address = %local,
        sources = config.sources.len(),
        "gateway serving"
    );
    on_ready(local);
    tonic::transport::Server::builder()
        .add_service(federation)
        .add_service(InterceptedService::new(health_service, authz.clone()))
        .add_service(InterceptedService::new(reflection, authz))
        .serve_with_incoming_shutdown(trama_tls::server::incoming(listener, tls), shutdown)
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()))
}
