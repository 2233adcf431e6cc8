//! A tower layer for gRPC servers: one span per call, continuing the
//! caller's trace, and per-RPC count and latency metrics.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::names;
use crate::propagation::HeaderExtractor;

/// Adds [`GrpcTelemetry`] to every service of a tonic server.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTelemetryLayer;

impl<S> tower::Layer<S> for GrpcTelemetryLayer {
    type Service = GrpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTelemetry { inner }
    }
}

/// See [`GrpcTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTelemetry<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcTelemetry<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(request.uri().path());
        // Health probes arrive every few seconds from every kubelet: count
        // them, but keep them out of traces.
        let span = if service.starts_with("grpc.") {
            tracing::Span::none()
        } else {
            let span = tracing::info_span!(
                "grpc",
                otel.name = %format_args!("{service}/{method}"),
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.service = %service,
                rpc.method = %method,
                rpc.grpc.status_code = tracing::field::Empty,
                trace_id = tracing::field::Empty,
            );
            let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(request.headers()))
            });
            // Fails only when spans are not exported; nothing to continue then.
            let _ = span.set_parent(parent);
            crate::record_trace_id(&span);
            span
        };
        let started = Instant::now();
        let call = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let recorded = span.clone();
        Box::pin(
            async move {
                let result = call.await;
                // Errors of unary calls come back as trailers-only responses,
                // with the status in the headers; no status there means OK.
                let code = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .unwrap_or(0),
                    Err(_) => 2,
                };
                recorded.record("rpc.grpc.status_code", code);
                let code = tonic::Code::from_i32(code);
                let labels = [
                    ("grpc_service", service),
                    ("grpc_method", method),
                    ("grpc_code", format!("{code:?}")),
                ];
                metrics::counter!(names::GRPC_REQUESTS, &labels).increment(1);
                metrics::histogram!(names::GRPC_DURATION, &labels[..2])
                    .record(started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}

/// `/pkg.Service/Method` into (`pkg.Service`, `Method`).
fn split_path(path: &str) -> (String, String) {
    let path = path.trim_start_matches('/');
    match path.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (path.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            split_path("/tidings.logic.v1.LogicService/Send"),
            ("tidings.logic.v1.LogicService".into(), "Send".into())
        );
        assert_eq!(split_path("/odd"), ("odd".into(), String::new()));
    }
}
