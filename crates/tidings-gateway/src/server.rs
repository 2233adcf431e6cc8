//! Wiring of one gateway: its WebSocket router, its push service and the
//! registry heartbeat.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_registry::Registry;
use tidings_telemetry::TracedChannel;

use crate::rooms::RoomRegistrations;
use crate::{Authenticator, GatewayConfig, GatewayServer, Hub};

/// What a gateway talks to.
#[derive(Clone)]
pub struct GatewayBackends {
    pub logic: LogicServiceClient<TracedChannel>,
    pub sync: SyncServiceClient<TracedChannel>,
    pub registry: Arc<dyn Registry>,
    pub auth: Arc<dyn Authenticator>,
}

/// One gateway: shared by all its connection tasks.
pub struct Gateway {
    pub(crate) config: GatewayConfig,
    pub(crate) backends: GatewayBackends,
    pub(crate) hub: Arc<Hub>,
    /// The gRPC address logic uses to reach this gateway, as written in the
    /// registry.
    pub(crate) advertised: String,
    /// The rooms this gateway is registered in.
    pub(crate) rooms: RoomRegistrations,
}

impl Gateway {
    pub fn new(config: GatewayConfig, backends: GatewayBackends, advertised: String) -> Arc<Self> {
        Arc::new(Gateway {
            config,
            backends,
            hub: Arc::new(Hub::new()),
            advertised,
            rooms: RoomRegistrations::default(),
        })
    }

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

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn registry_ttl(&self) -> Duration {
        Duration::from_secs(self.config.registry_ttl_secs)
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
    ws.max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .on_upgrade(move |socket| crate::connection::run(gateway, socket))
}
