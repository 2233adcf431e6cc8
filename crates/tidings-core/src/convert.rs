//! Conversions between domain types and generated proto types.

use tidings_proto::common::v1 as pb;

use crate::error::{Error, Result};
use crate::ids::{ConversationId, DeviceId, UserId};
use crate::message::{InboxEntry, Message, MessageId};

impl From<Message> for pb::Message {
    fn from(m: Message) -> Self {
        pb::Message {
            message_id: m.message_id.into_string(),
            conversation_id: m.conversation_id.to_string(),
            conv_seq: m.conv_seq,
            sender_id: m.sender_id.to_string(),
            sender_device: m.sender_device.to_string(),
            client_msg_id: m.client_msg_id,
            kind: m.kind,
            body: m.body,
            created_at_ms: m.created_at_ms,
            // The store's fold adds it to the answers that carry it.
            state: None,
        }
    }
}

/// Parses the ids of a message from the wire, once.
impl TryFrom<pb::Message> for Message {
    type Error = Error;

    fn try_from(m: pb::Message) -> Result<Self> {
        Ok(Message {
            message_id: MessageId::parse(&m.message_id)?,
            conversation_id: ConversationId::parse(&m.conversation_id)?,
            conv_seq: m.conv_seq,
            sender_id: UserId::parse(&m.sender_id)?,
            sender_device: DeviceId::parse(&m.sender_device)?,
            client_msg_id: m.client_msg_id,
            kind: m.kind,
            body: m.body,
            created_at_ms: m.created_at_ms,
        })
    }
}

impl From<InboxEntry> for pb::InboxEntry {
    fn from(e: InboxEntry) -> Self {
        pb::InboxEntry {
            seq: e.seq,
            conversation_id: e.conversation_id.to_string(),
            conv_seq: e.conv_seq,
            message: Some(e.message.into()),
        }
    }
}

impl TryFrom<pb::InboxEntry> for InboxEntry {
    type Error = Error;

    fn try_from(e: pb::InboxEntry) -> Result<Self> {
        let message = e
            .message
            .ok_or_else(|| Error::invalid("inbox entry without message"))?;
        if e.seq == 0 {
            return Err(Error::invalid("inbox entry seq must be positive"));
        }
        Ok(InboxEntry {
            seq: e.seq,
            conversation_id: ConversationId::parse(&e.conversation_id)?,
            conv_seq: e.conv_seq,
            message: Message::try_from(message)?,
        })
    }
}
