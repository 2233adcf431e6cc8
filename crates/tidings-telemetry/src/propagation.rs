//! W3C trace context over gRPC: callers put the current span's context into
//! the request metadata (`traceparent`, `tracestate`); servers read it back
//! (see `grpc.rs`) and continue the trace.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A client channel that passes on the caller's trace context.
pub type TracedChannel = InterceptedService<Channel, TraceContextInterceptor>;

/// Wraps `channel` so every call carries the current span's trace context.
pub fn traced(channel: Channel) -> TracedChannel {
    InterceptedService::new(channel, TraceContextInterceptor)
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
