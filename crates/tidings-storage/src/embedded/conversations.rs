//! Conversation lists: `conversations` keyed `user ++ 0x00 ++ conversation`,
//! the value a [`ConversationRow`] (latest message as a
//! `tidings.common.v1.Message`, read position, time of the latest message).
//!
//! Both writes are forward-only read-modify-writes under the users' lock
//! stripes: a touch with a lower conv seq than the recorded one, or a read
//! position lower than the recorded one, changes nothing. A list is one
//! prefix scan, sorted in memory (a user has a few hundred conversations, not
//! millions).

use std::collections::BTreeMap;

use async_trait::async_trait;
use prost::Message as _;
use tidings_core::{Message, Seq};
use tidings_proto::common::v1 as pb;

use super::codec::{ConversationRow, decode, id_prefix, key_name, message_from_row, named_key};
use super::{EmbeddedStore, FjallTables, backend, lock_users};
use crate::{ConversationState, ConversationStore, StorageError, sort_conversation_list};

const TABLE: &str = "conversations";

#[async_trait]
impl ConversationStore for EmbeddedStore {
    /// Keeps, per `(user, conversation)`, the touch with the highest conv
    /// seq (the last of equal ones), then does every read-modify-write under
    /// the users' lock stripes in one fjall batch, behind one durable commit.
    async fn touch_conversations(&self, touches: &[(String, Message)]) -> Result<(), StorageError> {
        if touches.is_empty() {
            return Ok(());
        }
        let mut latest: BTreeMap<(&str, String), &Message> = BTreeMap::new();
        for (user, message) in touches {
            let slot = latest
                .entry((user.as_str(), message.conversation_id.to_string()))
                .or_insert(message);
            if message.conv_seq >= slot.conv_seq {
                *slot = message;
            }
        }
        let rows = latest
            .into_iter()
            .map(|((user, conversation), message)| {
                let key = named_key(user, &conversation)?;
                Ok((user.to_string(), key, pb::Message::from(message.clone())))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.write(move |tables| {
            let users = rows.iter().map(|(user, ..)| user.as_str());
            let _guards = lock_users(&tables.conversation_locks, users);
            let mut batch = tables.db.batch();
            for (_, key, preview) in rows {
                let mut row = tables.conversation(&key)?.unwrap_or_default();
                if row.last_conv_seq > preview.conv_seq {
                    continue;
                }
                row.last_conv_seq = preview.conv_seq;
                row.updated_at_ms = preview.created_at_ms;
                row.last_message = Some(preview);
                batch.insert(&tables.conversations, key, row.encode_to_vec());
            }
            batch
                .commit()
                .map_err(|e| backend("commit conversations", e))
        })
        .await
    }

    async fn set_read(
        &self,
        user: &str,
        conversation: &str,
        read_seq: Seq,
    ) -> Result<(), StorageError> {
        let key = named_key(user, conversation)?;
        let user = user.to_string();
        self.write(move |tables| {
            let _guards = lock_users(&tables.conversation_locks, std::iter::once(user.as_str()));
            let recorded = tables.conversation(&key)?;
            if recorded
                .as_ref()
                .is_some_and(|row| row.read_seq >= read_seq)
            {
                return Ok(());
            }
            let mut row = recorded.unwrap_or_default();
            row.read_seq = read_seq;
            let mut batch = tables.db.batch();
            batch.insert(&tables.conversations, key, row.encode_to_vec());
            batch
                .commit()
                .map_err(|e| backend("commit read position", e))
        })
        .await
    }

    async fn get_conversation(
        &self,
        user: &str,
        conversation: &str,
    ) -> Result<Option<ConversationState>, StorageError> {
        let key = named_key(user, conversation)?;
        let conversation = conversation.to_string();
        self.blocking(move |tables| {
            tables
                .conversation(&key)?
                .map(|row| state_from_row(conversation, row))
                .transpose()
        })
        .await
    }

    async fn list_conversations(&self, user: &str) -> Result<Vec<ConversationState>, StorageError> {
        let prefix = id_prefix(user)?;
        self.blocking(move |tables| {
            let mut list = Vec::new();
            for row in tables.conversations.prefix(&prefix) {
                let (key, value) = row
                    .into_inner()
                    .map_err(|e| backend("scan conversations", e))?;
                let conversation = key_name(TABLE, prefix.len(), &key)?;
                list.push(state_from_row(conversation, decode(TABLE, &value)?)?);
            }
            sort_conversation_list(&mut list);
            Ok(list)
        })
        .await
    }
}

impl FjallTables {
    fn conversation(&self, key: &[u8]) -> Result<Option<ConversationRow>, StorageError> {
        self.conversations
            .get(key)
            .map_err(|e| backend("read conversation", e))?
            .map(|value| decode(TABLE, &value))
            .transpose()
    }
}

fn state_from_row(
    conversation_id: String,
    row: ConversationRow,
) -> Result<ConversationState, StorageError> {
    Ok(ConversationState {
        conversation_id,
        last_conv_seq: row.last_conv_seq,
        last_message: row
            .last_message
            .map(|m| message_from_row(TABLE, m))
            .transpose()?,
        read_seq: row.read_seq,
        updated_at_ms: row.updated_at_ms,
    })
}
