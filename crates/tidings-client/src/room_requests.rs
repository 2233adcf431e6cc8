//! Live rooms: join (or switch), leave, send, and receive room messages.
//!
//! A connection is in at most one room. Room messages are ephemeral: they
//! reach the connections in the room when they are sent (the sender's own
//! connection included) and are never stored, so nothing pulls them later.
//! They arrive as server-initiated frames (request_id 0) carrying a
//! `RoomMessage`, in the same queue as inbox pushes: read them with
//! [`Connection::next_room_message`], or with [`Connection::next_push`] when
//! the caller handles every kind of push itself.
//!
//! After a switch, once [`Connection::room_join`] has returned no message of
//! the old room arrives any more; messages of the old room that arrived
//! before the answer may still be queued, so tell them apart by
//! `RoomMessage::room_id`.

use std::time::Duration;

use tidings_proto::client::v1 as pb;
use tidings_proto::client::v1::{client_frame, server_frame};
use tokio::time::Instant;

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::requests::unexpected;

impl Connection {
    /// Joins `room_id`, leaving the room this connection was in; answers with
    /// the room it is in now.
    pub async fn room_join(&self, room_id: &str) -> Result<pb::RoomResult> {
        let frame = client_frame::Frame::RoomJoin(pb::RoomJoin {
            room_id: room_id.to_string(),
        });
        room_result(self.request(frame).await?)
    }

    /// Leaves the current room, if any; answers with an empty room id.
    pub async fn room_leave(&self) -> Result<pb::RoomResult> {
        let frame = client_frame::Frame::RoomLeave(pb::RoomLeave {});
        room_result(self.request(frame).await?)
    }

    /// Sends an ephemeral message to `room_id`, which this connection must be
    /// in (else `not_member`). Answers once every gateway of the room has
    /// been handed the message.
    pub async fn room_send(
        &self,
        room_id: &str,
        kind: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<pb::RoomResult> {
        let frame = client_frame::Frame::RoomSend(pb::RoomSend {
            room_id: room_id.to_string(),
            kind: kind.to_string(),
            body: body.into(),
        });
        room_result(self.request(frame).await?)
    }

    /// Waits up to `timeout` for the next room message. Other server-initiated
    /// frames that arrive first (inbox pushes, errors) are dropped; use
    /// [`Connection::next_push`] to see every frame.
    pub async fn next_room_message(&self, timeout: Duration) -> Result<pb::RoomMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next_push(left).await.map_err(|e| match e {
                ClientError::Timeout { .. } => ClientError::Timeout {
                    request_id: 0,
                    timeout,
                },
                other => other,
            })?;
            match frame.frame {
                Some(server_frame::Frame::RoomMessage(message)) => return Ok(message),
                other => {
                    tracing::debug!(frame = ?other, "skipping a frame while waiting for a room message")
                }
            }
        }
    }
}

fn room_result(answer: pb::ServerFrame) -> Result<pb::RoomResult> {
    match answer.frame {
        Some(server_frame::Frame::RoomResult(result)) => Ok(result),
        other => Err(unexpected("room_result", other)),
    }
}
