//! Telemetry shared by every Tidings service:
//!
//! - logs through `tracing` (text or JSON on stderr);
//! - traces: every gRPC call is a span, its W3C trace context (`traceparent`)
//!   travels in the call's metadata, and spans go to an OpenTelemetry
//!   collector over OTLP/gRPC when an endpoint is configured;
//! - the transport every service calls another through, in process or over
//!   a socket, which carries that context and gives each call a deadline;
//! - the service credential (`grpc.service_token`) those calls carry over a
//!   socket, and the server layer that refuses calls without it;
//! - the dialer every client channel over a socket is built with: plain or
//!   TLS (`grpc.tls`), with the token when there is one;
//! - metrics through the `metrics` facade, rendered for Prometheus at
//!   `/metrics` on the process's metrics listener.
//!
//! Crates record metrics with the `metrics` macros directly; this crate owns
//! the recorder, the span/propagation plumbing and the HTTP endpoint.

mod config;
mod credential;
mod dialer;
mod grpc;
mod init;
pub mod metrics;
mod propagation;

pub use config::{LogConfig, TelemetryConfig};
pub use credential::{MIN_TOKEN_LEN, RequireServiceToken, RequireServiceTokenLayer, ServiceToken};
pub use dialer::ServiceDialer;
pub use grpc::{GrpcTelemetry, GrpcTelemetryLayer};
pub use init::Telemetry;
pub use propagation::{
    TraceContextInterceptor, TracedChannel, Transport, TransportError, in_process, record_trace_id,
    traced,
};
