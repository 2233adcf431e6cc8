//! Text lines: tab-separated fields, free text last, control characters
//! escaped so an item never spans lines.

use tidings_client::proto::{ConversationSummary, GroupResult, Member, RoomMessage, SendAck};
use tidings_client::{Content, InboxEntry, Message};
use tidings_core::events::MessageEvent;
use tidings_proto::common::v1::MembershipEvent;
use tidings_proto::common::v1::membership_event::Action;

/// Bytes as one line of text: invalid UTF-8 replaced, control characters
/// escaped.
pub fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// What a message says: a text as is, Tidings' own kinds in parentheses,
/// other kinds as `[kind] body`.
pub fn content_text(message: &Message) -> String {
    match Content::of(message) {
        Content::Application { kind: "text", body } => body_text(body),
        Content::Application { kind, body } => {
            format!("[{}] {}", body_text(kind.as_bytes()), body_text(body))
        }
        Content::Membership(event) => format!("({})", membership_text(&event)),
        Content::Read(position) => format!(
            "(read {} up to {})",
            position.conversation_id, position.read_seq
        ),
        Content::Event(event) => format!("({})", event_text(&event)),
    }
}

/// What an edit, recall, delete or reaction does, naming its target's seq.
fn event_text(event: &MessageEvent) -> String {
    let seq = event.target().conv_seq;
    match event {
        MessageEvent::Edit { body, .. } => format!("edited #{seq}: {}", body_text(body)),
        MessageEvent::Recall { .. } => format!("recalled #{seq}"),
        MessageEvent::Delete { .. } => format!("deleted #{seq}"),
        MessageEvent::Reaction {
            emoji,
            remove: false,
            ..
        } => format!("reacted {emoji} to #{seq}"),
        MessageEvent::Reaction { emoji, .. } => format!("took back {emoji} on #{seq}"),
    }
}

/// A message's state after its events, as History shows it: `(recalled)`,
/// `(deleted)`, or the text with `(edited)` and reaction counts.
fn with_state(message: &Message, text: String) -> String {
    let Some(state) = &message.state else {
        return text;
    };
    if state.recalled {
        return format!("(recalled by {})", state.removed_by);
    }
    if state.deleted {
        return format!("(deleted by {})", state.removed_by);
    }
    let mut line = text;
    if state.edited {
        line.push_str(" (edited)");
    }
    for reaction in &state.reactions {
        let mine = if reaction.reacted_by_me { "*" } else { "" };
        line.push_str(&format!(" [{} {}{mine}]", reaction.emoji, reaction.count));
    }
    line
}

fn membership_text(event: &MembershipEvent) -> String {
    let users = event.user_ids.join(", ");
    match Action::try_from(event.action).unwrap_or(Action::Unspecified) {
        Action::Created => {
            // The creator is among the initial members: name only the others.
            let others: Vec<&str> = event
                .user_ids
                .iter()
                .map(String::as_str)
                .filter(|u| *u != event.actor)
                .collect();
            if others.is_empty() {
                format!("{} created the group", event.actor)
            } else {
                format!(
                    "{} created the group with {}",
                    event.actor,
                    others.join(", ")
                )
            }
        }
        Action::Added => format!("{} added {users}", event.actor),
        Action::Removed => format!("{} removed {users}", event.actor),
        Action::Unspecified => format!("{} changed the members: {users}", event.actor),
    }
}

/// `inbox_seq  conversation  conv_seq  sender  text`
pub fn entry_line(entry: &InboxEntry) -> String {
    let (sender, text) = match &entry.message {
        Some(message) => (message.sender_id.as_str(), content_text(message)),
        None => ("-", String::new()),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        entry.seq, entry.conversation_id, entry.conv_seq, sender, text
    )
}

/// `conv_seq  sender  text`
pub fn message_line(message: &Message) -> String {
    format!(
        "{}\t{}\t{}",
        message.conv_seq,
        message.sender_id,
        with_state(message, content_text(message))
    )
}

