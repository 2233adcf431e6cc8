//! A registry in Redis, shared by every gateway and logic instance of the
//! distributed shape. Works on a single server and on a Redis Cluster.
//!
//! # Key layout
//!
//! One hash per user, `<key_prefix>{u:<user>}:devices` (default prefix
//! `tidings:`), whose fields are device ids and whose values are
//! `<gateway>|<expires_at_ms>`:
//!
//! ```text
//! tidings:{u:alice}:devices
//!     phone  -> "10.0.3.17:7401|1764059123456"
//!     laptop -> "10.0.5.2:7401|1764059131000"
//! ```
//!
//! - The `{u:<user>}` hash tag puts all of a user's data in one cluster slot,
//!   so every command touches one slot and a user's devices are read with one
//!   `HGETALL`. The prefix may not contain `{` or `}`, or it would become the
//!   hash tag and put every user in one slot.
//! - Each device expires on its own: hash fields only gained their own ttl in
//!   Redis 7.4 (Debian 12 ships 7.0), so the expiry is kept in the value and
//!   expired entries are filtered out on read and pruned on every register.
//! - The key itself carries a `PEXPIRE` of at least the longest live entry's
//!   remaining time, so a user whose devices all went away without
//!   unregistering vanishes from Redis by itself.
//!
//! One hash per live room, `<key_prefix>{r:<room>}:gateways`, whose fields are
//! the addresses of the gateways holding connections in the room and whose
//! values are `<expires_at_ms>`:
//!
//! ```text
//! tidings:{r:lobby}:gateways
//!     10.0.3.17:7401 -> "1764059123456"
//!     10.0.5.2:7401  -> "1764059131000"
//! ```
//!
//! - The `{r:<room>}` hash tag keeps a room in one slot (and apart from any
//!   user with the same id); a room's gateways are read with one `HGETALL`.
//! - Expiry works as for devices: per entry in the value, pruned on every
//!   join, filtered on read, and a key-level `PEXPIRE` so a room whose
//!   gateways all vanished without leaving disappears by itself.
//!
//! One string per gateway, `<key_prefix>{g:<gateway>}:mark`, whose only
//! content is its `PEXPIRE`: the gateway's mark. It lives as long as the
//! gateway keeps marking itself, and vanishes with everything else when
//! Redis restarts empty or is flushed, which is how a gateway learns that
//! its entries are gone. (On a cluster it lives on one node; a node that
//! alone lost its data is only noticed at the gateway's next heartbeat.)
//!
//! # Clock
//!
//! All expiry times are on the **Redis server's clock**: the register script
//! reads `TIME`, and each look-up pipeline starts with `TIME`, which runs on the
//! same server as the hashes it reads. Gateway and logic clocks never matter;
//! on a cluster, only the skew between a primary and the replica that takes
//! over from it does, and only around a fail-over.
//!
//! # Operations
//!
//! - `register`: one Lua script (atomic): prune the user's expired entries,
//!   `HSET` this one, extend the key's `PEXPIRE` to at least the ttl. The ttl
//!   is rounded up to whole milliseconds, at least 1 ms and at most a year.
//! - `unregister`: one Lua script: delete the entry only if its gateway part
//!   equals the caller's (compare and delete). Like the in-process registry,
//!   it reports `true` for a matching entry even if that had just expired.
//! - `lookup`: one pipeline, one round trip, `TIME` then an `HGETALL` per user.
//!   On a cluster a pipeline may not cross slots, so the batch is split into
//!   one pipeline per hash slot, all sent at once.
//! - `join_room`: one Lua script, like `register`: prune the room's expired
//!   gateways, `HSET` this one, extend the key's `PEXPIRE`.
//! - `leave_room`: `HDEL` of the gateway's field (Redis drops the key with its
//!   last field).
//! - `room_gateways`: one pipeline, `TIME` then `HGETALL` of the room's hash
//!   (one slot, so one round trip on a cluster too).
//! - `mark_gateway`: one `SET ... PX <ttl> GET` of the gateway's mark; the
//!   old value says whether the previous mark was still there.
//! - `presence`: one pipeline per slot group like `lookup`, `TIME` then an
//!   `HGETALL` of the devices and a `GET` of the last-seen string per user.
//! - `record_last_seen`, `publish_presence`, `presence_feed`: see the
//!   [`presence`] module (a last-seen string per user, one pub/sub channel).

mod connection;
mod entry;
mod presence;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::try_join_all;
use redis::{RedisError, Value};

