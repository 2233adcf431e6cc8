//! The event index: `message_events`, partitioned like `messages` by the
//! bucket of the message each event names, clustered by (target seq, event
//! seq). A read lists the buckets of the targets' range from
//! `message_buckets` (every target is a message, so its bucket is indexed
//! there) and reads them in order, each with a `LIMIT` of what is missing
//! plus one, which tells `has_more`.

use futures_util::TryStreamExt;
use futures_util::future::{BoxFuture, FutureExt};
use scylla::value::CqlTimestamp;
use tidings_core::{ConversationId, DeviceId, Message, MessageId, Seq, UserId};
use tidings_storage::{MAX_COUNT, Page, StorageError};

use crate::codec::{seq_from_cql, seq_to_cql};
use crate::store::ScyllaStore;

/// Columns read back from `message_events`.
type EventRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    CqlTimestamp,
);

impl ScyllaStore {
    pub(crate) async fn append_event_rows(
        &self,
        events: &[(Seq, Message)],
    ) -> Result<(), StorageError> {
        let ids: Vec<String> = events
            .iter()
            .map(|(_, event)| event.conversation_id.to_string())
            .collect();
        let statement = &self.statements.insert_message_event;
        let writes: Vec<BoxFuture<'_, Result<(), StorageError>>> = events
            .iter()
            .zip(&ids)
            .map(|((target, event), conversation)| {
                let values = (
                    conversation.as_str(),
                    self.message_buckets.of(*target),
                    seq_to_cql(*target),
                    seq_to_cql(event.conv_seq),
                    event.message_id.as_str(),
                    event.sender_id.as_str(),
                    event.sender_device.as_str(),
                    event.client_msg_id.as_str(),
                    event.kind.as_str(),
                    event.body.as_slice(),
                    CqlTimestamp(event.created_at_ms),
                );
                self.write("insert message event", statement, values)
                    .boxed()
            })
            .collect();
        self.write_all(writes).await
    }

    pub(crate) async fn read_event_rows(
        &self,
        conversation: &str,
        first: Seq,
        last: Seq,
        limit: usize,
    ) -> Result<Page<(Seq, Message)>, StorageError> {
        let limit = limit.min(MAX_COUNT);
        let mut items = Vec::new();
        if first > last {
            return Ok(Page {
                items,
                has_more: false,
            });
        }
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
        while let Some(bucket) = buckets.try_next().await? {
            let (low, high) = self.message_buckets.clamp(bucket, first, last);
            let missing = i32::try_from(limit - items.len() + 1).unwrap_or(i32::MAX);
            let values = (conversation, bucket, low, high, missing);
            let statement = &self.statements.select_message_events;
            let mut rows = self
                .rows::<EventRow>("read message events", statement, values)
                .await?;
            while let Some(row) = rows.try_next().await? {
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        has_more: true,
                    });
                }
                items.push(event_from_row(conversation, row)?);
            }
        }
        Ok(Page {
            items,
            has_more: false,
        })
    }
}

fn event_from_row(conversation: &str, row: EventRow) -> Result<(Seq, Message), StorageError> {
    let (target, event_seq, message_id, sender_id, sender_device, client_msg_id, kind, body, at) =
        row;
    let corrupt = |e: tidings_core::Error| StorageError::Corrupt {
        table: "message_events",
        detail: e.message,
    };
    let event = Message {
        message_id: MessageId::parse(&message_id).map_err(corrupt)?,
        conversation_id: ConversationId::parse(conversation).map_err(corrupt)?,
        conv_seq: seq_from_cql(event_seq),
        sender_id: UserId::parse(&sender_id).map_err(corrupt)?,
        sender_device: DeviceId::parse(&sender_device).map_err(corrupt)?,
        client_msg_id,
        kind,
        body,
        created_at_ms: at.0,
    };
    Ok((seq_from_cql(target), event))
}
