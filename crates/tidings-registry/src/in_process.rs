//! A registry inside one process: for the all-in-one shape, where every
//! gateway shares the process with logic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{DeviceRoute, Registry, RegistryError};

#[derive(Debug)]
struct Entry {
    gateway: String,
    expires_at: Instant,
}

/// In-memory registry; entries expire lazily on read and write.
#[derive(Debug, Default)]
pub struct InProcessRegistry {
    users: Mutex<HashMap<String, HashMap<String, Entry>>>,
    /// room -> gateway -> expiry.
    rooms: Mutex<HashMap<String, HashMap<String, Instant>>>,
    /// gateway -> expiry of its mark.
    marks: Mutex<HashMap<String, Instant>>,
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
}
