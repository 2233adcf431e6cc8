//! Send idempotency: `dedupe ((sender_id, client_msg_id))`, written `USING
//! TTL`; the database drops a record when it expires.

use std::time::Duration;

use async_trait::async_trait;
use scylla::value::CqlTimestamp;
use tidings_storage::{DedupeRecord, DedupeStore, StorageError};

use crate::codec::{seq_from_cql, seq_to_cql, ttl_seconds};
use crate::store::ScyllaStore;

#[async_trait]
impl DedupeStore for ScyllaStore {
    async fn get_dedupe(
        &self,
        sender: &str,
        client_msg_id: &str,
    ) -> Result<Option<DedupeRecord>, StorageError> {
        let statement = &self.statements.select_dedupe;
        let row: Option<(String, i64, String, CqlTimestamp)> = self
            .one_row("read dedupe", statement, (sender, client_msg_id))
            .await?;
        Ok(row.map(
            |(conversation_id, conv_seq, message_id, created_at)| DedupeRecord {
                conversation_id,
                conv_seq: seq_from_cql(conv_seq),
                message_id,
                created_at_ms: created_at.0,
            },
        ))
    }

    async fn put_dedupe(
        &self,
        sender: &str,
        client_msg_id: &str,
        record: &DedupeRecord,
        ttl: Duration,
    ) -> Result<(), StorageError> {
        let values = (
            sender,
            client_msg_id,
            record.conversation_id.as_str(),
            seq_to_cql(record.conv_seq),
            record.message_id.as_str(),
            CqlTimestamp(record.created_at_ms),
            ttl_seconds(ttl),
        );
        self.write("insert dedupe", &self.statements.insert_dedupe, values)
            .await
    }
}
