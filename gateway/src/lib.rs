//! Trama's federation gateway. It serves `trama.v1.Federation` over mutual
//! TLS to the federation's `client` identities, asks the connectors of the
//! registry in parallel, each under its own budget inside the caller's
//! deadline, and merges their answers keeping each entry's provenance and
//! one outcome per source.
//!
//! Module map. The core every call runs on: [`call`] is the pipeline
//! (admitted → validated → planned → fanned out → combined → audited →
//! answered); [`error`] is the one error type and its mapping to
//! `tonic::Status`; [`validate`] turns requests into domain types;
//! [`plan`] decides per source (policy first, [`policy`]); [`cases`] binds a
//! stated case to a real one; [`registry`] holds the sources and the
//! fan-out, [`outcome`] what became of each source; [`protect`] guards
//! partners and the gateway; [`audit`] writes every call's entry;
//! [`federation`] holds the state every call shares and [`service`] is the
//! gRPC adapter over it; [`config`] reads the configuration and [`check`]
//! holds the start-up checks. The capabilities, each with its calls:
//! [`records`] (finding people and reading records, with the merge and the
//! locator), [`stats`] (statistics), [`catalogue`] (the services on offer)
//! and [`referrals`]; [`calls`] holds the federation's own calls (the
//! access log, the list of sources).
//!
//! **Architecture invariant:** the gateway never stores record contents.
//! What connectors return lives in memory for the duration of one call.

pub mod audit;
pub mod call;
pub mod calls;
pub mod cases;
pub mod catalogue;
pub mod check;
pub mod config;
pub mod error;
pub mod federation;
pub mod outcome;
pub mod plan;
pub mod policy;
pub mod protect;
pub mod readiness;
pub mod records;
pub mod referrals;
pub mod registry;
pub mod service;
pub mod stats;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use trama_node::server::NodeServer;
use trama_proto::v1::federation_server::FederationServer;
use trama_telemetry::ready::Readiness;
use trama_tls::Role;

pub use config::GatewayConfig;

/// The service the gateway serves.
const FEDERATION: &str = "trama.v1.Federation";

/// Why the gateway cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is refused.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Certificates could not be loaded.
    #[error(transparent)]
    Tls(#[from] trama_tls::TlsError),
    /// The server cannot start or failed.
    #[error(transparent)]
    Serve(#[from] trama_node::server::ServeError),
    /// The policy is refused.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    /// The audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] trama_audit::AuditError),
    /// The referral key or store cannot be used.
    #[error(transparent)]
    Referrals(#[from] referrals::SetupError),
    /// The statistics cell-key secret cannot be used.
    #[error(transparent)]
    CellKey(#[from] stats::CellKeyError),
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
    let readiness = Readiness::new(&readiness::CHECKS);
    let server = NodeServer {
        federation: config.federation.clone(),
        admits: Role::Client,
        service: FEDERATION,
        listen: config.listen,
        metrics: config.metrics,
        health: config.health,
        readiness: readiness.clone(),
        max_request: (
            config.limits.max_request_bytes,
            "[limits] max_request_bytes",
        ),
    }
    .bind(&tls)
    .await?;
    zero_failure_counters();
    let ready = tokio::spawn(readiness::keep(
        readiness,
        auditor.log.store().clone(),
        registry.clone(),
        (server.health().clone(), FEDERATION),
    ));
    let statistics = stats::Statistics::open(&config.statistics)?;
    let catalogue = catalogue::Catalogue::new();
    let refresher = tokio::spawn(
        catalogue
            .clone()
            .keep_fresh(registry.clone(), config.catalogue_refresh),
    );
    let referrals = referrals::Referrals::open(config.referrals.clone()).await?;
    let delivering = tokio::spawn(referrals.clone().deliver_forever(registry.clone()));
    let following = tokio::spawn(referrals.clone().follow_forever(registry.clone()));
    let federation = FederationServer::new(service::FederationService::new(
        registry,
        &config.limits,
        policy.clone(),
        auditor.clone(),
        statistics,
        catalogue,
        referrals.clone(),
        cases::Cases::new(&config.cases),
    ))
    .max_decoding_message_size(config.limits.max_request_bytes)
    .max_encoding_message_size(64 << 20);
    let watcher = watch_policy(policy, config.policy.clone());
    tracing::info!(
        federation = %config.federation,
        address = %server.local_addr(),
        sources = config.sources.len(),
        audit = %auditor.log.store().url(),
        "gateway serving"
    );
    on_ready(server.local_addr());
    let served = server.serve(federation, shutdown).await;
    watcher.abort();
    ready.abort();
    refresher.abort();
    delivering.abort();
    following.abort();
    referrals.store().close().await;
    trama_node::server::final_checkpoint(&auditor.log).await;
    Ok(served?)
}

/// Registers the counters of failures at zero, so that an alert on their
/// increase fires on the first one.
fn zero_failure_counters() {
    for name in ["trama_audit_failures_total", "trama_shed_total"] {
        metrics::counter!(name).increment(0);
    }
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
    let verifier =
        trama_audit::chain::SignatureVerifier::load_all(std::slice::from_ref(&config.tls.cert))?;
    let integrity = audit::Integrity::new(verifier, config.audit.checkpoint_file.clone());
    Ok(audit::Auditor {
        log,
        pseudonyms,
        integrity: Some(std::sync::Arc::new(integrity)),
    })
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
