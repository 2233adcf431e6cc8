//! The connections this gateway holds, by user, and by live room.
//!
//! Room membership is kept apart from the users map, under its own lock, and
//! room messages are queued on connections *under that lock*: a connection
//! that left a room (or switched to another) is removed under the same lock,
//! so once the answer to its leave or switch is queued, no message of the old
//! room can be queued behind it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;

use crate::outbound::{Ending, Outbound, QueueError};

/// A handle to write frames to one connection.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    pub id: u64,
    pub device_id: String,
    /// The connection's queue; also how it is given up when too slow.
    pub outbound: Outbound,
}

/// user id to the live connections of that user on this gateway, and room
/// id to the connections in that room.
#[derive(Debug, Default)]
pub struct Hub {
    next_id: AtomicU64,
    users: Mutex<HashMap<String, Vec<ConnectionHandle>>>,
    rooms: Mutex<Rooms>,
}

/// Room membership of this gateway's connections; a connection is in at most
/// one room.
#[derive(Debug, Default)]
struct Rooms {
    /// room id to its connections here, by connection id.
    members: HashMap<String, HashMap<u64, ConnectionHandle>>,
    /// connection id to the room it is in.
    room_of: HashMap<u64, String>,
}

impl Rooms {
    /// Takes connection `id` out of its room; returns the room.
    fn remove(&mut self, id: u64) -> Option<String> {
        let room = self.room_of.remove(&id)?;
        if let Some(members) = self.members.get_mut(&room) {
            members.remove(&id);
            if members.is_empty() {
                self.members.remove(&room);
            }
        }
        Some(room)
    }
}

/// Writes of frames to connections: how many took them, how many did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Writes {
    pub delivered: u32,
    pub missed: u32,
}

impl std::ops::AddAssign for Writes {
    fn add_assign(&mut self, other: Writes) {
        self.delivered += other.delivered;
        self.missed += other.missed;
    }
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

