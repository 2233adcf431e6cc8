//! Conversions between domain types and generated proto types.

use tidings_proto::common::v1 as pb;

use crate::error::{Error, Result};
use crate::message::{InboxEntry, Message};

impl From<Message> for pb::Message {
    fn from(m: Message) -> Self {
        pb::Message {
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            conv_seq: m.conv_seq,
            sender_id: m.sender_id,
            sender_device: m.sender_device,
            client_msg_id: m.client_msg_id,
            kind: m.kind,
            body: m.body,
            created_at_ms: m.created_at_ms,
        }
    }
}

impl From<pb::Message> for Message {
    fn from(m: pb::Message) -> Self {
        Message {
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            conv_seq: m.conv_seq,
            sender_id: m.sender_id,
            sender_device: m.sender_device,
            client_msg_id: m.client_msg_id,
            kind: m.kind,
            body: m.body,
            created_at_ms: m.created_at_ms,
        }
    }
}

impl From<InboxEntry> for pb::InboxEntry {
    fn from(e: InboxEntry) -> Self {
        pb::InboxEntry {
            seq: e.seq,
            conversation_id: e.conversation_id,
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
            conversation_id: e.conversation_id,
            conv_seq: e.conv_seq,
            message: message.into(),
        })
    }
}
