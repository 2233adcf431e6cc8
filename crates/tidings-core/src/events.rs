//! Message events: edits, recalls, deletes and reactions. Each is a message
//! of its own, appended to the target's conversation, so it travels the send
//! path (dedupe, seqs, inboxes, pushes) unchanged and no stored row is ever
//! rewritten. A message's current state is the fold of the events naming it,
//! in conv seq order ([`MessageFold`]); the store folds for History, devices
//! fold as events arrive.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message as _;
use tidings_proto::common::v1 as pb;

use crate::error::{Error, Result};
use crate::message::{MessageId, Seq};

/// Kind of an edit event; body `tidings.common.v1.MessageEdit`.
pub const EDIT_KIND: &str = "tidings.edit";
/// Kind of a recall by the sender; body `tidings.common.v1.MessageRemoval`.
pub const RECALL_KIND: &str = "tidings.recall";
/// Kind of a delete for everyone; body `tidings.common.v1.MessageRemoval`.
pub const DELETE_KIND: &str = "tidings.delete";
/// Kind of a reaction added or removed; body `tidings.common.v1.Reaction`.
pub const REACTION_KIND: &str = "tidings.reaction";

/// Longest emoji accepted, in bytes: a few code points joined (flags, skin
/// tones, ZWJ sequences), never free text.
pub const MAX_EMOJI_BYTES: usize = 32;

/// Whether messages of `kind` are events on another message.
pub fn is_event_kind(kind: &str) -> bool {
    matches!(kind, EDIT_KIND | RECALL_KIND | DELETE_KIND | REACTION_KIND)
}

/// The message an event applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub message_id: MessageId,
    pub conv_seq: Seq,
}

impl Target {
    fn parse(target: Option<pb::MessageRef>) -> Result<Self> {
        let target = target.ok_or_else(|| Error::invalid("target is required"))?;
        if target.conv_seq == 0 {
            return Err(Error::invalid("target.conv_seq must be positive"));
        }
        Ok(Target {
            message_id: MessageId::parse(&target.message_id)
                .map_err(|e| Error::invalid(format!("target.{}", e.message)))?,
            conv_seq: target.conv_seq,
        })
    }

    fn to_proto(&self) -> pb::MessageRef {
        pb::MessageRef {
            message_id: self.message_id.to_string(),
            conv_seq: self.conv_seq,
        }
    }
}

/// One event, parsed from a message of an event kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageEvent {
    Edit {
        target: Target,
        body: Vec<u8>,
    },
    Recall {
        target: Target,
    },
    Delete {
        target: Target,
    },
    Reaction {
        target: Target,
        emoji: String,
        remove: bool,
    },
}

impl MessageEvent {
    /// The event a message of `kind` carries; `None` for other kinds. A
    /// body that does not decode, or names no target, is `invalid_argument`.
    pub fn parse(kind: &str, body: &[u8]) -> Result<Option<Self>> {
        let bad = |e: prost::DecodeError| Error::invalid(format!("{kind} body: {e}"));
        let event = match kind {
            EDIT_KIND => {
                let edit = pb::MessageEdit::decode(body).map_err(bad)?;
                MessageEvent::Edit {
                    target: Target::parse(edit.target)?,
                    body: edit.body,
                }
            }
            RECALL_KIND | DELETE_KIND => {
                let removal = pb::MessageRemoval::decode(body).map_err(bad)?;
                let target = Target::parse(removal.target)?;
                if kind == RECALL_KIND {
                    MessageEvent::Recall { target }
                } else {
                    MessageEvent::Delete { target }
                }
            }
            REACTION_KIND => {
                let reaction = pb::Reaction::decode(body).map_err(bad)?;
                let target = Target::parse(reaction.target)?;
                if reaction.emoji.is_empty() || reaction.emoji.len() > MAX_EMOJI_BYTES {
                    return Err(Error::invalid(format!(
                        "emoji must be 1 to {MAX_EMOJI_BYTES} bytes, got {}",
                        reaction.emoji.len()
                    )));
                }
                if reaction.emoji.chars().any(char::is_whitespace) {
                    return Err(Error::invalid("emoji must not contain whitespace"));
                }
                MessageEvent::Reaction {
                    target,
                    emoji: reaction.emoji,
                    remove: reaction.remove,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    pub fn target(&self) -> &Target {
        match self {
            MessageEvent::Edit { target, .. }
            | MessageEvent::Recall { target }
            | MessageEvent::Delete { target }
            | MessageEvent::Reaction { target, .. } => target,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            MessageEvent::Edit { .. } => EDIT_KIND,
            MessageEvent::Recall { .. } => RECALL_KIND,
            MessageEvent::Delete { .. } => DELETE_KIND,
            MessageEvent::Reaction { .. } => REACTION_KIND,
        }
    }

    /// The body of the event's message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            MessageEvent::Edit { target, body } => pb::MessageEdit {
                target: Some(target.to_proto()),
                body: body.clone(),
            }
            .encode_to_vec(),
            MessageEvent::Recall { target } | MessageEvent::Delete { target } => {
                pb::MessageRemoval {
                    target: Some(target.to_proto()),
                }
                .encode_to_vec()
            }
            MessageEvent::Reaction {
                target,
                emoji,
                remove,
            } => pb::Reaction {
                target: Some(target.to_proto()),
                emoji: emoji.clone(),
                remove: *remove,
            }
            .encode_to_vec(),
        }
    }
}

/// The state of one message, built by applying its events in conv seq order.
/// Applying the same event twice changes nothing (a retried event stored at
/// a second seq folds to the same state), which is what lets the store and
/// every device fold independently and agree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFold {
    edit: Option<(Vec<u8>, i64)>,
    recalled: bool,
    deleted: bool,
    removed_by: String,
    /// Who reacted, by emoji; an emoji with nobody left is dropped.
    reactions: BTreeMap<String, BTreeSet<String>>,
}