use self::connection::Connection;
use self::entry::Scripts;
use crate::{DeviceRoute, Presence, PresenceFeed, PresenceNotice, Registry, RegistryError};

/// The listener behind every presence feed of one registry, started by the
/// first feed.
type FeedSender = Arc<tokio::sync::broadcast::Sender<PresenceNotice>>;

/// Settings of a [`RedisRegistry`].
#[derive(Debug, Clone)]
pub struct RedisRegistryOptions {
    /// Prepended to every key, so several deployments (or test runs) can
    /// share one Redis. Must not contain `{` or `}`. Default `tidings:`.
    pub key_prefix: String,
    /// How long one connection attempt may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one command or pipeline may wait for its reply. Default 5 s.
    pub response_timeout: Duration,
}

impl Default for RedisRegistryOptions {
    fn default() -> Self {
        Self {
            key_prefix: "tidings:".to_string(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
        }
    }
}

impl RedisRegistryOptions {
    fn validate(&self) -> Result<(), RegistryError> {
        if self.key_prefix.contains(['{', '}']) {
            return Err(RegistryError::Config(format!(
                "key_prefix {:?} must not contain '{{' or '}}' (they would become the cluster hash tag)",
                self.key_prefix
            )));
        }
        Ok(())
    }
}

/// [`Registry`] on Redis (single server or cluster); see the module doc for
/// the key layout. Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct RedisRegistry {
    connection: Connection,
    key_prefix: String,
    scripts: Arc<Scripts>,
    /// Where the presence listener subscribes (on a cluster, its first node).
    pubsub_url: String,
    feed: Arc<tokio::sync::OnceCell<FeedSender>>,
}

impl fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRegistry")
            .field("mode", &self.connection.mode())
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRegistry {
    /// Connects to one Redis server, e.g. `redis://127.0.0.1:6379` (also
    /// `rediss://`, `redis://user:pass@host/db`), with default options. The
    /// connection is re-established on its own after a failure.
    pub async fn connect(url: &str) -> Result<Self, RegistryError> {
        Self::connect_with(url, RedisRegistryOptions::default()).await
    }

    /// [`connect`](Self::connect) with explicit options.
    pub async fn connect_with(
        url: &str,
        options: RedisRegistryOptions,
    ) -> Result<Self, RegistryError> {
        options.validate()?;
        let connection = Connection::single(url, options.connect_timeout, options.response_timeout)
            .await
            .map_err(|e| connect_error(&redact(url), e))?;
        Ok(Self::new(connection, options, url))
    }

    /// Connects to a Redis Cluster through any of its nodes' URLs, with
    /// default options.
    pub async fn connect_cluster(urls: &[String]) -> Result<Self, RegistryError> {
        Self::connect_cluster_with(urls, RedisRegistryOptions::default()).await
    }

    /// [`connect_cluster`](Self::connect_cluster) with explicit options.
    pub async fn connect_cluster_with(
        urls: &[String],
        options: RedisRegistryOptions,
    ) -> Result<Self, RegistryError> {
        options.validate()?;
        if urls.is_empty() {
            return Err(RegistryError::Config(
                "cluster urls: at least one node url is needed".to_string(),
            ));
        }
        let connection =
            Connection::cluster(urls, options.connect_timeout, options.response_timeout)
                .await
                .map_err(|e| {
                    let targets: Vec<String> = urls.iter().map(|u| redact(u)).collect();
                    connect_error(&targets.join(","), e)
                })?;
        Ok(Self::new(connection, options, &urls[0]))
    }

    fn new(connection: Connection, options: RedisRegistryOptions, pubsub_url: &str) -> Self {
        Self {
            connection,
            key_prefix: options.key_prefix,
            scripts: Arc::new(Scripts::new()),
            pubsub_url: pubsub_url.to_string(),
            feed: Arc::default(),
        }
    }

    /// The prefix of every key this registry writes.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The hash holding `user`'s devices.
    fn devices_key(&self, user: &str) -> String {
        format!("{}{{u:{user}}}:devices", self.key_prefix)
    }

    /// The hash holding the gateways of `room`.
    fn room_key(&self, room: &str) -> String {
        format!("{}{{r:{room}}}:gateways", self.key_prefix)
    }

    /// The mark of `gateway` (see [`Registry::mark_gateway`]).
    fn mark_key(&self, gateway: &str) -> String {
        format!("{}{{g:{gateway}}}:mark", self.key_prefix)
    }

    /// The last-seen string of `user` (same slot as its devices).
    fn last_seen_key(&self, user: &str) -> String {
        format!("{}{{u:{user}}}:last_seen", self.key_prefix)
    }

    /// The pub/sub channel of presence notices.
    fn presence_channel(&self) -> String {
        format!("{}presence", self.key_prefix)
    }

    /// Reads the presence of the users whose device and last-seen keys are
    /// given, with one pipeline: `TIME`, then `HGETALL` and `GET` per user.
    async fn presence_group(
        mut connection: Connection,
        keys: Vec<(&str, &str)>,
    ) -> Result<Vec<Presence>, RegistryError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("TIME");
        for (devices, last_seen) in &keys {
            pipeline.cmd("HGETALL").arg(devices);
            pipeline.cmd("GET").arg(last_seen);
        }
        let replies: Vec<Value> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        if replies.len() != 2 * keys.len() + 1 {
            return Err(RegistryError::Backend(format!(
                "redis: {} replies to a pipeline of {} commands",
                replies.len(),
                2 * keys.len() + 1
            )));
        }
        let mut replies = replies.into_iter();
        let time: Vec<u64> = parse(replies.next(), "TIME")?;
        let now_ms = server_now_ms(&time)?;
        let mut found = Vec::with_capacity(keys.len());
        while let (Some(devices), Some(last_seen)) = (replies.next(), replies.next()) {
            let devices: HashMap<String, String> = parse(Some(devices), "HGETALL")?;
            let last_seen: Option<u64> = parse(Some(last_seen), "GET")?;
            found.push(Presence {
                online: devices
                    .values()
                    .any(|value| entry::live_gateway(value, now_ms).is_some()),
                last_seen_ms: last_seen.unwrap_or(0),
            });
        }
        Ok(found)
    }

    /// Reads the given keys with one pipeline: `TIME`, then `HGETALL` each.
    async fn lookup_group(
        mut connection: Connection,
        keys: Vec<&str>,
    ) -> Result<Vec<Vec<DeviceRoute>>, RegistryError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("TIME");
        for key in &keys {
            pipeline.cmd("HGETALL").arg(key);
        }
        let replies: Vec<Value> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        if replies.len() != keys.len() + 1 {
            return Err(RegistryError::Backend(format!(
                "redis: {} replies to a pipeline of {} commands",
                replies.len(),
                keys.len() + 1
            )));
        }
        let mut replies = replies.into_iter();
        let time: Vec<u64> = parse(replies.next(), "TIME")?;
        let now_ms = server_now_ms(&time)?;
        replies
            .map(|reply| {
                let devices: HashMap<String, String> = parse(Some(reply), "HGETALL")?;
                let mut routes: Vec<DeviceRoute> = devices
                    .iter()
                    .filter_map(|(device, value)| {
                        entry::live_gateway(value, now_ms).map(|gateway| DeviceRoute {
                            device_id: device.clone(),
                            gateway: gateway.to_string(),
                        })
                    })
                    .collect();
                routes.sort();
                Ok(routes)
            })
            .collect()
    }
}

