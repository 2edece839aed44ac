//! Trama's federation gateway. It serves `trama.v1.Federation` over mutual
//! TLS to the federation's `client` identities, asks the connectors of the
//! registry in parallel, each under its own budget inside the caller's
//! deadline, and merges their answers keeping each entry's provenance and
//! one outcome per source.
//!
//! Module map: [`config`] reads the configuration; [`registry`] holds the
//! sources and the fan-out; [`validate`] checks requests; [`policy`]
//! decides what each call may do; [`merge`] merges records and groups
//! candidates; [`audit`] writes every call to the audit log and answers
//! `AccessLog`; [`service`] is the gRPC service; [`check`] holds the
//! start-up checks.
//!
//! **Architecture invariant:** the gateway never stores record contents.
//! What connectors return lives in memory for the duration of one call.

pub mod audit;
pub mod check;
pub mod config;
pub mod locator;
pub mod merge;
pub mod policy;
pub mod protect;
pub mod registry;
pub mod service;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

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
    /// The policy is refused.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    /// The audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] trama_audit::AuditError),
    /// The metrics endpoint cannot start.
    #[error(transparent)]
    Telemetry(#[from] trama_telemetry::TelemetryError),
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
    let identity = check::identity(&config)?;
    let tls = trama_tls::TlsState::load(config.tls.clone())?;
    let registry = registry::Registry::new(&config, &tls)?;
    let policy = Arc::new(ArcSwap::from_pointee(policy::Policy::load(&config.policy)?));
    let auditor = open_audit(&config, &identity).await?;
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
    let authz = RequireRole::new(&config.federation, Role::Client, "trama.v1.Federation")
        .with_revocation(tls.clone());
    let federation = InterceptedService::new(
        FederationServer::new(service::FederationService::new(
            registry,
            &config.limits,
            policy.clone(),
            auditor.clone(),
        ))
        .max_decoding_message_size(config.limits.max_request_bytes)
        .max_encoding_message_size(64 << 20),
        authz.clone(),
    );
    let watcher = watch_policy(policy, config.policy.clone());
    let tls_watch = tls.clone().watch(POLICY_POLL);
    let gauges = match config.metrics {
        Some(address) => {
            trama_telemetry::serve(address).await?;
            Some(trama_telemetry::watch_certificates(tls.clone()))
        }
        None => None,
    };
    tracing::info!(
        federation = %config.federation,
        address = %local,
        sources = config.sources.len(),
        audit = %auditor.log.store().url(),
        "gateway serving"
    );
    on_ready(local);
    let served = tonic::transport::Server::builder()
        .add_service(federation)
        .add_service(InterceptedService::new(health_service, authz.clone()))
        .add_service(InterceptedService::new(reflection, authz))
        .serve_with_incoming_shutdown(
            trama_tls::server::incoming_reloading(listener, tls),
            shutdown,
        )
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()));
    watcher.abort();
    tls_watch.abort();
    if let Some(g) = gauges {
        g.abort();
    }
    // Seal what was written with a last signed checkpoint.
    if let Err(e) = auditor.log.checkpoint().await {
        tracing::error!(error = %e, "final audit checkpoint failed");
    }
    served
}

/// Opens the audit log as the gateway's own, checkpoints signed with the
/// gateway's key.
async fn open_audit(
    config: &GatewayConfig,
    identity: &trama_tls::NodeIdentity,
) -> Result<audit::Auditor, GatewayError> {
    let owner = check::owner(config, identity);
    let (log, pseudonyms) =
        trama_audit::settings::open(&config.audit, &config.tls.key, &owner).await?;
    Ok(audit::Auditor { log, pseudonyms })
}

/// Reloads the policy when its file changes or on SIGHUP; a policy that
/// does not load is refused and the previous one stays in force.
fn watch_policy(
    policy: Arc<ArcSwap<policy::Policy>>,
    path: std::path::PathBuf,
) -> tokio::task::JoinHandle<()> {
    trama_tls::reload::watch_file(path, POLICY_POLL, move |path| {
        match policy::Policy::load(path) {
            Ok(p) => {
                tracing::info!(file = %path.display(), policies = p.len(), "policy reloaded");
                policy.store(Arc::new(p));
            }
            Err(e) => {
                tracing::error!(error = %e, "policy not reloaded; the previous one stays in force");
            }
        }
    })
}

/// How often the policy file is checked for changes.
const POLICY_POLL: std::time::Duration = std::time::Duration::from_secs(2);
