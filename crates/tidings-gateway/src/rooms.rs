//! Live rooms (ephemeral): join, switch, leave and fan-out at the gateway.
//!
//! The hub keeps room -> connections; the registry keeps room -> gateways.
//! This gateway is in a room's registry entry exactly while it holds a
//! connection in the room: every change of the hub's membership is followed
//! by [`Gateway::sync_room_registration`], which compares the two under a
//! per-room lock and joins or leaves, so racing joins and leaves of one room
//! always leave the registry matching the hub. Logic sends a room message
//! once to each gateway of the room; [`push_room`] fans it out here.
//!
//! Room messages are not stored: a connection gets those sent while it is
//! in the room, and nothing else.

use tidings_core::{Error, ErrorCode, RoomId};
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tidings_proto::gateway::v1::PushRoomRequest;
use tidings_proto::logic::v1 as logic;
use tidings_registry::RegistryError;

use crate::Hub;
use crate::hub::Writes;
use crate::session::server_frame;
use crate::session::{Conn, Identity};
use crate::state::Gateway;

impl Gateway {
    /// Makes `room`'s registry entry match the hub: this gateway joins the
    /// room while it holds a connection there, and leaves once it holds
    /// none. `refresh` rewrites a present entry too (heartbeat).
    pub(crate) async fn sync_room_registration(
        &self,
        room: &str,
        refresh: bool,
    ) -> Result<(), RegistryError> {
        let slot = self.rooms.slot(room);
        let mut registered = slot.lock().await;
        let wanted = self.hub.room_has_connections(room);
        let registry = &self.backends.registry;
        let result = if wanted && (refresh || !*registered) {
            let joined = registry
                .join_room(room, &self.advertised, self.registry_ttl())
                .await;
            *registered = joined.is_ok();
            joined
        } else if !wanted && *registered {
            // Even if the removal fails, the entry is no longer refreshed
            // and expires after its ttl.
            *registered = false;
            registry
                .leave_room(room, &self.advertised)
                .await
                .map(|_| ())
        } else {
            Ok(())
        };
        drop(registered);
        self.rooms.release(room, slot);
        result
    }

    /// Refreshes the registry entry of every room this gateway is in.
    pub(crate) async fn refresh_room_registrations(&self) {
        for room in self.rooms.rooms() {
            if let Err(e) = self.sync_room_registration(&room, true).await {
                tracing::warn!(room_id = %room, error = %e, "registry room heartbeat failed");
            }
        }
    }

    /// After `room` lost a connection here: leaves the registry entry if it
    /// was the last; a failure is only logged (the entry expires).
    async fn room_left(&self, room: &str) {
        if let Err(e) = self.sync_room_registration(room, false).await {
            tracing::warn!(room_id = %room, error = %e, "registry room clean-up failed; the entry will expire");
        }
    }
}

impl Conn {
    /// Joins a room, switching from the current one. The connection leaves
    /// the old room in the hub before the answer is queued, so no message of
    /// the old room follows the answer.
    pub(crate) async fn room_join(
        &self,
        identity: &Identity,
        join: client::RoomJoin,
    ) -> Result<Out, Error> {
        RoomId::parse(&join.room_id)?;
        let room = join.room_id;
        let connection_id = identity.connection_id;
        let handle = self.handle(connection_id, &identity.device);
        let left = self.gateway.hub.join_room(&room, handle);
        if let Err(e) = self.gateway.sync_room_registration(&room, false).await {
            self.gateway.hub.leave_room(connection_id);
            if let Some(left) = left {
                self.gateway.room_left(&left).await;
            }
            return Err(Error::unavailable(format!(
                "registry: {e}; the connection is in no room"
            )));
        }
        if let Some(left) = left {
            self.gateway.room_left(&left).await;
        }
        tracing::debug!(user_id = %identity.user, room_id = %room, "joined room");
        Ok(Out::RoomResult(client::RoomResult { room_id: room }))
    }

    /// Leaves the current room (if any); answers with an empty room id.
    pub(crate) async fn room_leave(&self, identity: &Identity) -> Result<Out, Error> {
        self.leave_current_room(identity.connection_id).await;
        Ok(Out::RoomResult(client::RoomResult {
            room_id: String::new(),
        }))
    }

    /// Sends an ephemeral message to the room this connection is in.
    pub(crate) async fn room_send(
        &self,
        identity: &Identity,
        send: client::RoomSend,
    ) -> Result<Out, Error> {
        RoomId::parse(&send.room_id)?;
        if self.gateway.hub.room_of(identity.connection_id).as_deref() != Some(&send.room_id) {
            return Err(Error::new(
                ErrorCode::NotMember,
                format!(
                    "this connection is not in room {}; join it first",
                    send.room_id
                ),
            ));
        }
        self.gateway
            .backends
            .logic
            .clone()
            .room_send(logic::RoomSendRequest {
                user_id: identity.user.to_string(),
                room_id: send.room_id.clone(),
                kind: send.kind,
                body: send.body,
            })
            .await?;
        Ok(Out::RoomResult(client::RoomResult {
            room_id: send.room_id,
        }))
    }

    /// Takes the connection out of its room, in the hub and, if it was the
    /// gateway's last connection there, in the registry.
    pub(crate) async fn leave_current_room(&self, connection_id: u64) {
        if let Some(room) = self.gateway.hub.leave_room(connection_id) {
            self.gateway.room_left(&room).await;
        }
    }
}

/// Writes a room message to this gateway's connections in the room.
pub(crate) fn push_room(hub: &Hub, request: PushRoomRequest, max_frame_bytes: usize) -> Writes {
    let frame = server_frame(Out::RoomMessage(client::RoomMessage {
        room_id: request.room_id.clone(),
        sender_id: request.sender_id,
        kind: request.kind,
        body: request.body,
        sent_at_ms: request.sent_at_ms,
    }));
    if !crate::frame_limit::push_fits(&frame, max_frame_bytes) {
        return Writes {
            delivered: 0,
            missed: 1,
        };
    }
    hub.write_to_room(&request.room_id, &frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_follow_the_id_rules() {
        for good in ["lobby", "a", "room-1.x_y", &"r".repeat(64)] {
            assert!(RoomId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "a/b", "é", &"r".repeat(65)] {
            let err = RoomId::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
            assert!(err.message.contains("room_id"), "{}", err.message);
        }
    }
}
