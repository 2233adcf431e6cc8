//! Per-conversation cursors and the merged timeline of everything a device
//! has applied, from its inbox (write diffusion) and from conversations'
//! store timelines (read diffusion for large groups, and gap filling).
//!
//! A group's messages reach a device through its inbox while the group is
//! small and through `PullConversation` once it is large. The cursor of a
//! conversation is the highest conv seq applied in it, whichever way it came;
//! a device pulls a conversation when a reported head is above its cursor or
//! when a group message arrives more than one above it.
//!
//! Entries of kind `tidings.read` are not timeline messages: they carry the
//! user's read position in a conversation, kept here as the highest seen.
//!
//! Edits, recalls, deletes and reactions are timeline messages of their own
//! (kinds in `tidings_core::events`): they are applied like any message and
//! also kept by the message they name, so [`ConversationSync::current_of`]
//! shows each message folded with its events in conv seq order, whichever
//! order they arrived in: the same state History shows.

use std::collections::{BTreeMap, HashMap, HashSet};

use prost::Message as _;
use tidings_core::events::{MessageEvent, MessageFold, is_event_kind};
use tidings_proto::common::v1::{Message, ReadPosition};

/// Kind of inbox entries that carry read positions; not timeline messages.
pub const READ_KIND: &str = "tidings.read";

/// Cursors and the merged message timeline.
#[derive(Debug, Clone, Default)]
pub struct ConversationSync {
    cursors: HashMap<String, u64>,
    seen: HashSet<String>,
    messages: Vec<Message>,
    read_positions: HashMap<String, u64>,
    /// Events by the id of the message they name, by their own conv seq.
    events: HashMap<String, BTreeMap<u64, (Message, MessageEvent)>>,
}

impl ConversationSync {
    /// Highest conv seq applied in `conversation` (0 if none).
    pub fn cursor(&self, conversation: &str) -> u64 {
        self.cursors.get(conversation).copied().unwrap_or(0)
    }

    /// Whether applying a message at `conv_seq` would skip messages of a group
    /// conversation that this device has seen before.
    pub fn has_gap_before(&self, message: &Message) -> bool {
        let cursor = self.cursor(&message.conversation_id);
        message.conversation_id.starts_with("g:") && cursor > 0 && message.conv_seq > cursor + 1
    }

    /// Records a message; returns whether it was new (duplicates by message id
    /// are dropped).
    pub fn apply(&mut self, message: &Message) -> bool {
        if message.kind == READ_KIND {
            self.apply_read(message);
            return false;
        }
        if message.conv_seq > 0 {
            let cursor = self
                .cursors
                .entry(message.conversation_id.clone())
                .or_default();
            *cursor = (*cursor).max(message.conv_seq);
        }
        if !message.message_id.is_empty() && !self.seen.insert(message.message_id.clone()) {
            return false;
        }
        if let Ok(Some(event)) = MessageEvent::parse(&message.kind, &message.body) {
            self.events
                .entry(event.target().message_id.to_string())
                .or_default()
                .insert(message.conv_seq, (message.clone(), event));
        }
        self.messages.push(message.clone());
        true
    }

    /// The messages of one conversation as `reader` sees them now, in the
    /// order applied: events left out, each message folded with the events
    /// naming it (`state` set, `body` the latest edit's, or empty once
    /// recalled or deleted).
    pub fn current_of(&self, conversation: &str, reader: &str) -> Vec<Message> {
        self.messages
            .iter()
            .filter(|m| m.conversation_id == conversation && !is_event_kind(&m.kind))
            .map(|m| {
                let mut current = m.clone();
                if let Some(events) = self.events.get(&m.message_id) {
                    let mut fold = MessageFold::default();
                    for (event_message, event) in events.values() {
                        // An event names a message by id and conv seq both.
                        if event.target().conv_seq == m.conv_seq {
                            fold.apply(
                                &event_message.sender_id,
                                event_message.created_at_ms,
                                event,
                            );
                        }
                    }
                    fold.apply_to(&mut current, reader);
                }
                current
            })
            .collect()
    }

    /// Keeps the highest read position: the entries of two devices reading
    /// at once may arrive in either order.
    fn apply_read(&mut self, message: &Message) {
        let Ok(position) = ReadPosition::decode(message.body.as_slice()) else {
            tracing::warn!(message_id = %message.message_id, "unreadable read position entry");
            return;
        };
        let read = self
            .read_positions
            .entry(position.conversation_id)
            .or_default();
        *read = (*read).max(position.read_seq);
    }

    /// The user's read position in `conversation`, as far as this device has
    /// heard (0 if it has heard of none).
    pub fn read_position(&self, conversation: &str) -> u64 {
        self.read_positions.get(conversation).copied().unwrap_or(0)
    }

    /// Every message applied, in the order applied.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The messages of one conversation, in the order applied.
    pub fn messages_of(&self, conversation: &str) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.conversation_id == conversation)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(conv: &str, seq: u64, id: &str) -> Message {
        Message {
            message_id: id.into(),
            conversation_id: conv.into(),
            conv_seq: seq,
            ..Default::default()
        }
    }

    #[test]
    fn cursors_advance_and_duplicates_drop() {
        let mut sync = ConversationSync::default();
        assert!(sync.apply(&msg("g:a", 1, "m1")));
        assert!(!sync.apply(&msg("g:a", 1, "m1")));
        assert!(!sync.has_gap_before(&msg("g:a", 2, "m2")));
        assert!(sync.has_gap_before(&msg("g:a", 4, "m4")));
        assert!(!sync.has_gap_before(&msg("dm:a:b", 9, "x")));
        assert!(sync.apply(&msg("g:a", 4, "m4")));
        assert_eq!(sync.cursor("g:a"), 4);
        let read = Message {
            kind: READ_KIND.into(),
            ..msg("g:a", 0, "read:g:a:4")
        };
        assert!(!sync.apply(&read));
        assert_eq!(sync.messages().len(), 2);
    }

    #[test]
    fn read_positions_keep_the_highest() {
        let mut sync = ConversationSync::default();
        let read = |seq: u64| Message {
            kind: READ_KIND.into(),
            body: ReadPosition {
                conversation_id: "g:a".into(),
                read_seq: seq,
            }
            .encode_to_vec(),
            ..msg("g:a", 0, &format!("read:g:a:{seq}"))
        };
        assert_eq!(sync.read_position("g:a"), 0);
        sync.apply(&read(7));
        sync.apply(&read(5));
        assert_eq!(sync.read_position("g:a"), 7);
        assert_eq!(sync.read_position("g:b"), 0);
        assert!(sync.messages().is_empty());
    }
}
