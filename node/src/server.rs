//! The one server builder of both kinds of node: bind, mutual TLS with
//! certificates and CRLs reloaded, the role check on every service, health,
//! server reflection (`v1` and `v1alpha`, since stock clients speak either)
//! advertising exactly the services the node serves, trace context taken
//! from each call, the answer to an over-size request, metrics, and a
//! drain of calls in flight on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::Code;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower::util::MapResponseLayer;
use trama_tls::authz::RequireRole;
use trama_tls::{Role, TlsState};

/// Why the reflection service cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("server reflection: {0}")]
pub struct ReflectionError(String);

fn reflection_builder(services: &[&str]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(trama_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for name in services {
        builder = builder.with_service_name(*name);
    }
    builder
}

/// The services a node advertises: its own, health and reflection.
fn advertised(own: &str, reflection: &str) -> [String; 3] {
    [
        own.to_string(),
        "grpc.health.v1.Health".to_string(),
        reflection.to_string(),
    ]
}

/// Server reflection `v1` advertising `own`, health and reflection itself
/// (not every service of the schema: a gateway does not serve
/// `trama.v1.Connector`), able to describe all of them.
pub fn reflection_v1(
    own: &str,
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    ReflectionError,
> {
    let names = advertised(own, "grpc.reflection.v1.ServerReflection");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    reflection_builder(&names)
        .build_v1()
        .map_err(|e| ReflectionError(e.to_string()))
}

/// The same in `v1alpha`, for clients that speak only that version.
pub fn reflection_v1alpha(
    own: &str,
) -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    ReflectionError,
> {
    let names = advertised(own, "grpc.reflection.v1alpha.ServerReflection");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    reflection_builder(&names)
        .build_v1alpha()
        .map_err(|e| ReflectionError(e.to_string()))
}

/// A layer that answers a request over the size limit with
/// `RESOURCE_EXHAUSTED` naming the limit and the key that sets it, instead
/// of tonic's `OUT_OF_RANGE` (which says the client's value is out of
/// range, and is not retried or reported as a limit by clients). Nothing
/// else a Trama service answers is `OUT_OF_RANGE`.
pub fn too_large_is_exhausted<B>(
    limit: usize,
    key: &'static str,
) -> MapResponseLayer<impl Fn(http::Response<B>) -> http::Response<B> + Clone> {
    MapResponseLayer::new(move |mut response: http::Response<B>| {
        let headers = response.headers_mut();
        if let Some(status) = tonic::Status::from_header_map(headers)
            && status.code() == Code::OutOfRange
        {
            let replaced = tonic::Status::resource_exhausted(format!(
                "request too large: {}; the limit is {limit} bytes ({key})",
                status.message()
            ));
            // Headers that cannot be written leave tonic's own answer.
            let _ = replaced.add_header(headers);
        }
        response
    })
}

/// The line `trama gateway` and `trama connector` print on standard output
/// once they serve, followed by their address (scripts and the lab wait for
/// it).
pub const READY: &str = "trama: ready on ";

/// Why a node's server cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Reflection could not be built.
    #[error(transparent)]
    Reflection(#[from] ReflectionError),
    /// The metrics endpoint cannot start.
    #[error(transparent)]
    Telemetry(#[from] trama_telemetry::TelemetryError),
    /// The server failed.
    #[error("server: {0}")]
    Transport(String),
}

/// How often certificate, key and CRL files are checked for changes.
const TLS_POLL: Duration = Duration::from_secs(2);

/// What a node's server is: its federation, the one role it admits, its
/// service, where it listens and its limits.
#[derive(Debug, Clone)]
pub struct NodeServer {
    /// The federation.
    pub federation: String,
    /// The only role admitted on every service (`client` at the gateway,
    /// `gateway` at a connector).
    pub admits: Role,
    /// The node's own service, for example `trama.v1.Federation`.
    pub service: &'static str,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where to serve metrics, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Where to serve `/livez` and `/readyz`, if anywhere.
    pub health: Option<SocketAddr>,
    /// The node's ready checks, which `/readyz` reports.
    pub readiness: trama_telemetry::ready::Readiness,
    /// The largest request accepted, and the configuration key that sets it.
    pub max_request: (usize, &'static str),
}

/// A node's server, bound, before it serves: its address is known and its
/// health can be set.
pub struct Bound {
    spec: NodeServer,
    listener: tokio::net::TcpListener,
    local: SocketAddr,
    tls: TlsState,
    health: HealthReporter,
    health_service: HealthServer<HealthService>,
}

impl NodeServer {
    /// Binds the listener, starts the metrics and HTTP health endpoints if
    /// configured, and prepares the gRPC health service.
    pub async fn bind(self, tls: &TlsState) -> Result<Bound, ServeError> {
        let bind = |source| ServeError::Bind {
            address: self.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        if let Some(address) = self.metrics {
            trama_telemetry::serve(address).await?;
        }
        if let Some(address) = self.health {
            trama_telemetry::http::health(address, self.readiness.clone()).await?;
        }
        let health = HealthReporter::new();
        let health_service = HealthServer::new(HealthService::from_health_reporter(health.clone()));
        Ok(Bound {
            spec: self,
            listener,
            local,
            tls: tls.clone(),
            health,
            health_service,
        })
    }
}

impl Bound {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The health reporter, to set the node's status.
    pub fn health(&self) -> &HealthReporter {
        &self.health
    }

    /// Serves `service` with health and reflection, every one behind mutual
    /// TLS (certificates and CRLs reloaded on change or SIGHUP) and the role
    /// check, until `shutdown` completes; then lets calls in flight finish.
    /// Traces take their parent from each call; over-size requests are a
    /// limit. Certificate gauges are kept while serving.
    pub async fn serve<S>(
        self,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError>
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let spec = self.spec;
        let gauges = spec
            .metrics
            .map(|_| trama_telemetry::watch_certificates(self.tls.clone()));
        let tls_watch = self.tls.clone().watch(TLS_POLL);
        let authz = RequireRole::new(&spec.federation, spec.admits, spec.service)
            .with_revocation(self.tls.clone());
        let (limit, key) = spec.max_request;
        let served = tonic::transport::Server::builder()
            .trace_fn(trama_telemetry::traces::server_span)
            .layer(too_large_is_exhausted(limit, key))
            .layer(crate::timing::TimedLayer)
            .add_service(InterceptedService::new(service, authz.clone()))
            .add_service(InterceptedService::new(self.health_service, authz.clone()))
            .add_service(InterceptedService::new(
                reflection_v1(spec.service)?,
                authz.clone(),
            ))
            .add_service(InterceptedService::new(
                reflection_v1alpha(spec.service)?,
                authz,
            ))
            .serve_with_incoming_shutdown(
                trama_tls::server::incoming_reloading(self.listener, self.tls),
                shutdown,
            )
            .await
            .map_err(|e| ServeError::Transport(e.to_string()));
        tls_watch.abort();
        if let Some(g) = gauges {
            g.abort();
        }
        served
    }
}

/// Sets the gRPC health status of `service` (and of the server as a whole,
/// the empty name) to `serving` or not.
pub async fn set_serving(health: &HealthReporter, service: &str, serving: bool) {
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    health.set_service_status(service, status).await;
    health.set_service_status("", status).await;
}

/// Seals the audit log with a last signed checkpoint, when a node stops.
pub async fn final_checkpoint(audit: &trama_audit::AuditLog) {
    if let Err(e) = audit.checkpoint().await {
        tracing::error!(error = %e, "final audit checkpoint failed");
    }
}
