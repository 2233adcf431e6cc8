//! Live rooms: ephemeral messages sent once to each gateway holding members
//! of the room; never stored.
//!
//! Who is in a room is the gateways' business (they hold the connections and
//! check that a sender's connection is in the room before forwarding); logic
//! validates the message, stamps it and routes it through the registry.

use tidings_core::{Error, ErrorCode, UserId, now_ms};
use tidings_proto::gateway::v1::PushRoomRequest;
use tidings_proto::logic::v1 as pb;

use crate::service::LogicServer;

const MAX_KIND: usize = 64;

/// Checks a room id: 1..=64 characters of `[A-Za-z0-9_.-]`, like every id.
fn validate_room_id(room: &str) -> Result<(), Error> {
    tidings_core::RoomId::parse(room).map(|_| ())
}

impl LogicServer {
    fn validate_room_send(&self, req: &pb::RoomSendRequest) -> Result<UserId, Error> {
        let sender = UserId::parse(&req.user_id)?;
        validate_room_id(&req.room_id)?;
        if req.kind.len() > MAX_KIND {
            return Err(Error::invalid(format!(
                "kind must be at most {MAX_KIND} bytes"
            )));
        }
        if req.body.len() > self.config.max_body_bytes {
            return Err(Error::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "body is {} bytes; the limit is {}",
                    req.body.len(),
                    self.config.max_body_bytes
                ),
            ));
        }
        Ok(sender)
    }

    pub(crate) async fn handle_room_send(
        &self,
        req: pb::RoomSendRequest,
    ) -> Result<pb::RoomSendResponse, Error> {
        let sender = self.validate_room_send(&req)?;
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
    use super::*;

    #[test]
    fn room_ids_follow_the_id_rules() {
        for good in ["lobby", "a", "room-1.x_y", &"r".repeat(64)] {
            assert!(validate_room_id(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "a:b", &"r".repeat(65)] {
            let err = validate_room_id(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
        }
    }
}
