//! Logs and traces of a node. Logs go to standard error, as text (coloured
//! only on a terminal) or as JSON lines; spans are exported over OTLP/gRPC
//! when the `[tracing]` table names a collector (off by default). The W3C
//! trace context travels in gRPC metadata: the gateway injects it into
//! each call to a connector, and every server takes its parent from the
//! call it receives, so one trace shows the client's call, each source's
//! call and each database query.
//!
//! **Privacy.** Spans carry call names, organisations, stages, counts and
//! outcomes, never names, tax codes, identifiers or record contents; their
//! fields obey the same rule as log lines.

use std::io::IsTerminal;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tonic::codegen::http;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::TelemetryError;

/// The `[tracing]` table of the gateway's and the connectors'
/// configuration files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingTable {
    /// The OTLP/gRPC collector, for example `http://127.0.0.1:4317`; no
    /// export when absent.
    pub otlp_endpoint: Option<String>,
    /// Logs as JSON lines instead of text.
    pub json_logs: bool,
}

impl TracingTable {
    /// Checks the table; `Err` names the key and the problem.
    pub fn validated(self) -> Result<TracingTable, (String, String)> {
        if let Some(e) = &self.otlp_endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err((
                "tracing.otlp_endpoint".into(),
                format!("`{e}` is not a URL like http://127.0.0.1:4317 (OTLP over gRPC)"),
            ));
        }
        Ok(self)
    }
}

/// The installed tracing; dropping it flushes and stops the export.
#[derive(Debug)]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("trace export did not finish: {e}");
        }
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the process's logs (filtered by `RUST_LOG`, by default
/// `info,sqlx=warn`) and, when `table` names a collector, the export of
/// spans as `service`. Call once, inside the Tokio runtime (the exporter's
/// channel runs on it).
pub fn init(service: &str, table: &TracingTable) -> Result<Tracing, TelemetryError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::stderr().is_terminal();
    let logs: BoxedLayer = if table.json_logs {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr),
        )
    } else {
        Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr),
        )
    };
    let (provider, spans) = match &table.otlp_endpoint {
        Some(endpoint) => {
            let provider = exporter(service, endpoint)?;
            let tracer = provider.tracer("trama");
            let layer: BoxedLayer = Box::new(tracing_opentelemetry::layer().with_tracer(tracer));
            (Some(provider), Some(layer))
        }
        None => (None, None),
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    tracing_subscriber::registry()
        .with(logs.and_then(spans).with_filter(filter))
        .try_init()
        .map_err(|e| TelemetryError::Tracing(e.to_string()))?;
    Ok(Tracing { provider })
}

/// Logs only, for commands that are not nodes.
pub fn init_logs() -> Result<Tracing, TelemetryError> {
    init("trama", &TracingTable::default())
}

fn exporter(service: &str, endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Tracing(format!("OTLP exporter to {endpoint}: {e}")))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_string())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Writes the current span's trace context into gRPC metadata.
struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Reads a trace context from HTTP headers.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A client interceptor that sends the current span's trace context with
/// every call (the gateway's calls to connectors).
#[derive(Debug, Clone, Copy, Default)]
pub struct Propagate;

impl tonic::service::Interceptor for Propagate {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut MetadataInjector(request.metadata_mut()))
        });
        Ok(request)
    }
}

/// The span of one received call, child of the trace context the caller
/// sent (for `tonic::transport::Server::trace_fn`). It names the method
/// only: request contents stay out of traces.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(request.headers()))
    });
    let span = tracing::info_span!("rpc", rpc.method = %request.uri().path());
    // A span that is disabled (no subscriber) takes no parent; nothing to do.
    let _ = span.set_parent(parent);
    span
}
