//! Traces across the federation, received by an OTLP collector written
//! here: one `GetRecord` shows the client's trace, the gateway's stages and
//! every connector's database queries under one trace id, and no span
//! carries a name or a tax code from the data.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use support::{Sandbox, featured_tax_code};
use trama_proto::v1;

/// One span as received.
#[derive(Debug, Clone)]
struct Received {
    /// The exporting node (`service.name`).
    service: String,
    /// The span's name.
    name: String,
    /// Its trace id, in hex.
    trace_id: String,
    /// Everything the span says (name, attributes, events), as text.
    text: String,
}

/// An OTLP/gRPC trace collector keeping every span it receives.
#[derive(Debug, Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: span.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                    text: format!("{span:?}"),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Starts the collector on loopback; returns it and its endpoint.
    async fn start() -> (Collector, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let collector = Collector::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (collector, endpoint)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The spans of the test's trace, once every expected one has arrived.
async fn trace(collector: &Collector, connectors: &[&str]) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans: Vec<Received> = collector
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == TRACE_ID)
            .collect();
        let has = |service: &str, name: &str| {
            spans.iter().any(|s| s.service == service && s.name == name)
        };
        let complete = ["validate", "plan", "fan_out", "combine", "audit"]
            .iter()
            .all(|stage| has("trama-gateway", stage))
            && connectors
                .iter()
                .all(|org| has(&format!("trama-connector-{org}"), "query"));
        if complete || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn one_trace_holds_the_gateway_stages_and_every_connectors_queries_and_no_personal_data() {
    let (collector, endpoint) = Collector::start().await;
    let fed = Sandbox::start_with(|b| b.otlp(endpoint.clone())).await;
    let mut request = tonic::Request::new(v1::GetRecordRequest {
        context: support::context("presa_in_carico"),
        subject: Some(v1::SubjectKey {
            tax_code: featured_tax_code(),
            local_ids: vec![],
        }),
        sections: trama_proto::sections::ALL
            .iter()
            .map(|s| *s as i32)
            .collect(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let answer = fed
        .client("comune")
        .get_record(request)
        .await
        .expect("served")
        .into_inner();
    assert!(!answer.partial, "{:?}", answer.outcomes);
    let record = answer.record.expect("a record");
    let connectors = ["comune", "asl", "caritas", "caf"];
    let spans = trace(&collector, &connectors).await;
    let names: Vec<String> = spans
        .iter()
        .map(|s| format!("{}:{}", s.service, s.name))
        .collect();
    for stage in ["admit", "validate", "plan", "fan_out", "combine", "audit"] {
        assert!(
            names.contains(&format!("trama-gateway:{stage}")),
            "no gateway stage {stage} in {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n == "trama-gateway:source"),
        "no source span at the gateway: {names:?}"
    );
    for org in connectors {
        assert!(
            names.contains(&format!("trama-connector-{org}:query")),
            "no query of {org} in the trace: {names:?}"
        );
    }
    // Nothing of the person, in any span of any trace.
    let (family, given, ..) = trama_lab::seed::population::FEATURED;
    let mut personal = vec![
        featured_tax_code().to_lowercase(),
        family.to_lowercase(),
        given.to_lowercase(),
    ];
    for identity in &record.identities {
        for value in [&identity.family_name, &identity.given_name] {
            if value.chars().count() > 3 {
                personal.push(value.to_lowercase());
            }
        }
        if let Some(l) = identity.local_id.as_ref().filter(|l| l.id.len() > 3) {
            personal.push(format!("\"{}\"", l.id));
        }
    }
    let all = collector.spans();
    assert!(!all.is_empty());
    for span in &all {
        let text = span.text.to_lowercase();
        for p in &personal {
            assert!(
                !text.contains(p.as_str()),
                "span {}:{} carries `{p}`: {}",
                span.service,
                span.name,
                span.text
            );
        }
    }
    fed.cleanup().await;
}

#[tokio::test]
async fn logs_in_a_file_carry_no_colour_codes() {
    let fed = Sandbox::start().await;
    let _ = fed
        .client("comune")
        .list_sources(v1::ListSourcesRequest::default())
        .await
        .expect("served");
    for node in ["gateway", "comune"] {
        let log = fed.log(node);
        assert!(log.contains("serving"), "{node}: {log}");
        assert!(
            !log.contains('\u{1b}'),
            "{node} writes colour codes to a file: {log}"
        );
    }
    fed.cleanup().await;
}

#[tokio::test]
async fn logs_are_json_lines_when_asked() {
    let fed = Sandbox::start_with(|b| b.json_logs()).await;
    for node in ["gateway", "comune", "caf"] {
        let log = fed.log(node);
        let events: Vec<serde_json::Value> = log
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with(support::READY))
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{node}: not a JSON line ({e}): {l}"))
            })
            .collect();
        assert!(
            events.iter().any(|e| e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("serving"))),
            "{node}: {log}"
        );
        assert!(
            events.iter().all(|e| e["level"].is_string()),
            "{node}: {log}"
        );
    }
    fed.cleanup().await;
}
