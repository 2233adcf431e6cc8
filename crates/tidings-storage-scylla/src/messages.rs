//! Store timelines: `messages` partitioned by `(conversation_id, bucket)`,
//! and `message_buckets`, the buckets of each conversation that hold rows.
//!
//! A range read lists the buckets it spans from `message_buckets` (unless it
//! lies in one bucket) and reads them in order, each with a `LIMIT` of what is
//! still missing plus one, which tells `has_more`. It stops at the first row
//! past the page's byte budget, which also tells `has_more`.
//!
//! Removing messages (`delete_messages`, for abandoned seqs) deletes their
//! rows and leaves `message_buckets` alone. An index row only says that a
//! bucket *may* hold rows: one emptied by deletes costs a read that finds
//! nothing, and pages and `has_more` are made of rows, so they are exactly
//! what they would be had the messages never been written. Deleting index
//! rows instead would race with appends into the same bucket, which skip
//! index rows this store remembers writing, and could hide a message.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use futures_util::future::{BoxFuture, FutureExt};
use scylla::value::CqlTimestamp;
use tidings_core::{ConversationId, DeviceId, Message, MessageId, Seq, UserId};
use tidings_storage::{MAX_COUNT, MessageStore, Page, PageBuilder, PageLimit, StorageError};

use crate::codec::{seq_from_cql, seq_to_cql};
use crate::store::ScyllaStore;

/// Columns read back from `messages`.
type MessageRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    CqlTimestamp,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    OldestFirst,
    NewestFirst,
}

#[async_trait]
impl MessageStore for ScyllaStore {
    async fn append_messages(&self, messages: &[Message]) -> Result<(), StorageError> {
        // Keyed, so a message repeated within one call is written once (the
        // last copy, as if the calls had been separate).
        let ids: Vec<String> = messages
            .iter()
            .map(|m| m.conversation_id.to_string())
            .collect();
        let rows: BTreeMap<(&str, Seq), &Message> = messages
            .iter()
            .zip(&ids)
            .map(|(m, id)| ((id.as_str(), m.conv_seq), m))
            .collect();
        let buckets: BTreeSet<(&str, i64)> = rows
            .keys()
            .map(|&(conversation, seq)| (conversation, self.message_buckets.of(seq)))
            .filter(|&(conversation, bucket)| !self.bucket_indexed(conversation, bucket))
            .collect();

        let mut writes: Vec<BoxFuture<'_, Result<(), StorageError>>> = Vec::new();
        for &(conversation, bucket) in &buckets {
            let values = (conversation, bucket);
            let statement = &self.statements.insert_message_bucket;
            writes.push(
                self.write("index message bucket", statement, values)
                    .boxed(),
            );
        }
        for (&(conversation, _), message) in &rows {
            let values = (
                conversation,
                self.message_buckets.of(message.conv_seq),
                seq_to_cql(message.conv_seq),
                message.message_id.as_str(),
                message.sender_id.as_str(),
                message.sender_device.as_str(),
                message.client_msg_id.as_str(),
                message.kind.as_str(),
                message.body.as_slice(),
                CqlTimestamp(message.created_at_ms),
            );
            let statement = &self.statements.insert_message;
            writes.push(self.write("insert message", statement, values).boxed());
        }
        self.write_all(writes).await?;
        for (conversation, bucket) in buckets {
            self.remember_indexed(conversation, bucket);
        }
        Ok(())
    }

