//! The state one gateway shares with all its connection tasks. A leaf: the
//! modules that serve frames and pushes build on it.

use std::sync::Arc;
use std::time::Duration;

use tidings_registry::Registry;
use tidings_rpc::{LogicApi, SyncApi};

use crate::drain::DrainState;
use crate::limits::UserLimits;
use crate::presence_watch::PresenceWatch;
use crate::room_registrations::RoomRegistrations;
use crate::send_batcher::SendBatcher;
use crate::{Authenticator, GatewayConfig, Hub};

/// What a gateway talks to.
#[derive(Clone)]
pub struct GatewayBackends {
    pub logic: LogicApi,
    pub sync: SyncApi,
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
    /// Sends on their way to logic, in batches.
    pub(crate) sends: SendBatcher,
    /// Serving or draining, and how many connections are open.
    pub(crate) drain: DrainState,
    /// Per-user rate buckets and the connection cap.
    pub(crate) limits: Arc<UserLimits>,
    /// Which connections here watch whose presence.
    pub(crate) presence: PresenceWatch,
    /// Users newly watched, for the presence task to send their state.
    pub(crate) presence_asks: tokio::sync::mpsc::Sender<Vec<String>>,
}

impl Gateway {
    /// Starts the send batcher: must be called inside a tokio runtime.
    pub fn new(config: GatewayConfig, backends: GatewayBackends, advertised: String) -> Arc<Self> {
        let sends = SendBatcher::new(
            backends.logic.clone(),
            config.send_lanes,
            config.max_send_batch,
        );
        let limits = Arc::new(UserLimits::new(&config.limits));
        tokio::spawn(forget_idle_buckets(Arc::downgrade(&limits)));
        let (presence_asks, asks) = tokio::sync::mpsc::channel(crate::presence::ASK_QUEUE);
        let gateway = Arc::new(Gateway {
            limits,
            sends,
            config,
            backends,
            hub: Arc::new(Hub::new()),
            advertised,
            rooms: RoomRegistrations::default(),
            drain: DrainState::default(),
            presence: PresenceWatch::default(),
            presence_asks,
        });
        tokio::spawn(crate::presence::run(Arc::downgrade(&gateway), asks));
        gateway
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn registry_ttl(&self) -> Duration {
        Duration::from_secs(self.config.registry_ttl_secs)
    }
}

/// Every minute, drops the per-user buckets of users idle long enough for
/// theirs to be full again; ends with the gateway.
async fn forget_idle_buckets(limits: std::sync::Weak<UserLimits>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.tick().await;
    loop {
        every.tick().await;
        match limits.upgrade() {
            Some(limits) => limits.forget_idle(),
            None => return,
        }
    }
}
