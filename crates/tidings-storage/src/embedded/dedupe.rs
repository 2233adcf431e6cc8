//! Send idempotency: `dedupe` keyed `sender ++ 0x00 ++ client_msg_id`, the
//! value an expiry header and a [`DedupeRow`]. The first 0x00 ends the
//! sender, so any client id is safe in the key.

use std::time::Duration;

use async_trait::async_trait;
use prost::Message as _;

use super::codec::{DedupeRow, corrupt, decode, encode_expiring, named_key, split_expiring};
use super::ttl::{expires_at, is_expired, now_ms};
use super::{EmbeddedStore, backend};
use crate::{DedupeRecord, DedupeStore, StorageError};

const TABLE: &str = "dedupe";

#[async_trait]
impl DedupeStore for EmbeddedStore {
    async fn get_dedupe(
        &self,
        sender: &str,
        client_msg_id: &str,
    ) -> Result<Option<DedupeRecord>, StorageError> {
        let key = named_key(sender, client_msg_id)?;
        self.blocking(move |tables| {
            let now = now_ms();
            let Some(value) = tables
                .dedupe
                .get(key)
                .map_err(|e| backend("read dedupe", e))?
            else {
                return Ok(None);
            };
            let (expires_at_ms, body) =
                split_expiring(&value).ok_or_else(|| corrupt(TABLE, "missing expiry header"))?;
            if is_expired(expires_at_ms, now) {
                return Ok(None);
            }
            let row: DedupeRow = decode(TABLE, body)?;
            Ok(Some(DedupeRecord {
                conversation_id: row.conversation_id,
                conv_seq: row.conv_seq,
                message_id: row.message_id,
                created_at_ms: row.created_at_ms,
            }))
        })
        .await
    }

    async fn put_dedupe(
        &self,
        sender: &str,
        client_msg_id: &str,
        record: &DedupeRecord,
        ttl: Duration,
    ) -> Result<(), StorageError> {
        let key = named_key(sender, client_msg_id)?;
        let row = DedupeRow {
            conversation_id: record.conversation_id.clone(),
            conv_seq: record.conv_seq,
            message_id: record.message_id.clone(),
            created_at_ms: record.created_at_ms,
        }
        .encode_to_vec();
        self.write(move |tables| {
            let value = encode_expiring(expires_at(now_ms(), ttl), &row);
            let mut batch = tables.db.batch();
            batch.insert(&tables.dedupe, key, value);
            batch.commit().map_err(|e| backend("commit dedupe", e))
        })
        .await
    }
}
