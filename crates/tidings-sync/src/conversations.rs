//! The conversation lists (DESIGN §8: sync owns them): written with the
//! inbox entries of each batch of messages, read by logic for the
//! conversation list and moved forward by read acks.

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
        Ok(pb::ConversationsResponse {
            conversations: list.into_iter().map(state_to_proto).collect(),
        })
    }

    pub(crate) async fn handle_set_read(&self, req: pb::SetReadRequest) -> Result<(), Error> {
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        self.conversations
            .set_read(user.as_str(), &conversation.to_string(), req.read_seq)
            .await?;
        Ok(())
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
