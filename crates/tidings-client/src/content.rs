//! What a message holds, read by its kind.
//!
//! Tidings writes two kinds of its own into timelines: membership changes in
//! a group's timeline ([`MEMBERS_KIND`]) and read positions in a user's inbox
//! ([`READ_KIND`]). Their bodies are protobuf messages of
//! `tidings.common.v1`. Every other kind (e.g. `text`) belongs to the
//! application and its body is opaque to Tidings.

use prost::Message as _;
use tidings_core::events::MessageEvent;
use tidings_proto::common::v1::{MembershipEvent, Message, ReadPosition};

use crate::conversation_sync::READ_KIND;

/// Kind of the messages that record a change to a group's members, written
/// into the group's timeline; the body is a `MembershipEvent`.
pub const MEMBERS_KIND: &str = "tidings.members";

/// A message's body, decoded when its kind is one of Tidings' own.
#[derive(Debug, Clone, PartialEq)]
pub enum Content<'a> {
    /// A kind Tidings does not interpret: the application's kind and bytes.
    Application { kind: &'a str, body: &'a [u8] },
    /// A group's members changed (kind [`MEMBERS_KIND`]).
    Membership(MembershipEvent),
    /// The user's read position in a conversation moved (kind
    /// [`READ_KIND`]; inbox entries only, never in a store timeline).
    Read(ReadPosition),
    /// An edit, recall, delete or reaction naming another message (kinds
    /// in `tidings_core::events`).
    Event(MessageEvent),
}

impl<'a> Content<'a> {
    /// Reads `message` by its kind. A body of a Tidings kind that does not
    /// decode is returned as [`Content::Application`], so nothing is hidden.
    pub fn of(message: &'a Message) -> Self {
        let body = message.body.as_slice();
        let decoded = match message.kind.as_str() {
            MEMBERS_KIND => MembershipEvent::decode(body).ok().map(Content::Membership),
            READ_KIND => ReadPosition::decode(body).ok().map(Content::Read),
            kind => MessageEvent::parse(kind, body)
                .ok()
                .flatten()
                .map(Content::Event),
        };
        decoded.unwrap_or(Content::Application {
            kind: &message.kind,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_proto::common::v1::membership_event::Action;

    fn message(kind: &str, body: Vec<u8>) -> Message {
        Message {
            kind: kind.into(),
            body,
            ..Message::default()
        }
    }

    #[test]
    fn tidings_kinds_decode_and_others_stay_raw() {
        let event = MembershipEvent {
            action: Action::Added as i32,
            actor: "alice".into(),
            user_ids: vec!["bob".into()],
        };
        let members = message(MEMBERS_KIND, event.encode_to_vec());
        assert_eq!(Content::of(&members), Content::Membership(event));

        let position = ReadPosition {
            conversation_id: "g:team".into(),
            read_seq: 4,
        };
        let read = message(READ_KIND, position.encode_to_vec());
        assert_eq!(Content::of(&read), Content::Read(position));

        let text = message("text", b"hello".to_vec());
        assert_eq!(
            Content::of(&text),
            Content::Application {
                kind: "text",
                body: b"hello"
            }
        );
    }

    #[test]
    fn an_undecodable_tidings_body_stays_raw() {
        let broken = message(MEMBERS_KIND, vec![0xff, 0xff]);
        assert!(matches!(
            Content::of(&broken),
            Content::Application {
                kind: MEMBERS_KIND,
                ..
            }
        ));
    }
}
