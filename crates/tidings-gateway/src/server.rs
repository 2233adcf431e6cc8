//! Wiring of one gateway: its WebSocket router, its push service and the
//! registry heartbeat.

use std::sync::Arc;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;

use crate::GatewayServer;
use crate::state::Gateway;

impl Gateway {
    /// The HTTP router serving the client protocol at `/ws`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/ws", get(upgrade))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(Arc::clone(self))
    }

    /// The gRPC service logic pushes to.
    pub fn push_service(
        self: &Arc<Self>,
    ) -> tidings_proto::gateway::v1::gateway_service_server::GatewayServiceServer<GatewayServer>
    {
        GatewayServer::new(Arc::clone(&self.hub)).into_service()
    }

    /// Refreshes this gateway's registry entries (devices and rooms) every
    /// third of their ttl, until the task is dropped.
    pub fn spawn_heartbeat(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.registry_ttl() / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                for (user, device) in this.hub.devices() {
                    if let Err(e) = this
                        .backends
                        .registry
                        .register(&user, &device, &this.advertised, this.registry_ttl())
                        .await
                    {
                        tracing::warn!(user_id = %user, device_id = %device, error = %e, "registry heartbeat failed");
                    }
                }
                this.refresh_room_registrations().await;
            }
        })
    }
}

async fn upgrade(State(gateway): State<Arc<Gateway>>, ws: WebSocketUpgrade) -> Response {
    // Let the WebSocket layer accept frames a good deal larger than our limit
    // so that an oversize frame gets a `frame_too_large` error frame and the
    // connection survives, instead of a protocol-level close.
    let transport_limit = (gateway.config.max_frame_bytes * 4).max(1 << 20);
    // Buffers sized for chat frames, not bulk transfer: an idle connection
    // then costs a few KiB instead of tungstenite's 128 KiB read buffer.
    // Larger frames still arrive whole; the buffers grow while they do.
    let config = &gateway.config;
    ws.max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .read_buffer_size(config.ws_read_buffer_bytes)
        .write_buffer_size(config.ws_write_buffer_bytes)
        .on_upgrade(move |socket| crate::connection::run(gateway, socket))
}
