//! Conversation lists: `conversations ((user_id), conversation_id)`, one
//! partition per user.
//!
//! Both writes move forward only, without a read, a lock or a lightweight
//! transaction (a touch is on the message path), by the trick `inbox_expiry`
//! uses: a cell keeps the value written with the highest timestamp, so
//! * a touch writes `last_conv_seq`, `last_message` (a protobuf
//!   `tidings.common.v1.Message`, like inbox entries) and `updated_at_ms`
//!   `USING TIMESTAMP <conv seq>`: a touch for an older message arriving
//!   late loses to the newer one already there, on every replica;
//! * `set_read` writes `read_seq` `USING TIMESTAMP <read seq>`: a lower read
//!   position loses the same way.
//!
//! The two sets of columns never share a write, so neither disturbs the
//! other. Two different messages at one conv seq (an abandoned seq written
//! late) tie, and the server then keeps the greater value per column. Seqs
//! must stay below 2^63 to serve as timestamps, and nothing may delete these
//! rows with a server timestamp (it would hide every later write).
//!
//! A list reads the user's partition (paged) and sorts it in memory: a user
//! has a few hundred conversations, not millions.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use prost::Message as _;
use tidings_core::{Message, Seq};
use tidings_proto::common::v1 as pb;
use tidings_storage::{ConversationState, ConversationStore, StorageError, sort_conversation_list};

use crate::codec::{decode_message, seq_from_cql, signed_seq};
use crate::store::ScyllaStore;

const TABLE: &str = "conversations";

/// Columns read back for one conversation.
type ConversationRow = (Option<i64>, Option<Vec<u8>>, Option<i64>, Option<i64>);

#[async_trait]
impl ConversationStore for ScyllaStore {
    /// Keeps, per `(user, conversation)`, the touch with the highest conv
    /// seq (the last of equal ones: two writes at one timestamp would be
    /// settled by value, not by order), then writes each, bounded like every
    /// batch of writes.
    async fn touch_conversations(&self, touches: &[(String, Message)]) -> Result<(), StorageError> {
        let mut latest: BTreeMap<(&str, String), &Message> = BTreeMap::new();
        for (user, message) in touches {
            let slot = latest
                .entry((user.as_str(), message.conversation_id.to_string()))
                .or_insert(message);
            if message.conv_seq >= slot.conv_seq {
                *slot = message;
            }
        }
        let statement = &self.statements.touch_conversation;
        let mut writes = Vec::with_capacity(latest.len());
        for ((user, conversation), message) in latest {
            let conv_seq = signed_seq("conv seq", message.conv_seq)?;
            let preview = pb::Message::from(message.clone()).encode_to_vec();
            writes.push(async move {
                let values = (
                    conv_seq,
                    conv_seq,
                    preview,
                    message.created_at_ms,
                    user,
                    conversation,
                );
                self.write("touch conversation", statement, values).await
            });
        }
        self.write_all(writes).await
    }

    async fn set_read(
        &self,
        user: &str,
        conversation: &str,
        read_seq: Seq,
    ) -> Result<(), StorageError> {
        let read_seq = signed_seq("read seq", read_seq)?;
        let values = (read_seq, read_seq, user, conversation);
        self.write("set read position", &self.statements.set_read, values)
            .await
    }

    async fn get_conversation(
        &self,
        user: &str,
        conversation: &str,
    ) -> Result<Option<ConversationState>, StorageError> {
        let statement = &self.statements.select_conversation;
        let row: Option<ConversationRow> = self
            .one_row("read conversation", statement, (user, conversation))
            .await?;
        row.map(|row| state_from_row(conversation.to_string(), row))
            .transpose()
    }

    async fn list_conversations(&self, user: &str) -> Result<Vec<ConversationState>, StorageError> {
        let statement = &self.statements.list_conversations;
        let mut list: Vec<ConversationState> = self
            .rows::<(
                String,
                Option<i64>,
                Option<Vec<u8>>,
                Option<i64>,
                Option<i64>,
            )>("list conversations", statement, (user,))
            .await?
            .and_then(|(conversation, last, message, read, updated)| async move {
                state_from_row(conversation, (last, message, read, updated))
            })
            .try_collect()
            .await?;
        sort_conversation_list(&mut list);
        Ok(list)
    }
}

fn state_from_row(
    conversation_id: String,
    (last_conv_seq, last_message, read_seq, updated_at_ms): ConversationRow,
) -> Result<ConversationState, StorageError> {
    let last_message = last_message
        .map(|bytes| decode_message(TABLE, &bytes))
        .transpose()?;
    Ok(ConversationState {
        conversation_id,
        last_conv_seq: last_conv_seq.map_or(0, seq_from_cql),
        last_message,
        read_seq: read_seq.map_or(0, seq_from_cql),
        updated_at_ms: updated_at_ms.unwrap_or_default(),
    })
}
