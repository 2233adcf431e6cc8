//! Edit, recall, delete and react: requests that append an event naming a
//! stored message. Each is answered like a send (a [`pb::SendAck`] for the
//! event message) and is idempotent by `client_msg_id` the same way.

use tidings_proto::client::v1 as pb;
use tidings_proto::client::v1::{client_frame::Frame, server_frame};
use tidings_proto::common::v1::{Message, MessageRef};

use crate::connection::Connection;
use crate::error::Result;
use crate::requests::unexpected;

/// Names `message` as the target of an event.
pub fn target_of(message: &Message) -> MessageRef {
    MessageRef {
        message_id: message.message_id.clone(),
        conv_seq: message.conv_seq,
    }
}

impl Connection {
    /// Replaces the body of one of the caller's messages (within the
    /// server's edit window).
    pub async fn edit_message(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
        target: MessageRef,
        body: Vec<u8>,
    ) -> Result<pb::SendAck> {
        self.event(Frame::EditMessage(pb::EditMessage {
            conversation_id: conversation_id.to_string(),
            client_msg_id: client_msg_id.to_string(),
            target: Some(target),
            body,
        }))
        .await
    }

    /// Recalls one of the caller's messages (within the edit window).
    pub async fn recall_message(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
        target: MessageRef,
    ) -> Result<pb::SendAck> {
        self.event(Frame::RecallMessage(pb::RecallMessage {
            conversation_id: conversation_id.to_string(),
            client_msg_id: client_msg_id.to_string(),
            target: Some(target),
        }))
        .await
    }

    /// Deletes a message for everyone (a group's owner; in a 1:1 the sender).
    pub async fn delete_message(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
        target: MessageRef,
    ) -> Result<pb::SendAck> {
        self.event(Frame::DeleteMessage(pb::DeleteMessage {
            conversation_id: conversation_id.to_string(),
            client_msg_id: client_msg_id.to_string(),
            target: Some(target),
        }))
        .await
    }

    /// Adds the caller's `emoji` reaction to a message, or takes it back
    /// with `remove`.
    pub async fn react(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
        target: MessageRef,
        emoji: &str,
        remove: bool,
    ) -> Result<pb::SendAck> {
        self.event(Frame::React(pb::React {
            conversation_id: conversation_id.to_string(),
            client_msg_id: client_msg_id.to_string(),
            target: Some(target),
            emoji: emoji.to_string(),
            remove,
        }))
        .await
    }

    async fn event(&self, frame: Frame) -> Result<pb::SendAck> {
        match self.request(frame).await?.frame {
            Some(server_frame::Frame::SendAck(ack)) => Ok(ack),
            other => Err(unexpected("send_ack", other)),
        }
    }
}
