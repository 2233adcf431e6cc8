//! Live rooms: ephemeral messages sent once to each gateway holding members
//! of the room; never stored.
//!
//! Who is in a room is the gateways' business (they hold the connections and
//! check that a sender's connection is in the room before forwarding); logic
//! validates the message, stamps it and routes it through the registry.

use tidings_core::{Error, RoomId, UserId, now_ms};
use tidings_proto::gateway::v1::PushRoomRequest;
use tidings_proto::logic::v1 as pb;

use crate::service::LogicServer;

impl LogicServer {
    pub(crate) async fn handle_room_send(
        &self,
        req: pb::RoomSendRequest,
    ) -> Result<pb::RoomSendResponse, Error> {
        let sender = UserId::parse(&req.user_id)?;
        RoomId::parse(&req.room_id)?;
        self.validate_payload(&req.kind, &req.body)?;
        let push = PushRoomRequest {
            room_id: req.room_id,
            sender_id: sender.to_string(),
            kind: req.kind,
            body: req.body,
            sent_at_ms: now_ms(),
        };
        let room = push.room_id.clone();
        let gateways = self
            .backends
            .push
            .push_room(push)
            .await
            .map_err(|e| Error::unavailable(format!("registry: {e}")))?;
        tracing::debug!(user_id = %sender, room_id = %room, gateways, "room message sent");
        Ok(pb::RoomSendResponse {
            gateways: u32::try_from(gateways).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use tidings_core::ErrorCode;

    use super::*;

    #[test]
    fn room_ids_follow_the_id_rules() {
        for good in ["lobby", "a", "room-1.x_y", &"r".repeat(64)] {
            assert!(RoomId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "a:b", &"r".repeat(65)] {
            let err = RoomId::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
        }
    }
}
