//! W3C trace context over gRPC: callers put the current span's context into
//! the request metadata (`traceparent`, `tracestate`); servers read it back
//! (see `grpc.rs`) and continue the trace.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tower::ServiceExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Errors of a [`Transport`]: the socket's. A concrete type rather than a
/// boxed trait object, which keeps client futures `Send` for the compiler.
#[derive(Debug)]
pub struct TransportError(tonic::transport::Error);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// How a gRPC client reaches its server: a socket (a tonic [`Channel`]) or,
/// in the all-in-one process, the server's own service called in process
/// (see [`in_process`]). Clients are typed over this one transport, so the
/// code that calls a service is the same in both shapes.
pub type Transport = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// A client channel that passes on the caller's trace context.
pub type TracedChannel = InterceptedService<Transport, TraceContextInterceptor>;

/// Wraps `channel` so every call carries the current span's trace context.
pub fn traced(channel: Channel) -> TracedChannel {
    let transport = Transport::new(channel.map_err(TransportError));
    InterceptedService::new(transport, TraceContextInterceptor)
}

/// A channel to a gRPC service served by this process, called in process:
/// requests and answers are still encoded as on the wire and go through the
/// same server layer (a span and metrics per call), but no socket, HTTP/2
/// framing or extra task is involved.
pub fn in_process<S>(service: S) -> TracedChannel
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let served = tower::Layer::layer(&crate::GrpcTelemetryLayer, service);
    let transport = Transport::new(served.map_err(|never| match never {}));
    InterceptedService::new(transport, TraceContextInterceptor)
}

/// Adds the current span's W3C trace context to outgoing requests. The
/// interceptor runs in the caller's task, inside the caller's span.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let context = tracing::Span::current().context();
        if context.span().span_context().is_valid() {
            opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()))
            });
        }
        Ok(request)
    }
}

/// Records the span's trace id in its `trace_id` field (declared empty at
/// creation), so log lines inside the span name the trace they belong to.
/// Does nothing when spans are not exported.
pub fn record_trace_id(span: &tracing::Span) {
    let context = span.context();
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    if span_context.is_valid() {
        span.record("trace_id", tracing::field::display(span_context.trace_id()));
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Reads trace context from HTTP/2 request headers.
pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|key| key.as_str()).collect()
    }
}
