//! Who may edit, recall, delete and react, checked before the event enters
//! the send path. An event is a send like any other (idempotent by
//! client_msg_id, batched, stored then synced); these checks only decide
//! whether a fresh one may be stored, so a refused event stores nothing.
//!
//! Rules: the sender edits and recalls its own messages within
//! `logic.edit_window_secs`; a group's owner deletes any message of the
//! group, and in a 1:1 each side deletes its own messages, at any time; a
//! system sender (the server API) deletes anything; any member reacts to any
//! message, up to `logic.max_distinct_reactions` distinct emoji per message.
//! Nothing applies to a recalled or deleted message, nor to an event.
//!
//! Two events racing on one message are both checked against the state
//! before either, so the reaction limit may be passed by the few events in
//! flight at once; it bounds what one message can grow to, not an exact
//! count.

use tidings_core::events::{MessageEvent, is_event_kind};
use tidings_core::{ConversationId, Error, ErrorCode, UserId, now_ms};
use tidings_proto::common::v1 as common;
use tidings_proto::store::v1::HistoryRequest;

use crate::service::LogicServer;

impl LogicServer {
    /// Fails unless `sender` may append `event` to `conversation` now.
    pub(crate) async fn check_event(
        &self,
        conversation: &ConversationId,
        sender: &UserId,
        system: bool,
        event: &MessageEvent,
    ) -> Result<(), Error> {
        let target = self.event_target(conversation, sender, event).await?;
        let state = target.state.clone().unwrap_or_default();
        if state.recalled || state.deleted {
            return Err(Error::new(
                ErrorCode::MessageRemoved,
                format!("message {} was recalled or deleted", target.message_id),
            ));
        }
        let own = target.sender_id == sender.as_str();
        match event {
            MessageEvent::Edit { .. } | MessageEvent::Recall { .. } => {
                if !own {
                    return Err(Error::new(
                        ErrorCode::Forbidden,
                        "only a message's sender may edit or recall it",
                    ));
                }
                self.check_window(&target)
            }
            MessageEvent::Delete { .. } => {
                if system || self.may_delete(conversation, sender, own).await? {
                    return Ok(());
                }
                Err(Error::new(
                    ErrorCode::Forbidden,
                    match conversation {
                        ConversationId::Group(_) => {
                            "only the group's owner may delete messages of a group"
                        }
                        ConversationId::Direct(..) => {
                            "in a 1:1 conversation only a message's sender may delete it"
                        }
                    },
                ))
            }
            MessageEvent::Reaction { emoji, remove, .. } => {
                let present = state.reactions.iter().any(|r| r.emoji == *emoji);
                let max = self.config.max_distinct_reactions;
                if !remove && !present && state.reactions.len() >= max {
                    return Err(Error::new(
                        ErrorCode::TooManyReactions,
                        format!(
                            "message {} already has {max} distinct reactions \
                             (logic.max_distinct_reactions)",
                            target.message_id
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The message `event` names, folded with its events so far; fails with
    /// `unknown_message` unless it is a message (not an event) of
    /// `conversation` with that id at that conv seq.
    async fn event_target(
        &self,
        conversation: &ConversationId,
        sender: &UserId,
        event: &MessageEvent,
    ) -> Result<common::Message, Error> {
        let wanted = event.target();
        // History, not Range: it answers the message with its state folded.
        let page = self
            .backends
            .store
            .clone()
            .history(HistoryRequest {
                conversation_id: conversation.to_string(),
                before: wanted.conv_seq.saturating_add(1),
                limit: 1,
                max_bytes: 0,
                reader: sender.to_string(),
            })
            .await?
            .into_inner();
        page.messages
            .into_iter()
            .next()
            .filter(|m| {
                m.conv_seq == wanted.conv_seq
                    && m.message_id == wanted.message_id.as_str()
                    && !is_event_kind(&m.kind)
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::UnknownMessage,
                    format!(
                        "no message {} at conv_seq {} in {conversation}",
                        wanted.message_id, wanted.conv_seq
                    ),
                )
            })
    }

    fn check_window(&self, target: &common::Message) -> Result<(), Error> {
        let window_ms = i64::try_from(self.config.edit_window_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        if now_ms().saturating_sub(target.created_at_ms) > window_ms {
            return Err(Error::new(
                ErrorCode::EditWindowPassed,
                format!(
                    "message {} is older than the edit window of {} s \
                     (logic.edit_window_secs)",
                    target.message_id, self.config.edit_window_secs
                ),
            ));
        }
        Ok(())
    }

    /// A group's owner deletes anything in it; in a 1:1, a sender its own.
    async fn may_delete(
        &self,
        conversation: &ConversationId,
        sender: &UserId,
        own: bool,
    ) -> Result<bool, Error> {
        match conversation {
            ConversationId::Direct(..) => Ok(own),
            ConversationId::Group(group) => Ok(self.group(group).await?.owner == sender.as_str()),
        }
    }
}