impl MessageFold {
    /// Applies one event sent by `sender` at `created_at_ms`.
    pub fn apply(&mut self, sender: &str, created_at_ms: i64, event: &MessageEvent) {
        match event {
            // Nothing changes a removed message back.
            _ if self.is_removed() => {}
            MessageEvent::Edit { body, .. } => self.edit = Some((body.clone(), created_at_ms)),
            MessageEvent::Recall { .. } => {
                self.recalled = true;
                self.removed_by = sender.to_string();
            }
            MessageEvent::Delete { .. } => {
                self.deleted = true;
                self.removed_by = sender.to_string();
            }
            MessageEvent::Reaction { emoji, remove, .. } => {
                let users = self.reactions.entry(emoji.clone()).or_default();
                if *remove {
                    users.remove(sender);
                    if users.is_empty() {
                        self.reactions.remove(emoji);
                    }
                } else {
                    users.insert(sender.to_string());
                }
            }
        }
    }

    pub fn is_removed(&self) -> bool {
        self.recalled || self.deleted
    }

    /// Distinct emoji on the message now.
    pub fn distinct_reactions(&self) -> usize {
        self.reactions.len()
    }

    /// Whether `emoji` is already on the message (by anyone).
    pub fn has_reaction(&self, emoji: &str) -> bool {
        self.reactions.contains_key(emoji)
    }

    /// Folds the events into `message` as `reader` sees it: `state` set
    /// when some event changed anything, `body` the latest edit's, or empty
    /// once the message was recalled or deleted.
    pub fn apply_to(&self, message: &mut pb::Message, reader: &str) {
        if *self == MessageFold::default() {
            return;
        }
        if self.is_removed() {
            message.body.clear();
        } else if let Some((body, _)) = &self.edit {
            message.body.clone_from(body);
        }
        message.state = Some(pb::MessageState {
            edited: self.edit.is_some(),
            edited_at_ms: self.edit.as_ref().map_or(0, |(_, at)| *at),
            recalled: self.recalled,
            deleted: self.deleted,
            removed_by: self.removed_by.clone(),
            reactions: self
                .reactions
                .iter()
                .map(|(emoji, users)| pb::ReactionCount {
                    emoji: emoji.clone(),
                    count: users.len() as u64,
                    reacted_by_me: users.contains(reader),
                })
                .collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            message_id: MessageId::parse("m1").unwrap(),
            conv_seq: 3,
        }
    }

    fn reaction(emoji: &str, remove: bool) -> MessageEvent {
        MessageEvent::Reaction {
            target: target(),
            emoji: emoji.into(),
            remove,
        }
    }

    #[test]
    fn events_round_trip_through_their_bodies() {
        let events = [
            MessageEvent::Edit {
                target: target(),
                body: b"new".to_vec(),
            },
            MessageEvent::Recall { target: target() },
            MessageEvent::Delete { target: target() },
            reaction("👍", true),
        ];
        for event in events {
            let parsed = MessageEvent::parse(event.kind(), &event.encode()).unwrap();
            assert_eq!(parsed, Some(event));
        }
        assert_eq!(MessageEvent::parse("text", b"anything").unwrap(), None);
    }

    #[test]
    fn bad_events_are_refused() {
        let no_target = pb::MessageRemoval { target: None }.encode_to_vec();
        assert!(MessageEvent::parse(RECALL_KIND, &no_target).is_err());
        for emoji in ["", "a b", &"x".repeat(MAX_EMOJI_BYTES + 1)] {
            let body = pb::Reaction {
                target: Some(target().to_proto()),
                emoji: emoji.into(),
                remove: false,
            }
            .encode_to_vec();
            assert!(
                MessageEvent::parse(REACTION_KIND, &body).is_err(),
                "{emoji:?}"
            );
        }
        assert!(MessageEvent::parse(EDIT_KIND, &[0xff, 0xff]).is_err());
    }

    #[test]
    fn the_fold_is_idempotent_and_removal_is_final() {
        let original = pb::Message {
            body: b"typo".to_vec(),
            ..Default::default()
        };
        let mut fold = MessageFold::default();
        let mut seen = original.clone();
        fold.apply_to(&mut seen, "bob");
        assert_eq!(seen, original, "no events, no state");
        for _ in 0..2 {
            fold.apply("bob", 5, &reaction("👍", false));
            fold.apply("carol", 6, &reaction("👍", false));
            fold.apply("carol", 7, &reaction("🎉", false));
        }
        fold.apply("carol", 8, &reaction("🎉", true));
        let edit = MessageEvent::Edit {
            target: target(),
            body: b"fixed".to_vec(),
        };
        fold.apply("alice", 9, &edit);
        let mut seen = original.clone();
        fold.apply_to(&mut seen, "bob");
        let state = seen.state.unwrap();
        assert!(state.edited);
        assert_eq!(
            (seen.body.as_slice(), state.edited_at_ms),
            (&b"fixed"[..], 9)
        );
        assert_eq!(state.reactions.len(), 1);
        let thumbs = &state.reactions[0];
        assert_eq!((thumbs.count, thumbs.reacted_by_me), (2, true));

        fold.apply("alice", 10, &MessageEvent::Recall { target: target() });
        fold.apply("bob", 11, &reaction("👀", false));
        let mut seen = original.clone();
        fold.apply_to(&mut seen, "dave");
        let state = seen.state.unwrap();
        assert!(state.recalled && seen.body.is_empty());
        assert_eq!(state.removed_by, "alice");
        assert_eq!(
            fold.distinct_reactions(),
            1,
            "nothing applies after a recall"
        );
    }
}