/// `conversation  conv_seq  message_id`, plus `duplicate` for a resend.
pub fn ack_line(ack: &SendAck) -> String {
    let mut line = format!(
        "{}\t{}\t{}",
        ack.conversation_id, ack.conv_seq, ack.message_id
    );
    if ack.duplicate {
        line.push_str("\tduplicate");
    }
    line
}

/// `group  conversation  owner  member_count  name`, plus `large` for a
/// group that uses read diffusion.
pub fn group_line(group: &GroupResult) -> String {
    let mut line = format!(
        "{}\t{}\t{}\t{}\t{}",
        group.group_id,
        group.conversation_id,
        group.owner,
        group.member_count,
        body_text(group.name.as_bytes())
    );
    if group.large {
        line.push_str("\tlarge");
    }
    line
}

/// `user  role  joined_at_ms`
pub fn member_line(member: &Member) -> String {
    format!(
        "{}\t{}\t{}",
        member.user_id, member.role, member.joined_at_ms
    )
}

/// `conversation  unread  read_seq  last_conv_seq`
pub fn summary_line(summary: &ConversationSummary) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        summary.conversation_id, summary.unread, summary.read_seq, summary.last_conv_seq
    )
}

/// `room  sender  text`
pub fn room_message_line(message: &RoomMessage) -> String {
    let text = if message.kind == "text" {
        body_text(&message.body)
    } else {
        format!(
            "[{}] {}",
            body_text(message.kind.as_bytes()),
            body_text(&message.body)
        )
    };
    format!("{}\t{}\t{}", message.room_id, message.sender_id, text)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use tidings_client::{MEMBERS_KIND, READ_KIND};
    use tidings_proto::common::v1::ReadPosition;

    use super::*;

    #[test]
    fn bodies_stay_on_one_line() {
        assert_eq!(body_text(b"hi\nthere\t!"), "hi\\nthere\\t!");
        assert_eq!(body_text(&[b'o', b'k', 0xff]), "ok\u{fffd}");
        assert_eq!(body_text("héllo".as_bytes()), "héllo");
    }

    #[test]
    fn entry_lines_list_seq_conversation_sender_and_text() {
        let entry = InboxEntry {
            seq: 12,
            conversation_id: "dm:alice:bob".into(),
            conv_seq: 3,
            message: Some(Message {
                sender_id: "bob".into(),
                kind: "text".into(),
                body: b"hello".to_vec(),
                ..Message::default()
            }),
        };
        assert_eq!(entry_line(&entry), "12\tdm:alice:bob\t3\tbob\thello");
    }

    #[test]
    fn tidings_kinds_read_as_events() {
        let event = MembershipEvent {
            action: Action::Added as i32,
            actor: "alice".into(),
            user_ids: vec!["bob".into(), "carol".into()],
        };
        let members = Message {
            conv_seq: 2,
            sender_id: "alice".into(),
            kind: MEMBERS_KIND.into(),
            body: event.encode_to_vec(),
            ..Message::default()
        };
        assert_eq!(message_line(&members), "2\talice\t(alice added bob, carol)");
        let read = Message {
            kind: READ_KIND.into(),
            body: ReadPosition {
                conversation_id: "g:team".into(),
                read_seq: 7,
            }
            .encode_to_vec(),
            ..Message::default()
        };
        assert_eq!(content_text(&read), "(read g:team up to 7)");
        let created = MembershipEvent {
            action: Action::Created as i32,
            actor: "alice".into(),
            user_ids: vec!["alice".into(), "bob".into()],
        };
        assert_eq!(
            membership_text(&created),
            "alice created the group with bob"
        );
        let other = Message {
            kind: "image".into(),
            body: b"cat.png".to_vec(),
            ..Message::default()
        };
        assert_eq!(content_text(&other), "[image] cat.png");
    }

    #[test]
    fn ack_lines_mark_duplicates() {
        let ack = SendAck {
            message_id: "m1".into(),
            conversation_id: "dm:alice:bob".into(),
            conv_seq: 4,
            created_at_ms: 0,
            duplicate: true,
        };
        assert_eq!(ack_line(&ack), "dm:alice:bob\t4\tm1\tduplicate");
    }
}