#[async_trait]
impl Registry for RedisRegistry {
    async fn register(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut connection = self.connection.clone();
        self.scripts
            .register
            .key(self.devices_key(user))
            .arg(device)
            .arg(gateway)
            .arg(entry::ttl_millis(ttl))
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn unregister(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
    ) -> Result<bool, RegistryError> {
        let mut connection = self.connection.clone();
        let removed: i64 = self
            .scripts
            .unregister
            .key(self.devices_key(user))
            .arg(device)
            .arg(gateway)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(removed == 1)
    }

    async fn lookup(&self, users: &[String]) -> Result<Vec<Vec<DeviceRoute>>, RegistryError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = users.iter().map(|u| self.devices_key(u)).collect();
        let groups = self.connection.pipeline_groups(&keys);
        let replies = try_join_all(groups.iter().map(|indexes| {
            let group_keys = indexes.iter().map(|&i| keys[i].as_str()).collect();
            Self::lookup_group(self.connection.clone(), group_keys)
        }))
        .await?;
        let mut found = vec![Vec::new(); users.len()];
        for (indexes, routes) in groups.iter().zip(replies) {
            for (&index, user_routes) in indexes.iter().zip(routes) {
                found[index] = user_routes;
            }
        }
        Ok(found)
    }

    async fn join_room(
        &self,
        room: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut connection = self.connection.clone();
        self.scripts
            .join_room
            .key(self.room_key(room))
            .arg(gateway)
            .arg(entry::ttl_millis(ttl))
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn leave_room(&self, room: &str, gateway: &str) -> Result<bool, RegistryError> {
        let mut connection = self.connection.clone();
        let removed: i64 = redis::cmd("HDEL")
            .arg(self.room_key(room))
            .arg(gateway)
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(removed == 1)
    }

    async fn room_gateways(&self, room: &str) -> Result<Vec<String>, RegistryError> {
        let mut connection = self.connection.clone();
        let (time, entries): (Vec<u64>, HashMap<String, String>) = redis::pipe()
            .cmd("TIME")
            .cmd("HGETALL")
            .arg(self.room_key(room))
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        let now_ms = server_now_ms(&time)?;
        let mut gateways: Vec<String> = entries
            .into_iter()
            .filter(|(_, expires_at)| entry::room_entry_live(expires_at, now_ms))
            .map(|(gateway, _)| gateway)
            .collect();
        gateways.sort();
        Ok(gateways)
    }

    async fn mark_gateway(&self, gateway: &str, ttl: Duration) -> Result<bool, RegistryError> {
        let mut connection = self.connection.clone();
        let previous: Option<String> = redis::cmd("SET")
            .arg(self.mark_key(gateway))
            .arg("1")
            .arg("PX")
            .arg(entry::ttl_millis(ttl))
            .arg("GET")
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(previous.is_some())
    }

    async fn presence(&self, users: &[String]) -> Result<Vec<Presence>, RegistryError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(String, String)> = users
            .iter()
            .map(|u| (self.devices_key(u), self.last_seen_key(u)))
            .collect();
        let device_keys: Vec<String> = keys.iter().map(|(d, _)| d.clone()).collect();
        let groups = self.connection.pipeline_groups(&device_keys);
        let replies = try_join_all(groups.iter().map(|indexes| {
            let group_keys = indexes
                .iter()
                .map(|&i| (keys[i].0.as_str(), keys[i].1.as_str()))
                .collect();
            Self::presence_group(self.connection.clone(), group_keys)
        }))
        .await?;
        let mut found = vec![Presence::default(); users.len()];
        for (indexes, presences) in groups.iter().zip(replies) {
            for (&index, presence) in indexes.iter().zip(presences) {
                found[index] = presence;
            }
        }
        Ok(found)
    }

