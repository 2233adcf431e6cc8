//! Serving helpers shared by every binary: gRPC with health and reflection on
//! a bound listener, requiring the service credential (the token, a client
//! certificate, or both), and lazily connected clients that carry it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tidings_telemetry::{
    GrpcTelemetryLayer, RequireServiceTokenLayer, ServiceDialer, ServiceToken, TracedChannel,
};
use tidings_tls::TlsListener;
use tidings_tls::rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

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
/// carry `service_token` (`grpc.service_token`) when there is one. With
/// `tls` (`grpc.tls`) the port speaks only TLS, and under mTLS a caller
/// without a good certificate is refused in the handshake, before any call
/// (health included: probes then check over TLS, see `tidings health`).
/// Must be called inside a tokio runtime.
pub fn grpc<S: GrpcService>(
    listener: TcpListener,
    service: S,
    service_token: Option<ServiceToken>,
    tls: Option<Arc<ServerConfig>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<impl Future<Output = Result<(), tonic::transport::Error>>> {
    // TLS handshakes run in tasks of their own from now on; a certificate
    // renewed on disk is served to the next handshakes.
    let incoming = match tls {
        Some(config) => Incoming::Tls(TlsListener::new(listener, config)?),
        None => Incoming::Plain(listener),
    };
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
        let router = Server::builder()
            // A span per call continuing the caller's trace; per-RPC metrics.
            .layer(GrpcTelemetryLayer)
            // Inside telemetry, so refused calls are counted and traced;
            // before every handler (health excepted). Without a token the
            // client certificate checked in the handshake is the credential
            // (`ServiceSecurity` allows no other case).
            .layer(tower::util::option_layer(
                service_token.map(RequireServiceTokenLayer::new),
            ))
            .add_service(health)
            .add_service(reflection)
            .add_service(service);
        let stop = wait_for(shutdown);
        match incoming {
            Incoming::Plain(listener) => {
                // Small request/response frames: Nagle's algorithm would
                // hold them for a delayed ACK (about 40 ms) on every call.
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                router.serve_with_incoming_shutdown(incoming, stop).await
            }
            // The TLS listener sets TCP_NODELAY itself.
            Incoming::Tls(listener) => {
                router
                    .serve_with_incoming_shutdown(listener.incoming(), stop)
                    .await
            }
        }
    })
}

/// What a gRPC port accepts: plain HTTP/2 or TLS.
enum Incoming {
    Plain(TcpListener),
    Tls(TlsListener),
}

/// A channel that connects on first use, reconnects after failures, passes
/// on the caller's trace context, and fails a call unanswered within
/// `call_timeout` (`grpc.call_timeout_ms`). It goes the way `dialer` says:
/// TLS or not, with the service token when there is one.
pub fn lazy_channel(
    addr: &str,
    call_timeout: Duration,
    dialer: &ServiceDialer,
) -> anyhow::Result<TracedChannel> {
    let connect_timeout = Duration::from_secs(3).min(call_timeout);
    Ok(dialer.channel(addr, connect_timeout, call_timeout)?)
}
