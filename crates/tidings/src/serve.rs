//! Serving helpers shared by every binary: gRPC with health and reflection on
//! a bound listener, requiring the service credential, and lazily connected
//! clients that carry it.

use std::future::Future;
use std::time::Duration;

use tidings_telemetry::{
    GrpcTelemetryLayer, RequireServiceTokenLayer, ServiceToken, TracedChannel,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};

/// A generated tonic service that can be served.
pub trait GrpcService:
    tonic::server::NamedService
    + tower::Service<
        http::Request<tonic::body::Body>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: tonic::server::NamedService
        + tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Resolves when `shutdown` turns true.
pub async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Serves one gRPC service, plus gRPC health and reflection for it, on
/// `listener` until `shutdown` turns true. Every call but health checks must
/// carry `service_token` (`grpc.service_token`).
pub fn grpc<S: GrpcService>(
    listener: TcpListener,
    service: S,
    service_token: ServiceToken,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<impl Future<Output = Result<(), tonic::transport::Error>>> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let name = S::NAME;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tidings_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    Ok(async move {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        Server::builder()
            // A span per call continuing the caller's trace; per-RPC metrics.
            .layer(GrpcTelemetryLayer)
            // Inside telemetry, so refused calls are counted and traced;
            // before every handler (health excepted). mTLS between services
            // would replace this layer.
            .layer(RequireServiceTokenLayer::new(service_token))
            .add_service(health)
            .add_service(reflection)
            .add_service(service)
            .serve_with_incoming_shutdown(
                // Small request/response frames: Nagle's algorithm would hold
                // them for a delayed ACK (about 40 ms) on every call.
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                wait_for(shutdown),
            )
            .await
    })
}

/// A channel that connects on first use, reconnects after failures, passes
/// on the caller's trace context, and fails a call unanswered within
/// `call_timeout` (`grpc.call_timeout_ms`). Every call carries the service
/// credential `service_token`.
pub fn lazy_channel(
    addr: &str,
    call_timeout: Duration,
    service_token: &ServiceToken,
) -> anyhow::Result<TracedChannel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(3).min(call_timeout))
        .tcp_nodelay(true);
    Ok(tidings_telemetry::traced(
        endpoint.connect_lazy(),
        call_timeout,
        service_token,
    ))
}