    /// How many connections `user` has here.
    pub fn connections_of(&self, user: &str) -> usize {
        self.users
            .lock()
            .expect("hub lock")
            .get(user)
            .map_or(0, Vec::len)
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

    /// Queues `frame` on every connection of `user`. Never waits: a
    /// connection whose queue is full is too slow to keep up and is asked to
    /// close; its device reconnects and pulls. A user without connections
    /// here counts one miss.
    pub fn write_to_user(&self, user: &str, frame: &Bytes) -> Writes {
        self.queue_for_user(user, frame, true)
    }

    /// Queues an ephemeral `frame` (typing) on every connection of `user`.
    /// Never waits and never closes: a connection whose queue is full
    /// misses it, since nothing is lost that a later signal does not
    /// replace. A user without connections here counts one miss.
    pub fn offer_to_user(&self, user: &str, frame: &Bytes) -> Writes {
        self.queue_for_user(user, frame, false)
    }

    /// Both of the above: `close_when_full` abandons a connection whose
    /// queue is full, for frames that must not be skipped.
    fn queue_for_user(&self, user: &str, frame: &Bytes, close_when_full: bool) -> Writes {
        let users = self.users.lock().expect("hub lock");
        let mut writes = Writes::default();
        let Some(connections) = users.get(user) else {
            writes.missed = 1;
            return writes;
        };
        for connection in connections {
            match connection.outbound.try_push(frame.clone()) {
                Ok(()) => writes.delivered += 1,
                Err(QueueError::Full) if close_when_full => {
                    if !connection.outbound.is_abandoned() {
                        tracing::warn!(user_id = %user, device_id = %connection.device_id, "outbound queue full; closing connection");
                        connection.outbound.abandon();
                    }
                    writes.missed += 1;
                }
                Err(_) => writes.missed += 1,
            }
        }
        writes
    }

    /// Ends every connection of `user` here (only those of `device`, if
    /// given) with `ending`; returns how many.
    pub(crate) fn disconnect(&self, user: &str, device: Option<&str>, ending: &Ending) -> u32 {
        let users = self.users.lock().expect("hub lock");
        let Some(connections) = users.get(user) else {
            return 0;
        };
        let mut closed = 0;
        for connection in connections {
            if device.is_some_and(|d| d != connection.device_id) {
                continue;
            }
            connection.outbound.end_now(ending.clone());
            closed += 1;
        }
        closed
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

    /// Puts the connection of `handle` in `room`, taking it out of the room
    /// it was in (a switch) in the same step; returns the room it left.
    /// Joining the room it is already in changes nothing.
    pub fn join_room(&self, room: &str, handle: ConnectionHandle) -> Option<String> {
        let mut rooms = self.rooms.lock().expect("hub rooms lock");
        let id = handle.id;
        if rooms.room_of.get(&id).is_some_and(|r| r == room) {
            return None;
        }
        let left = rooms.remove(id);
        rooms
            .members
            .entry(room.to_string())
            .or_default()
            .insert(id, handle);
        rooms.room_of.insert(id, room.to_string());
        left
    }

    /// Takes connection `id` out of its room, if it is in one; returns the
    /// room.
    pub fn leave_room(&self, id: u64) -> Option<String> {
        self.rooms.lock().expect("hub rooms lock").remove(id)
    }

    /// The room connection `id` is in.
    pub fn room_of(&self, id: u64) -> Option<String> {
        self.rooms
            .lock()
            .expect("hub rooms lock")
            .room_of
            .get(&id)
            .cloned()
    }

    /// Whether any connection here is in `room`.
    pub fn room_has_connections(&self, room: &str) -> bool {
        self.rooms
            .lock()
            .expect("hub rooms lock")
            .members
            .contains_key(room)
    }

    /// The rooms with at least one connection here, sorted.
    pub fn rooms(&self) -> Vec<String> {
        let rooms = self.rooms.lock().expect("hub rooms lock");
        let mut ids: Vec<String> = rooms.members.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Queues `frame` on every connection in `room`, under the rooms lock so
    /// that no connection gets it after it left the room. Never waits: a
    /// connection whose queue is full misses this (ephemeral) message, and
    /// is left open. A room without connections here counts one miss (a
    /// stale registry entry).
    pub fn write_to_room(&self, room: &str, frame: &Bytes) -> Writes {
        let rooms = self.rooms.lock().expect("hub rooms lock");
        let mut writes = Writes::default();
        let Some(members) = rooms.members.get(room) else {
            writes.missed = 1;
            return writes;
        };
        for connection in members.values() {
            match connection.outbound.try_push(frame.clone()) {
                Ok(()) => writes.delivered += 1,
                Err(QueueError::Full) => {
                    tracing::debug!(room_id = %room, device_id = %connection.device_id, "outbound queue full; room message dropped");
                    writes.missed += 1;
                }
                Err(QueueError::Closed) => writes.missed += 1,
            }
        }
        writes
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

#[cfg(test)]
mod tests {
    use axum::extract::ws::Message as WsMessage;

    use super::*;
    use crate::outbound::{OutboundQueue, Queued};

    fn connection(hub: &Hub, queue: usize) -> (ConnectionHandle, OutboundQueue) {
        let (outbound, inbound) = Outbound::new(queue, 1 << 20);
        let handle = ConnectionHandle {
            id: hub.next_connection_id(),
            device_id: "d".to_string(),
            outbound,
        };
        (handle, inbound)
    }

    fn frame(text: &str) -> Bytes {
        Bytes::from(text.to_string())
    }

    fn received(inbound: &mut OutboundQueue) -> Vec<Bytes> {
        let mut frames = Vec::new();
        while let Ok(Queued::Frame(WsMessage::Binary(bytes), _)) = inbound.frames.try_recv() {
            frames.push(bytes);
        }
        frames
    }

    #[test]
    fn a_switch_leaves_the_old_room_in_the_same_step() {
        let hub = Hub::new();
        let (a, mut a_in) = connection(&hub, 8);
        let (b, mut b_in) = connection(&hub, 8);
        assert_eq!(hub.join_room("red", a.clone()), None);
        assert_eq!(hub.join_room("red", b.clone()), None);
        assert_eq!(
            hub.join_room("red", a.clone()),
            None,
            "rejoin changes nothing"
        );
        hub.write_to_room("red", &frame("r1"));

        assert_eq!(hub.join_room("blue", a.clone()), Some("red".to_string()));
        assert_eq!(hub.room_of(a.id).as_deref(), Some("blue"));
        let writes = hub.write_to_room("red", &frame("r2"));
        assert_eq!((writes.delivered, writes.missed), (1, 0));
        hub.write_to_room("blue", &frame("b1"));

        assert_eq!(received(&mut a_in), [frame("r1"), frame("b1")]);
        assert_eq!(received(&mut b_in), [frame("r1"), frame("r2")]);
        assert_eq!(hub.rooms(), ["blue", "red"]);
    }

    #[test]
    fn the_last_leave_empties_the_room() {
        let hub = Hub::new();
        let (a, _a_in) = connection(&hub, 8);
        let (b, _b_in) = connection(&hub, 8);
        hub.join_room("red", a.clone());
        hub.join_room("red", b.clone());
        assert_eq!(hub.leave_room(a.id).as_deref(), Some("red"));
        assert!(hub.room_has_connections("red"));
        assert_eq!(hub.leave_room(a.id), None, "already out");
        assert_eq!(hub.leave_room(b.id).as_deref(), Some("red"));
        assert!(!hub.room_has_connections("red"));
        assert!(hub.rooms().is_empty());
        let writes = hub.write_to_room("red", &frame("late"));
        assert_eq!((writes.delivered, writes.missed), (0, 1));
    }

    #[test]
    fn a_full_queue_misses_pushes_and_is_asked_to_close() {
        let hub = Hub::new();
        let (a, mut a_in) = connection(&hub, 1);
        hub.add("alice", a.clone());
        let first = hub.write_to_user("alice", &frame("1"));
        let second = hub.write_to_user("alice", &frame("2"));
        assert_eq!((first.delivered, first.missed), (1, 0));
        assert_eq!((second.delivered, second.missed), (0, 1));
        assert_eq!(received(&mut a_in), [frame("1")]);
        assert!(
            a.outbound.is_abandoned(),
            "a slow connection is closed; it pulls on reconnect"
        );
        let offline = hub.write_to_user("bob", &frame("3"));
        assert_eq!((offline.delivered, offline.missed), (0, 1));
    }

    #[test]
    fn a_full_queue_misses_room_messages_and_stays_open() {
        let hub = Hub::new();
        let (a, mut a_in) = connection(&hub, 1);
        hub.join_room("red", a.clone());
        let first = hub.write_to_room("red", &frame("1"));
        let second = hub.write_to_room("red", &frame("2"));
        assert_eq!((first.delivered, first.missed), (1, 0));
        assert_eq!((second.delivered, second.missed), (0, 1));
        assert_eq!(received(&mut a_in), [frame("1")]);
        assert_eq!(hub.room_of(a.id).as_deref(), Some("red"));
        assert!(
            !a.outbound.is_abandoned(),
            "a slow connection is not closed for a room message"
        );
    }
}
