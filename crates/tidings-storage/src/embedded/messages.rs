//! Store timelines: `messages` keyed `conversation ++ 0x00 ++ conv_seq`, the
//! value a `tidings.common.v1.Message`.
//!
//! A timeline is nothing but its rows: there is no bucket index or count to
//! keep in step, so removing a row leaves exactly what a timeline that never
//! had it would hold, and range reads (and `has_more`, which looks at the row
//! after a page) cannot tell the difference.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use prost::Message as _;
use tidings_core::{Message, Seq};
use tidings_proto::common::v1 as pb;

use super::codec::{decode, message_from_row, numbered_key};
use super::{EmbeddedStore, backend, read_sized_page};
use crate::{MAX_COUNT, MessageStore, Page, PageLimit, StorageError};

const TABLE: &str = "messages";

/// The sender of a stored `tidings.common.v1.Message`, alone: decoding it
/// skips every other field (the body among them) without copying it.
#[derive(Clone, PartialEq, prost::Message)]
struct Sender {
    #[prost(string, tag = "4")]
    sender_id: String,
}

#[async_trait]
impl MessageStore for EmbeddedStore {
    async fn append_messages(&self, messages: &[Message]) -> Result<(), StorageError> {
        if messages.is_empty() {
            return Ok(());
        }
        // Keyed, so a message repeated within one call is written once (the
        // last copy, as if the calls had been separate).
        let rows = messages
            .iter()
            .map(|m| {
                let key = numbered_key(&m.conversation_id.to_string(), m.conv_seq)?;
                Ok((key, pb::Message::from(m.clone()).encode_to_vec()))
            })
            .collect::<Result<BTreeMap<_, _>, StorageError>>()?;
        self.write(move |tables| {
            let mut batch = tables.db.batch();
            for (key, value) in rows {
                batch.insert(&tables.messages, key, value);
            }
            batch.commit().map_err(|e| backend("commit messages", e))
        })
        .await
    }

    /// Removes every key in one fjall batch, behind one durable commit.
    /// Removing an absent key writes a tombstone that hides nothing.
    async fn delete_messages(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let keys = seqs
            .iter()
            .map(|(conversation, seq)| numbered_key(conversation, *seq))
            .collect::<Result<BTreeSet<_>, StorageError>>()?;
        self.write(move |tables| {
            let mut batch = tables.db.batch();
            for key in keys {
                batch.remove(&tables.messages, key);
            }
            batch
                .commit()
                .map_err(|e| backend("commit message deletes", e))
        })
        .await
    }

    async fn read_messages(
        &self,
        conversation: &str,
        after: Seq,
        up_to: Option<Seq>,
        limit: PageLimit,
    ) -> Result<Page<Message>, StorageError> {
        let last = up_to.unwrap_or(Seq::MAX);
        if after >= last {
            return Ok(empty_page());
        }
        let start = numbered_key(conversation, after + 1)?;
        let end = numbered_key(conversation, last)?;
        self.blocking(move |tables| {
            let rows = tables.messages.range(start..=end);
            let (items, has_more) = read_sized_page(rows, limit, decode_message)?;
            Ok(Page { items, has_more })
        })
        .await
    }

    async fn read_history(
        &self,
        conversation: &str,
        before: Option<Seq>,
        limit: PageLimit,
    ) -> Result<Page<Message>, StorageError> {
        let last = match before {
            Some(0) => return Ok(empty_page()),
            Some(before) => before - 1,
            None => Seq::MAX,
        };
        let start = numbered_key(conversation, 0)?;
        let end = numbered_key(conversation, last)?;
        self.blocking(move |tables| {
            let rows = tables.messages.range(start..=end).rev();
            let (items, has_more) = read_sized_page(rows, limit, decode_message)?;
            Ok(Page { items, has_more })
        })
        .await
    }

    async fn count_messages(
        &self,
        conversation: &str,
        after: Seq,
        up_to: Seq,
        except_sender: &str,
        limit: usize,
    ) -> Result<u64, StorageError> {
        if after >= up_to {
            return Ok(0);
        }
        let start = numbered_key(conversation, after + 1)?;
        let end = numbered_key(conversation, up_to)?;
        let limit = limit.min(MAX_COUNT);
        let except_sender = except_sender.to_string();
        self.blocking(move |tables| {
            let mut others = 0;
            for row in tables.messages.range(start..=end).take(limit) {
                let (_, value) = row.into_inner().map_err(|e| backend("count messages", e))?;
                if decode::<Sender>(TABLE, &value)?.sender_id != except_sender {
                    others += 1;
                }
            }
            Ok(others)
        })
        .await
    }

    async fn append_events(&self, events: &[(Seq, Message)]) -> Result<(), StorageError> {
        self.append_event_rows(events).await
    }

    async fn read_events(
        &self,
        conversation: &str,
        first: Seq,
        last: Seq,
        limit: usize,
    ) -> Result<Page<(Seq, Message)>, StorageError> {
        self.read_event_rows(conversation, first, last, limit).await
    }
}

fn decode_message(_key: &[u8], value: &[u8]) -> Result<Option<Message>, StorageError> {
    Ok(Some(message_from_row(
        TABLE,
        decode::<pb::Message>(TABLE, value)?,
    )?))
}

fn empty_page() -> Page<Message> {
    Page {
        items: Vec::new(),
        has_more: false,
    }
}
