//! A registry inside one process: for the all-in-one shape, where every
//! gateway shares the process with logic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::presence::FEED_CAPACITY;
use crate::{DeviceRoute, Presence, PresenceFeed, PresenceNotice, Registry, RegistryError};

#[derive(Debug)]
struct Entry {
    gateway: String,
    expires_at: Instant,
}

/// In-memory registry; entries expire lazily on read and write.
#[derive(Debug)]
pub struct InProcessRegistry {
    users: Mutex<HashMap<String, HashMap<String, Entry>>>,
    /// room -> gateway -> expiry.
    rooms: Mutex<HashMap<String, HashMap<String, Instant>>>,
    /// gateway -> expiry of its mark.
    marks: Mutex<HashMap<String, Instant>>,
    /// user -> (last seen, unix ms; expiry). Pruned when it grows, so users
    /// who never come back do not pile up.
    last_seen: Mutex<HashMap<String, (u64, Instant)>>,
    /// Every feed's receiver hangs off this sender.
    notices: broadcast::Sender<PresenceNotice>,
}

impl Default for InProcessRegistry {
    fn default() -> Self {
        Self {
            users: Mutex::default(),
            rooms: Mutex::default(),
            marks: Mutex::default(),
            last_seen: Mutex::default(),
            notices: broadcast::channel(FEED_CAPACITY).0,
        }
    }
}

impl InProcessRegistry {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Registry for InProcessRegistry {
    async fn register(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut users = self.users.lock().expect("registry lock poisoned");
        let devices = users.entry(user.to_string()).or_default();
        let now = Instant::now();
        devices.retain(|_, e| e.expires_at > now);
        devices.insert(
            device.to_string(),
            Entry {
                gateway: gateway.to_string(),
                expires_at: now + ttl,
            },
        );
        Ok(())
    }

    async fn unregister(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
    ) -> Result<bool, RegistryError> {
        let mut users = self.users.lock().expect("registry lock poisoned");
        let Some(devices) = users.get_mut(user) else {
            return Ok(false);
        };
        let owned = devices.get(device).is_some_and(|e| e.gateway == gateway);
        if owned {
            devices.remove(device);
        }
        if devices.is_empty() {
            users.remove(user);
        }
        Ok(owned)
    }

    async fn lookup(&self, users: &[String]) -> Result<Vec<Vec<DeviceRoute>>, RegistryError> {
        let map = self.users.lock().expect("registry lock poisoned");
        let now = Instant::now();
        Ok(users
            .iter()
            .map(|user| {
                let mut routes: Vec<DeviceRoute> = map
                    .get(user)
                    .into_iter()
                    .flat_map(|devices| devices.iter())
                    .filter(|(_, e)| e.expires_at > now)
                    .map(|(device, e)| DeviceRoute {
                        device_id: device.clone(),
                        gateway: e.gateway.clone(),
                    })
                    .collect();
                routes.sort();
                routes
            })
            .collect())
    }

    async fn join_room(
        &self,
        room: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut rooms = self.rooms.lock().expect("registry lock poisoned");
        let gateways = rooms.entry(room.to_string()).or_default();
        let now = Instant::now();
        gateways.retain(|_, expires_at| *expires_at > now);
        gateways.insert(gateway.to_string(), now + ttl);
        Ok(())
    }

    async fn leave_room(&self, room: &str, gateway: &str) -> Result<bool, RegistryError> {
        let mut rooms = self.rooms.lock().expect("registry lock poisoned");
        let Some(gateways) = rooms.get_mut(room) else {
            return Ok(false);
        };
        let removed = gateways.remove(gateway).is_some();
        if gateways.is_empty() {
            rooms.remove(room);
        }
        Ok(removed)
    }

    async fn room_gateways(&self, room: &str) -> Result<Vec<String>, RegistryError> {
        let rooms = self.rooms.lock().expect("registry lock poisoned");
        let now = Instant::now();
        let mut gateways: Vec<String> = rooms
            .get(room)
            .into_iter()
            .flat_map(|gateways| gateways.iter())
            .filter(|(_, expires_at)| **expires_at > now)
            .map(|(gateway, _)| gateway.clone())
            .collect();
        gateways.sort();
        Ok(gateways)
    }

    async fn mark_gateway(&self, gateway: &str, ttl: Duration) -> Result<bool, RegistryError> {
        let mut marks = self.marks.lock().expect("registry lock poisoned");
        let now = Instant::now();
        let previous = marks.insert(gateway.to_string(), now + ttl);
        Ok(previous.is_some_and(|expires_at| expires_at > now))
    }

    async fn presence(&self, users: &[String]) -> Result<Vec<Presence>, RegistryError> {
        let now = Instant::now();
        let online: Vec<bool> = {
            let map = self.users.lock().expect("registry lock poisoned");
            users
                .iter()
                .map(|user| {
                    map.get(user)
                        .is_some_and(|devices| devices.values().any(|e| e.expires_at > now))
                })
                .collect()
        };
        let last_seen = self.last_seen.lock().expect("registry lock poisoned");
        Ok(users
            .iter()
            .zip(online)
            .map(|(user, online)| Presence {
                online,
                last_seen_ms: last_seen
                    .get(user)
                    .filter(|(_, expires_at)| *expires_at > now)
                    .map_or(0, |(at_ms, _)| *at_ms),
            })
            .collect())
    }

    async fn record_last_seen(
        &self,
        user: &str,
        at_ms: u64,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut last_seen = self.last_seen.lock().expect("registry lock poisoned");
        let now = Instant::now();
        if last_seen.len() >= PRUNE_LAST_SEEN_ABOVE {
            last_seen.retain(|_, (_, expires_at)| *expires_at > now);
        }
        let entry = last_seen.entry(user.to_string()).or_insert((0, now));
        let live = entry.1 > now;
        if !live || entry.0 <= at_ms {
            *entry = (at_ms, now + ttl);
        }
        Ok(())
    }

    async fn publish_presence(&self, user: &str) -> Result<(), RegistryError> {
        // No feed listening is no error: nobody watches anyone.
        let _ = self.notices.send(PresenceNotice::Changed(user.to_string()));
        Ok(())
    }

    async fn presence_feed(&self) -> Result<PresenceFeed, RegistryError> {
        Ok(PresenceFeed::new(self.notices.subscribe()))
    }
}

/// Last-seen entries kept before expired ones are pruned.
const PRUNE_LAST_SEEN_ABOVE: usize = 100_000;
