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
//! Either can be wrapped by [`instrumented()`] to record metrics of every call.
//!
//! The registry never decides who may receive what; it only says where a
//! device is.

pub mod conformance;
mod in_process;
pub mod instrumented;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::redis::{RedisRegistry, RedisRegistryOptions};
pub use in_process::InProcessRegistry;
pub use instrumented::instrumented;

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
}
