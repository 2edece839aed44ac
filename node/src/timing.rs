//! The latency of every call a node serves: the histogram
//! `trama_call_seconds{method}`, from a request's arrival to its answer,
//! by gRPC method (`/trama.v1.Federation/GetRecord`). A path that is not one
//! of the federation's, the health or reflection services counts as
//! `other`, so a peer cannot grow the metrics without bound.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::codegen::http;

/// The prefixes of the methods counted by name.
const KNOWN: [&str; 3] = ["/trama.v1.", "/grpc.health.v1.", "/grpc.reflection."];

/// Longest method path counted by name.
const LONGEST: usize = 96;

/// Times every call of the service it wraps.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimedLayer;

impl<S> tower::Layer<S> for TimedLayer {
    type Service = Timed<S>;

    fn layer(&self, inner: S) -> Timed<S> {
        Timed { inner }
    }
}

/// A service whose calls are timed.
#[derive(Debug, Clone)]
pub struct Timed<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Timed<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            metrics::histogram!("trama_call_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            answered
        })
    }
}

/// The method as labelled: its path when it is one of the node's, else
/// `other`.
fn method_label(path: &str) -> String {
    if path.len() <= LONGEST && KNOWN.iter().any(|k| path.starts_with(k)) {
        path.to_string()
    } else {
        "other".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::method_label;

    #[test]
    fn only_the_nodes_own_methods_are_labelled_by_name() {
        assert_eq!(
            method_label("/trama.v1.Federation/GetRecord"),
            "/trama.v1.Federation/GetRecord"
        );
        assert_eq!(method_label("/evil.Service/Anything"), "other");
        let long = format!("/trama.v1.{}", "x".repeat(200));
        assert_eq!(method_label(&long), "other");
    }
}
