//! JSON values, one function per kind of item. Seqs and times are numbers;
//! a body is `text` (UTF-8, invalid bytes replaced), except for Tidings'
//! own kinds, which are decoded instead (`membership`; `read` entries).

use serde_json::{Value, json};
use tidings_client::proto::{ConversationSummary, GroupResult, Member, RoomMessage, SendAck};
use tidings_client::{Content, InboxEntry, Message};
use tidings_proto::common::v1::MembershipEvent;
use tidings_proto::common::v1::membership_event::Action;

/// Every field of a message. `text` is null and `membership` set for a
/// membership change; `membership` is null otherwise.
pub fn message(message: &Message) -> Value {
    let (text, membership) = match Content::of(message) {
        Content::Application { body, .. } => (
            Value::String(String::from_utf8_lossy(body).into_owned()),
            Value::Null,
        ),
        Content::Membership(event) => (Value::Null, membership(&event)),
        Content::Read(_) | Content::Event(_) => (Value::Null, Value::Null),
    };
    json!({
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "conv_seq": message.conv_seq,
        "sender_id": message.sender_id,
        "sender_device": message.sender_device,
        "client_msg_id": message.client_msg_id,
        "kind": message.kind,
        "text": text,
        "membership": membership,
        "created_at_ms": message.created_at_ms,
    })
}

fn membership(event: &MembershipEvent) -> Value {
    let action = match Action::try_from(event.action).unwrap_or(Action::Unspecified) {
        Action::Created => "created",
        Action::Added => "added",
        Action::Removed => "removed",
        Action::Unspecified => "unspecified",
    };
    json!({"action": action, "actor": event.actor, "user_ids": event.user_ids})
}

/// A stream item for an inbox entry: `type` `message` with the message, or
/// `type` `read` for a read position that moved.
pub fn entry(entry: &InboxEntry) -> Value {
    let Some(inner) = &entry.message else {
        return json!({
            "type": "message",
            "inbox_seq": entry.seq,
            "conversation_id": entry.conversation_id,
            "conv_seq": entry.conv_seq,
            "message": null,
        });
    };
    if let Content::Read(position) = Content::of(inner) {
        return json!({
            "type": "read",
            "inbox_seq": entry.seq,
            "conversation_id": position.conversation_id,
            "read_seq": position.read_seq,
        });
    }
    json!({
        "type": "message",
        "inbox_seq": entry.seq,
        "conversation_id": entry.conversation_id,
        "conv_seq": entry.conv_seq,
        "message": message(inner),
    })
}

pub fn ack(ack: &SendAck) -> Value {
    json!({
        "message_id": ack.message_id,
        "conversation_id": ack.conversation_id,
        "conv_seq": ack.conv_seq,
        "created_at_ms": ack.created_at_ms,
        "duplicate": ack.duplicate,
    })
}

pub fn group(group: &GroupResult) -> Value {
    json!({
        "group_id": group.group_id,
        "conversation_id": group.conversation_id,
        "name": group.name,
        "owner": group.owner,
        "member_count": group.member_count,
        "large": group.large,
    })
}

pub fn member(member: &Member) -> Value {
    json!({
        "user_id": member.user_id,
        "role": member.role,
        "joined_at_ms": member.joined_at_ms,
    })
}

pub fn summary(summary: &ConversationSummary) -> Value {
    json!({
        "conversation_id": summary.conversation_id,
        "last_conv_seq": summary.last_conv_seq,
        "read_seq": summary.read_seq,
        "unread": summary.unread,
        "latest": summary.latest.iter().map(message).collect::<Vec<_>>(),
    })
}

/// A conversation's read position and unread count (a summary without its
/// latest messages).
pub fn read_position(summary: &ConversationSummary) -> Value {
    json!({
        "conversation_id": summary.conversation_id,
        "last_conv_seq": summary.last_conv_seq,
        "read_seq": summary.read_seq,
        "unread": summary.unread,
    })
}

/// A stream item for a room message.
pub fn room_message(message: &RoomMessage) -> Value {
    json!({
        "type": "room_message",
        "room_id": message.room_id,
        "sender_id": message.sender_id,
        "kind": message.kind,
        "text": String::from_utf8_lossy(&message.body),
        "sent_at_ms": message.sent_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use tidings_client::{MEMBERS_KIND, READ_KIND};
    use tidings_proto::common::v1::ReadPosition;

    use super::*;

    #[test]
    fn entries_carry_the_message_or_the_read_position() {
        let text = InboxEntry {
            seq: 5,
            conversation_id: "dm:alice:bob".into(),
            conv_seq: 2,
            message: Some(Message {
                message_id: "m2".into(),
                conversation_id: "dm:alice:bob".into(),
                conv_seq: 2,
                sender_id: "alice".into(),
                kind: "text".into(),
                body: b"hi".to_vec(),
                ..Message::default()
            }),
        };
        let value = entry(&text);
        assert_eq!(value["type"], "message");
        assert_eq!(value["inbox_seq"], 5);
        assert_eq!(value["message"]["text"], "hi");
        assert_eq!(value["message"]["membership"], Value::Null);

        let read = InboxEntry {
            seq: 6,
            conversation_id: "dm:alice:bob".into(),
            conv_seq: 0,
            message: Some(Message {
                kind: READ_KIND.into(),
                body: ReadPosition {
                    conversation_id: "dm:alice:bob".into(),
                    read_seq: 2,
                }
                .encode_to_vec(),
                ..Message::default()
            }),
        };
        assert_eq!(
            entry(&read),
            json!({"type": "read", "inbox_seq": 6, "conversation_id": "dm:alice:bob", "read_seq": 2})
        );
    }

    #[test]
    fn membership_changes_are_decoded() {
        let event = MembershipEvent {
            action: Action::Removed as i32,
            actor: "alice".into(),
            user_ids: vec!["bob".into()],
        };
        let value = message(&Message {
            kind: MEMBERS_KIND.into(),
            body: event.encode_to_vec(),
            ..Message::default()
        });
        assert_eq!(value["text"], Value::Null);
        assert_eq!(
            value["membership"],
            json!({"action": "removed", "actor": "alice", "user_ids": ["bob"]})
        );
    }
}