    /// One `DELETE` per row, bounded like appends; deleting an absent row
    /// writes a tombstone that hides nothing.
    async fn delete_messages(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError> {
        let rows: BTreeSet<(&str, Seq)> = seqs
            .iter()
            .map(|(conversation, seq)| (conversation.as_str(), *seq))
            .collect();
        let statement = &self.statements.delete_message;
        let deletes = rows
            .into_iter()
            .map(|(conversation, seq)| {
                let values = (conversation, self.message_buckets.of(seq), seq_to_cql(seq));
                self.write("delete message", statement, values)
            })
            .collect();
        self.write_all(deletes).await
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
        self.read_range(conversation, after + 1, last, limit, Order::OldestFirst)
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
        self.read_range(conversation, 0, last, limit, Order::NewestFirst)
            .await
    }

    /// Reads the range's buckets like `read_messages`, selecting only the
    /// sender of each row, bucket by bucket with a `LIMIT` of what is left.
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
        let (first, last) = (after + 1, up_to);
        let limit = limit.min(MAX_COUNT);
        let mut buckets = self
            .bucket_list(
                "read message buckets",
                self.message_buckets,
                &self.statements.select_message_buckets,
                conversation,
                first,
                last,
            )
            .await?;
        let (mut looked_at, mut others) = (0, 0);
        while looked_at < limit
            && let Some(bucket) = buckets.try_next().await?
        {
            let (low, high) = self.message_buckets.clamp(bucket, first, last);
            let missing = i32::try_from(limit - looked_at).unwrap_or(i32::MAX);
            let values = (conversation, bucket, low, high, missing);
            let statement = &self.statements.select_message_senders;
            let mut rows = self
                .rows::<(String,)>("count messages", statement, values)
                .await?;
            while let Some((sender,)) = rows.try_next().await? {
                looked_at += 1;
                if sender != except_sender {
                    others += 1;
                }
            }
        }
        Ok(others)
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

impl ScyllaStore {
    /// Messages with `first <= conv_seq <= last` in `order`, within `limit`.
    /// Each bucket is asked for the count still missing plus one; the read
    /// stops at the first row the byte budget refuses.
    async fn read_range(
        &self,
        conversation: &str,
        first: Seq,
        last: Seq,
        limit: PageLimit,
        order: Order,
    ) -> Result<Page<Message>, StorageError> {
        let mut page = PageBuilder::new(limit);
        let (statement, index) = match order {
            Order::OldestFirst => (
                &self.statements.select_messages,
                &self.statements.select_message_buckets,
            ),
            Order::NewestFirst => (
                &self.statements.select_messages_desc,
                &self.statements.select_message_buckets_desc,
            ),
        };
        // In `order`, from `message_buckets` unless the range lies in one.
        let mut buckets = self
            .bucket_list(
                "read message buckets",
                self.message_buckets,
                index,
                conversation,
                first,
                last,
            )
            .await?;
        while let Some(bucket) = buckets.try_next().await? {
            let (low, high) = self.message_buckets.clamp(bucket, first, last);
            let missing = i32::try_from(page.room() + 1).unwrap_or(i32::MAX);
            let values = (conversation, bucket, low, high, missing);
            let mut rows = self
                .rows::<MessageRow>("read messages", statement, values)
                .await?;
            while let Some(row) = rows.try_next().await? {
                if !page.offer(message_from_row(conversation, row)?) {
                    return Ok(Page {
                        items: page.into_items(),
                        has_more: true,
                    });
                }
            }
        }
        Ok(Page {
            items: page.into_items(),
            has_more: false,
        })
    }
}

fn message_from_row(conversation: &str, row: MessageRow) -> Result<Message, StorageError> {
    let (conv_seq, message_id, sender_id, sender_device, client_msg_id, kind, body, created_at) =
        row;
    let corrupt = |e: tidings_core::Error| StorageError::Corrupt {
        table: "messages",
        detail: e.message,
    };
    Ok(Message {
        message_id: MessageId::parse(&message_id).map_err(corrupt)?,
        conversation_id: ConversationId::parse(conversation).map_err(corrupt)?,
        conv_seq: seq_from_cql(conv_seq),
        sender_id: UserId::parse(&sender_id).map_err(corrupt)?,
        sender_device: DeviceId::parse(&sender_device).map_err(corrupt)?,
        client_msg_id,
        kind,
        body,
        created_at_ms: created_at.0,
    })
}

fn empty_page() -> Page<Message> {
    Page {
        items: Vec::new(),
        has_more: false,
    }
}
