//! Messages and inbox entries.

use crate::error::{Error, Result};
use crate::ids::{ConversationId, DeviceId, UserId};

/// A position in a timeline. Seqs start at 1; 0 means "before everything".
pub type Seq = u64;

/// Longest message id accepted where one enters the system.
const MAX_MESSAGE_ID: usize = 200;

/// A message's id: derived from `(sender, client_msg_id)` for sends, and
/// made by the server for its own entries (e.g. read positions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Validates and wraps a message id: 1 to 200 bytes.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > MAX_MESSAGE_ID {
            return Err(Error::invalid(format!(
                "message_id must be 1 to {MAX_MESSAGE_ID} bytes, got {}",
                s.len()
            )));
        }
        Ok(MessageId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message in a conversation's store timeline. Its ids are parsed once,
/// where the message enters (a client frame, a gRPC request, a stored row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub conv_seq: Seq,
    pub sender_id: UserId,
    pub sender_device: DeviceId,
    pub client_msg_id: String,
    pub kind: String,
    pub body: Vec<u8>,
    pub created_at_ms: i64,
}

/// An entry of a user's sync timeline (inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Position in the user's inbox.
    pub seq: Seq,
    pub conversation_id: ConversationId,
    pub conv_seq: Seq,
    pub message: Message,
}

/// The message id of `(sender, client_msg_id)`: derived, not random, so a send
/// retried after an abandoned seq carries the same id and devices can drop the
/// duplicate a late write may leave behind.
pub fn message_id_for(sender: &UserId, client_msg_id: &str) -> MessageId {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x7d1c_9a3e_52b4_4c0f_9e61_0b8d_25f4_a713);
    let name = format!("{}\u{0}{}", sender.as_str(), client_msg_id);
    MessageId(
        uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes())
            .simple()
            .to_string(),
    )
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_stable_per_sender_and_client_id() {
        let a = UserId::parse("alice").unwrap();
        let b = UserId::parse("bob").unwrap();
        assert_eq!(message_id_for(&a, "m1"), message_id_for(&a, "m1"));
        assert_ne!(message_id_for(&a, "m1"), message_id_for(&a, "m2"));
        assert_ne!(message_id_for(&a, "m1"), message_id_for(&b, "m1"));
    }
}
