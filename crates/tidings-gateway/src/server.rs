//! Wiring of one gateway: its WebSocket router, its push service and the
//! registry upkeep (heartbeat and loss detection).

use std::sync::Arc;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;

use crate::GatewayServer;
use crate::state::Gateway;

/// Largest client frame the WebSocket layer reads: the largest
/// `gateway.max_frame_bytes` (16 MiB) plus room for a frame's envelope.
/// Frames up to it are read whole and, over `max_frame_bytes`, answered
/// `frame_too_large` on a connection that stays open. A larger one cannot
/// be skipped without reading it, so it is answered `frame_too_large` with
/// `connection_kept` false and the connection closes (1009).
pub(crate) const FRAME_HARD_LIMIT: usize = (16 << 20) + (64 << 10);

/// How soon a failed mark is tried again.
const RETRY_AFTER_FAILED_MARK: std::time::Duration = std::time::Duration::from_millis(100);

/// Registry writes in flight at once when the gateway registers all its
/// connections (heartbeat, or after the registry lost them).
const REGISTRATIONS_AT_ONCE: usize = 64;

impl Gateway {
    /// The HTTP router serving the client protocol at `/ws`, and the web
    /// page's files at `/` when `gateway.web_dir` is set.
    pub fn router(self: &Arc<Self>) -> Router {
        let routes = Router::new()
            .route("/ws", get(upgrade))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(Arc::clone(self));
        crate::web::mount(routes, &self.config.web_dir)
    }

    /// The gRPC service logic pushes to.
    pub fn push_service(
        self: &Arc<Self>,
    ) -> tidings_proto::gateway::v1::gateway_service_server::GatewayServiceServer<GatewayServer>
    {
        self.push_handler().service()
    }

    /// The handler of the push service, for callers in this process.
    pub fn push_handler(self: &Arc<Self>) -> Arc<GatewayServer> {
        Arc::new(GatewayServer::new(
            Arc::clone(&self.hub),
            self.config.max_frame_bytes,
        ))
    }

    /// Keeps this gateway's registry entries (devices and rooms) alive until
    /// the task is dropped: refreshes them every third of their ttl, and
    /// marks the gateway every `gateway.registry_check_ms`; a mark that was
    /// gone means the registry lost the entries (Redis restarted empty), so
    /// they are written again at once. Abort it before [`Gateway::drain`].
    pub fn spawn_heartbeat(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut heartbeat = tokio::time::interval(this.registry_ttl() / 3);
            heartbeat.tick().await;
            let mut check = tokio::time::interval(this.config.registry_check());
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Whether a mark of this gateway was seen in the registry, so
            // that a missing one later means a loss, not a first start.
            let mut marked = false;
            loop {
                tokio::select! {
                    _ = heartbeat.tick() => this.register_everything().await,
                    _ = check.tick() => {
                        let ttl = this.registry_ttl();
                        match this.backends.registry.mark_gateway(&this.advertised, ttl).await {
                            Ok(true) => marked = true,
                            Ok(false) => {
                                if marked {
                                    let devices = this.hub.devices().len();
                                    tracing::warn!(devices, "the registry lost this gateway's entries; registering them again");
                                }
                                this.register_everything().await;
                                marked = true;
                            }
                            Err(e) => {
                                // Likely Redis restarting: look again soon
                                // rather than a whole interval after it is
                                // back (the client reconnects meanwhile).
                                tracing::debug!(error = %e, "registry mark failed");
                                check.reset_after(RETRY_AFTER_FAILED_MARK);
                            }
                        }
                    }
                }
            }
        })
    }

    /// Registers every device connected here and refreshes every room.
    async fn register_everything(&self) {
        let ttl = self.registry_ttl();
        let registry = &self.backends.registry;
        futures_util::stream::iter(self.hub.devices())
            .for_each_concurrent(REGISTRATIONS_AT_ONCE, |(user, device)| async move {
                if let Err(e) = registry
                    .register(&user, &device, &self.advertised, ttl)
                    .await
                {
                    tracing::warn!(user_id = %user, device_id = %device, error = %e, "registry heartbeat failed");
                }
            })
            .await;
        self.refresh_room_registrations().await;
    }
}

async fn upgrade(State(gateway): State<Arc<Gateway>>, ws: WebSocketUpgrade) -> Response {
    // The WebSocket layer reads frames well past our limit, so that an
    // oversize frame gets a `frame_too_large` error frame and the connection
    // survives, instead of a protocol-level close; the hard limit still
    // bounds what one connection can make us buffer.
    // Buffers sized for chat frames, not bulk transfer: an idle connection
    // then costs a few KiB instead of tungstenite's 128 KiB read buffer.
    // Larger frames still arrive whole; the buffers grow while they do.
    let config = &gateway.config;
    ws.max_message_size(FRAME_HARD_LIMIT)
        .max_frame_size(FRAME_HARD_LIMIT)
        .read_buffer_size(config.ws_read_buffer_bytes)
        .write_buffer_size(config.ws_write_buffer_bytes)
        .on_upgrade(move |socket| crate::connection::run(gateway, socket))
}
