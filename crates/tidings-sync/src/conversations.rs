//! The conversation lists (DESIGN §8: sync owns them): written with the
//! inbox entries of each batch of messages, read by logic for the
//! conversation list and moved forward by read acks. Read positions never
//! move back, whoever asks.

use prost::Message as _;
use tidings_core::wire::{answer_budget, delimited_len};
use tidings_core::{ConversationId, Error, UserId};
use tidings_proto::sync::v1 as pb;
use tidings_storage::ConversationState;

use crate::SyncServer;

impl SyncServer {
    pub(crate) async fn handle_conversations(
        &self,
        req: pb::ConversationsRequest,
    ) -> Result<pb::ConversationsResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let list = self.conversations.list_conversations(user.as_str()).await?;
        let mut conversations: Vec<pb::ConversationState> =
            list.into_iter().map(state_to_proto).collect();
        drop_previews_past(&mut conversations, answer_budget(req.max_bytes));
        Ok(pb::ConversationsResponse { conversations })
    }

    /// Stores a forward-only read position and answers the one recorded
    /// afterwards, read back so that a lower position, or one racing a
    /// higher one from another device, is answered with what the list shows.
    pub(crate) async fn handle_set_read(
        &self,
        req: pb::SetReadRequest,
    ) -> Result<pb::SetReadResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?.to_string();
        self.conversations
            .set_read(user.as_str(), &conversation, req.read_seq)
            .await?;
        let read_seq = self.read_position(&user, &conversation).await?;
        Ok(pb::SetReadResponse { read_seq })
    }

    pub(crate) async fn handle_read_position(
        &self,
        req: pb::ReadPositionRequest,
    ) -> Result<pb::ReadPositionResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?.to_string();
        let read_seq = self.read_position(&user, &conversation).await?;
        Ok(pb::ReadPositionResponse { read_seq })
    }

    async fn read_position(&self, user: &UserId, conversation: &str) -> Result<u64, Error> {
        let state = self
            .conversations
            .get_conversation(user.as_str(), conversation)
            .await?;
        Ok(state.map_or(0, |s| s.read_seq))
    }
}

/// Leaves out the last messages that would take the list past `budget`
/// bytes: those of the least recently updated conversations, so that a
/// user with many conversations of large messages still gets an answer that
/// fits a gRPC message. The conversations themselves all stay.
fn drop_previews_past(conversations: &mut [pb::ConversationState], budget: usize) {
    // (bytes of the state without its preview, bytes the preview adds).
    let sizes: Vec<(usize, usize)> = conversations
        .iter()
        .map(|c| {
            let whole = c.encoded_len();
            let preview = c
                .last_message
                .as_ref()
                .map_or(0, |m| delimited_len(m.encoded_len()));
            let bare = delimited_len(whole - preview);
            (bare, delimited_len(whole) - bare)
        })
        .collect();
    let mut left = budget.saturating_sub(sizes.iter().map(|(bare, _)| bare).sum());
    let mut full = false;
    for (conversation, (_, preview)) in conversations.iter_mut().zip(sizes) {
        full = full || preview > left;
        if full {
            conversation.last_message = None;
        } else {
            left -= preview;
        }
    }
}

fn state_to_proto(state: ConversationState) -> pb::ConversationState {
    pb::ConversationState {
        conversation_id: state.conversation_id,
        last_conv_seq: state.last_conv_seq,
        read_seq: state.read_seq,
        updated_at_ms: state.updated_at_ms,
        last_message: state.last_message.map(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use tidings_proto::common::v1::Message;

    use super::*;

    fn state(n: u64, body: usize) -> pb::ConversationState {
        pb::ConversationState {
            conversation_id: format!("g:group-{n}"),
            last_conv_seq: n,
            updated_at_ms: 1_700_000_000_000 - n as i64,
            last_message: Some(Message {
                message_id: format!("m{n}"),
                body: vec![1; body],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn previews_past_the_budget_are_left_out_from_the_least_recent() {
        let mut list: Vec<_> = (1..=10).map(|n| state(n, 10_000)).collect();
        drop_previews_past(&mut list, 25_000);
        let kept: Vec<bool> = list.iter().map(|c| c.last_message.is_some()).collect();
        assert_eq!(
            kept,
            [
                true, true, false, false, false, false, false, false, false, false
            ]
        );
        let answer = pb::ConversationsResponse {
            conversations: list,
        };
        assert!(answer.encoded_len() <= 25_000, "{}", answer.encoded_len());
        assert_eq!(answer.conversations.len(), 10);

        let mut list: Vec<_> = (1..=3).map(|n| state(n, 100)).collect();
        let before = list.clone();
        drop_previews_past(&mut list, 1 << 20);
        assert_eq!(list, before);
    }
}
