//! The registry maps `user/device` to the address of the gateway holding the
//! device's connection. Gateways write it (register on hello, refresh by
//! heartbeat, remove on disconnect only if the entry still names them); logic
//! reads it, batched, to route pushes.
//!
//! It also maps each live room to the gateways holding connections in it: a
//! gateway joins a room when its first connection enters it, refreshes the
//! entry by heartbeat and leaves when its last connection goes; logic reads
//! the room's gateways to send a room message once per gateway.
//!
//! Implementations, both passing the same [`conformance`] suite:
//! - [`InProcessRegistry`]: in memory, for the all-in-one shape where every
//!   gateway shares the process with logic;
//! - [`RedisRegistry`]: in Redis (single server or Redis Cluster), for the
//!   distributed shape; one hash per user, atomic Lua scripts for register and
//!   compare-and-delete, one pipeline per batched look-up (key layout in the
//!   [`redis` module](crate::redis)).
//!
//! And it carries presence, ephemeral like everything here: whether a user
//! is online is whether it has a live device entry; when it was last seen is
//! a value with a ttl written as its devices disconnect; and a presence feed
//! tells every gateway that some user's presence may have changed, so that
//! gateways holding watchers of that user read it again (in process: a
//! channel; in Redis: one pub/sub channel).
//!
//! Either can be wrapped by [`instrumented()`] to record metrics of every call.
//!
//! The registry never decides who may receive what; it only says where a
//! device is.

pub mod conformance;
mod in_process;
pub mod instrumented;
mod presence;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::redis::{RedisRegistry, RedisRegistryOptions};
pub use in_process::InProcessRegistry;
pub use instrumented::instrumented;
pub use presence::{Presence, PresenceFeed, PresenceNotice};

/// Errors of a registry backend.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry backend: {0}")]
    Backend(String),
    /// A setting is invalid; the message names it.
    #[error("invalid registry config: {0}")]
    Config(String),
}

/// Where one device of a user is connected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceRoute {
    pub device_id: String,
    /// gRPC address of the gateway holding the connection.
    pub gateway: String,
}

/// User/device to gateway address, and room to gateways, with expiry.
#[async_trait]
pub trait Registry: Send + Sync {
    /// Records (or refreshes) that `user/device` is connected to `gateway`,
    /// for `ttl` unless refreshed again. A newer registration replaces an older
    /// one for the same device, whichever gateway wrote it.
    async fn register(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError>;

    /// Removes `user/device` only if it still names `gateway` (compare and
    /// delete), so a gateway cleaning up after a device that already reconnected
    /// elsewhere does not erase the new entry. Returns whether it removed one.
    async fn unregister(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
    ) -> Result<bool, RegistryError>;

    /// The live devices of each user, in the order of `users`: one batched
    /// look-up for a whole fan-out. Expired entries are never returned.
    async fn lookup(&self, users: &[String]) -> Result<Vec<Vec<DeviceRoute>>, RegistryError>;

    /// Records (or refreshes) that `gateway` holds connections in `room`, for
    /// `ttl` unless refreshed again. Other gateways of the room are untouched.
    async fn join_room(
        &self,
        room: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError>;

    /// Removes `gateway` from `room` (its last connection there left).
    /// Returns whether it removed an entry.
    async fn leave_room(&self, room: &str, gateway: &str) -> Result<bool, RegistryError>;

    /// The gateways holding connections in `room`, sorted. Expired entries
    /// are never returned; an unknown room has none.
    async fn room_gateways(&self, room: &str) -> Result<Vec<String>, RegistryError>;

    /// Marks `gateway` as holding entries here, for `ttl` unless marked
    /// again, and returns whether its previous mark was still there.
    ///
    /// A gateway marks itself every few seconds, far more often than it
    /// refreshes its entries. `false` after an earlier mark means the
    /// registry lost what the gateway wrote (Redis restarted empty or was
    /// flushed, or the mark expired while the gateway could not reach it),
    /// so the gateway registers its connections again at once instead of at
    /// its next heartbeat.
    async fn mark_gateway(&self, gateway: &str, ttl: Duration) -> Result<bool, RegistryError>;

    /// The presence of each user, in the order of `users`: online while it
    /// has a live device entry, and the last-seen moment recorded for it
    /// (0 when none is, or it expired). One batched read.
    async fn presence(&self, users: &[String]) -> Result<Vec<Presence>, RegistryError>;

    /// Records that a device of `user` disconnected at `at_ms` (unix ms),
    /// kept for `ttl`: the user's last-seen moment once it is offline.
    /// An earlier moment never replaces a later one.
    async fn record_last_seen(
        &self,
        user: &str,
        at_ms: u64,
        ttl: Duration,
    ) -> Result<(), RegistryError>;

    /// Tells every presence feed that `user`'s presence may have changed.
    /// Call it after the registry write that changed it, so a feed reader
    /// that reads [`presence`](Self::presence) on the notice sees the write.
    async fn publish_presence(&self, user: &str) -> Result<(), RegistryError>;

    /// A feed of the notices of [`publish_presence`](Self::publish_presence)
    /// from every gateway, from now on. Best effort: when notices may have
    /// been lost (a slow reader, a broken connection), the feed says so with
    /// [`PresenceNotice::Missed`].
    async fn presence_feed(&self) -> Result<PresenceFeed, RegistryError>;
}
