//! The connections this gateway holds, by user.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::Message as WsMessage;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

/// A handle to write frames to one connection.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    pub id: u64,
    pub device_id: String,
    pub outbound: mpsc::Sender<WsMessage>,
    /// Wakes the connection's task to close it (e.g. its queue overflowed).
    pub close: Arc<Notify>,
}

/// user id to the live connections of that user on this gateway.
#[derive(Debug, Default)]
pub struct Hub {
    next_id: AtomicU64,
    users: Mutex<HashMap<String, Vec<ConnectionHandle>>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, user: &str, handle: ConnectionHandle) {
        self.users
            .lock()
            .expect("hub lock")
            .entry(user.to_string())
            .or_default()
            .push(handle);
    }

    /// Removes a connection; returns whether another connection of the same
    /// user/device remains here (then the registry entry must stay).
    pub fn remove(&self, user: &str, id: u64) -> bool {
        let mut users = self.users.lock().expect("hub lock");
        let Some(handles) = users.get_mut(user) else {
            return false;
        };
        let device = handles
            .iter()
            .find(|h| h.id == id)
            .map(|h| h.device_id.clone());
        handles.retain(|h| h.id != id);
        let device_remains = device.is_some_and(|d| handles.iter().any(|h| h.device_id == d));
        if handles.is_empty() {
            users.remove(user);
        }
        device_remains
    }

    pub fn connections_of(&self, user: &str) -> Vec<ConnectionHandle> {
        self.users
            .lock()
            .expect("hub lock")
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// Every (user, device) connected here, for registry heartbeats.
    pub fn devices(&self) -> Vec<(String, String)> {
        let users = self.users.lock().expect("hub lock");
        let mut devices: Vec<(String, String)> = users
            .iter()
            .flat_map(|(user, handles)| handles.iter().map(|h| (user.clone(), h.device_id.clone())))
            .collect();
        devices.sort();
        devices.dedup();
        devices
    }

    /// Asks every connection to close (graceful drain); devices reconnect
    /// elsewhere and pull.
    pub fn close_all(&self) {
        let users = self.users.lock().expect("hub lock");
        for handle in users.values().flatten() {
            handle.close.notify_one();
        }
    }

    pub fn connection_count(&self) -> usize {
        self.users
            .lock()
            .expect("hub lock")
            .values()
            .map(Vec::len)
            .sum()
    }
}
