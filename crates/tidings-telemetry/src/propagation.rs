//! W3C trace context over gRPC: callers put the current span's context into
//! the request metadata (`traceparent`, `tracestate`); servers read it back
//! (see `grpc.rs`) and continue the trace. Every call also has a deadline.

use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tower::ServiceExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::ServiceToken;

/// Errors of a [`Transport`]: the socket's, or a missed deadline. A concrete
/// type rather than a boxed trait object, which keeps client futures `Send`
/// for the compiler.
#[derive(Debug)]
pub struct TransportError(TransportFailure);

#[derive(Debug)]
enum TransportFailure {
    Socket(tonic::transport::Error),
    /// The call's deadline passed. Carried as a `DEADLINE_EXCEEDED` status,
    /// which tonic finds in the source chain and hands to the caller as is.
    Deadline(tonic::Status),
}

impl TransportError {
    fn deadline(deadline: Duration) -> Self {
        TransportError(TransportFailure::Deadline(
            tonic::Status::deadline_exceeded(format!(
                "no answer within the {} ms call deadline",
                deadline.as_millis()
            )),
        ))
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            TransportFailure::Socket(e) => e.fmt(f),
            TransportFailure::Deadline(status) => f.write_str(status.message()),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            TransportFailure::Socket(e) => Some(e),
            TransportFailure::Deadline(status) => Some(status),
        }
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

/// A client channel that passes on the caller's trace context (and, over a
/// socket, the service credential).
pub type TracedChannel = InterceptedService<Transport, TraceContextInterceptor>;

/// Wraps `channel` so every call carries the current span's trace context
/// and the service credential `token` (`authorization: Bearer ...`), and
/// fails with `DEADLINE_EXCEEDED` when no answer came within `deadline`.
pub fn traced(channel: Channel, deadline: Duration, token: &ServiceToken) -> TracedChannel {
    traced_with(channel, deadline, Some(token.clone()))
}

/// [`traced`] with the service token optional: under mutual TLS
/// (`grpc.tls.client_auth = "required"`) the client certificate may be the
/// only credential.
pub(crate) fn traced_with(
    channel: Channel,
    deadline: Duration,
    credential: Option<ServiceToken>,
) -> TracedChannel {
    let socket = channel.map_err(|e| TransportError(TransportFailure::Socket(e)));
    InterceptedService::new(
        with_deadline(socket, deadline),
        TraceContextInterceptor { credential },
    )
}

/// A channel to a gRPC service served by this process, called in process:
/// requests and answers are still encoded as on the wire and go through the
/// same server layer (a span and metrics per call), but no socket, HTTP/2
/// framing or extra task is involved. Calls have the same `deadline` as over
/// a socket, so a stuck handler fails its caller in either shape. No service
/// credential is sent: the server layer it goes through has no check, and
/// nothing outside the process can reach this transport.
pub fn in_process<S>(service: S, deadline: Duration) -> TracedChannel
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
    let served = served.map_err(|never| match never {});
    InterceptedService::new(
        with_deadline(served, deadline),
        TraceContextInterceptor::default(),
    )
}

/// `service` as a [`Transport`] whose calls fail after `deadline`. It bounds
/// the wait for the answer's head, which a unary handler sends only once it
/// has finished; dropping the call on expiry resets the stream, and the
/// server drops the handler. No `grpc-timeout` header is sent: the deadline
/// is the caller's, and this keeps in-process and socket calls alike.
fn with_deadline<S>(service: S, deadline: Duration) -> Transport
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = TransportError,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    Transport::new(service.map_future(move |call| async move {
        tokio::time::timeout(deadline, call)
            .await
            .unwrap_or_else(|_| Err(TransportError::deadline(deadline)))
    }))
}

/// Adds the current span's W3C trace context to outgoing requests, and the
/// service credential to those that leave the process. The interceptor runs
/// in the caller's task, inside the caller's span.
#[derive(Debug, Clone, Default)]
pub struct TraceContextInterceptor {
    credential: Option<ServiceToken>,
}

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
        if let Some(token) = &self.credential {
            token.insert_into(request.metadata_mut());
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::Service as _;

    use super::*;

    type Answer = Result<http::Response<tonic::body::Body>, Infallible>;

    /// Calls `channel` once, as a generated client would, and returns the
    /// status its caller sees.
    async fn call(mut channel: TracedChannel) -> Result<(), tonic::Status> {
        let request = http::Request::builder()
            .uri("/tidings.test.v1.Test/Call")
            .body(tonic::body::Body::empty())
            .unwrap();
        let ready = channel
            .ready()
            .await
            .map_err(|e| tonic::Status::from_error(e.into()))?;
        ready
            .call(request)
            .await
            .map(drop)
            .map_err(|e| tonic::Status::from_error(e.into()))
    }

    #[tokio::test]
    async fn a_call_without_an_answer_fails_at_its_deadline() {
        let stuck = tower::service_fn(|_: http::Request<tonic::body::Body>| {
            std::future::pending::<Answer>()
        });
        let started = std::time::Instant::now();
        let status = call(in_process(stuck, Duration::from_millis(50)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(status.message().contains("50 ms"), "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_prompt_answer_is_untouched_by_the_deadline() {
        let prompt = tower::service_fn(|_: http::Request<tonic::body::Body>| async {
            Answer::Ok(http::Response::new(tonic::body::Body::empty()))
        });
        call(in_process(prompt, Duration::from_secs(5)))
            .await
            .expect("answered before the deadline");
    }
}
