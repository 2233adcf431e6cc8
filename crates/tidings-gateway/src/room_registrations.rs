//! Which rooms this gateway is registered in, one lock per room. A leaf of
//! the gateway's state; `rooms` keeps the registry in step with the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Whether this gateway is in each room's registry entry, with one lock per
/// room so registry writes for a room never overtake each other.
#[derive(Debug, Default)]
pub(crate) struct RoomRegistrations {
    /// room id to "this gateway is in the room's registry entry". An entry
    /// lives while the gateway is registered or a task holds its lock.
    rooms: Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
}

impl RoomRegistrations {
    pub(crate) fn slot(&self, room: &str) -> Arc<tokio::sync::Mutex<bool>> {
        let mut rooms = self.rooms.lock().expect("room registrations lock");
        Arc::clone(rooms.entry(room.to_string()).or_default())
    }

    /// Drops `room`'s entry if nobody else holds it and the gateway is not
    /// registered in the room.
    pub(crate) fn release(&self, room: &str, slot: Arc<tokio::sync::Mutex<bool>>) {
        let mut rooms = self.rooms.lock().expect("room registrations lock");
        // Clones are only taken under `rooms`: two holders means the map's
        // and ours, so nobody can be waiting on the lock.
        if Arc::strong_count(&slot) == 2 && slot.try_lock().is_ok_and(|registered| !*registered) {
            rooms.remove(room);
        }
    }

    /// The rooms with an entry: every room this gateway is registered in.
    pub(crate) fn rooms(&self) -> Vec<String> {
        let rooms = self.rooms.lock().expect("room registrations lock");
        rooms.keys().cloned().collect()
    }
}