    async fn record_last_seen(
        &self,
        user: &str,
        at_ms: u64,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut connection = self.connection.clone();
        self.scripts
            .record_last_seen
            .key(self.last_seen_key(user))
            .arg(at_ms)
            .arg(entry::ttl_millis(ttl))
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn publish_presence(&self, user: &str) -> Result<(), RegistryError> {
        let mut connection = self.connection.clone();
        redis::cmd("PUBLISH")
            .arg(self.presence_channel())
            .arg(user)
            .query_async::<i64>(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn presence_feed(&self) -> Result<PresenceFeed, RegistryError> {
        let sender = self
            .feed
            .get_or_try_init(|| presence::listen(self.pubsub_url.clone(), self.presence_channel()))
            .await?;
        Ok(PresenceFeed::new(sender.subscribe()))
    }
}

fn backend(error: RedisError) -> RegistryError {
    RegistryError::Backend(format!("redis: {error}"))
}

fn connect_error(target: &str, error: RedisError) -> RegistryError {
    RegistryError::Backend(format!("redis: cannot connect to {target}: {error}"))
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((_credentials, host)) => format!("{scheme}://***@{host}"),
        None => url.to_string(),
    }
}

/// The server's clock in milliseconds, from a `TIME` reply.
fn server_now_ms(time: &[u64]) -> Result<u64, RegistryError> {
    entry::time_reply_millis(time)
        .ok_or_else(|| RegistryError::Backend(format!("redis: unexpected TIME reply {time:?}")))
}

fn parse<T: redis::FromRedisValue>(
    reply: Option<Value>,
    command: &str,
) -> Result<T, RegistryError> {
    let reply = reply.ok_or_else(|| {
        RegistryError::Backend(format!("redis: pipeline returned no reply for {command}"))
    })?;
    redis::from_redis_value(reply)
        .map_err(|e| RegistryError::Backend(format!("redis: unexpected {command} reply: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_hide_credentials() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact("rediss://:secret@host"), "rediss://***@host");
    }

    #[test]
    fn key_prefix_may_not_hold_a_hash_tag() {
        let options = RedisRegistryOptions {
            key_prefix: "app:{x}:".to_string(),
            ..Default::default()
        };
        let err = options.validate().unwrap_err().to_string();
        assert!(err.contains("key_prefix"), "{err}");
        assert!(RedisRegistryOptions::default().validate().is_ok());
    }
}
