//! Send idempotency: `dedupe` keyed `sender ++ 0x00 ++ client_msg_id`, the
//! value an expiry header and a [`DedupeRow`]. The first 0x00 ends the
//! sender, so any client id is safe in the key.
//!
//! Both calls are batched: a get reads every key at once, a put writes every
//! record in one fjall batch and waits for one shared durable commit, so a
//! batch of sends costs one fsync, not one per send.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use prost::Message as _;

use super::codec::{
    DedupeRow, DedupeStateRow, UserSeqRow, corrupt, decode, encode_expiring, named_key,
    split_expiring,
};
use super::ttl::{expires_at, is_expired, now_ms};
use super::{EmbeddedStore, backend};
use crate::{DedupeKey, DedupeRecord, DedupeState, DedupeStore, StorageError};

const TABLE: &str = "dedupe";

/// Encoded rows by key: a key repeated within one call is written once, with
/// its last record, as if the calls had been separate.
fn rows_by_key(
    records: &[(DedupeKey, DedupeRecord)],
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StorageError> {
    records
        .iter()
        .map(|(key, record)| {
            let key = named_key(&key.sender, &key.client_msg_id)?;
            Ok((key, row_from_record(record).encode_to_vec()))
        })
        .collect()
}

fn insert_rows(
    tables: &super::FjallTables,
    rows: BTreeMap<Vec<u8>, Vec<u8>>,
    ttl: Duration,
) -> Result<(), StorageError> {
    let expires_at_ms = expires_at(now_ms(), ttl);
    let mut batch = tables.db.batch();
    for (key, row) in rows {
        batch.insert(&tables.dedupe, key, encode_expiring(expires_at_ms, &row));
    }
    batch.commit().map_err(|e| backend("commit dedupe", e))
}

#[async_trait]
impl DedupeStore for EmbeddedStore {
    async fn get_dedupe(
        &self,
        keys: &[DedupeKey],
    ) -> Result<Vec<Option<DedupeRecord>>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys
            .iter()
            .map(|key| named_key(&key.sender, &key.client_msg_id))
            .collect::<Result<Vec<_>, StorageError>>()?;
        // Point reads of recent keys hit the memtables and the block cache,
        // and take no journal lock: on the caller's thread, with no hand-off.
        let tables = &self.tables;
        // One `now` for the whole batch, as if all keys were read at once.
        let now = now_ms();
        keys.iter()
            .map(|key| {
                let value = tables
                    .dedupe
                    .get(key)
                    .map_err(|e| backend("read dedupe", e))?;
                value.map_or(Ok(None), |value| decode_live(&value, now))
            })
            .collect()
    }

    async fn put_dedupe(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = rows_by_key(records)?;
        self.write(move |tables| insert_rows(tables, rows, ttl))
            .await
    }

    /// One fjall batch, not synced: the journal orders it before every later
    /// write, and the next one that is waited for syncs it too.
    async fn put_dedupe_ordered(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = rows_by_key(records)?;
        self.write_ordered(move |tables| insert_rows(tables, rows, ttl))
            .await
    }
}

/// The record in a dedupe value, or `None` when it has expired by `now`.
fn decode_live(value: &[u8], now: u64) -> Result<Option<DedupeRecord>, StorageError> {
    let (expires_at_ms, body) =
        split_expiring(value).ok_or_else(|| corrupt(TABLE, "missing expiry header"))?;
    if is_expired(expires_at_ms, now) {
        return Ok(None);
    }
    record_from_row(decode(TABLE, body)?).map(Some)
}

fn row_from_record(record: &DedupeRecord) -> DedupeRow {
    let user_seqs = |seqs: &[(String, u64)]| {
        seqs.iter()
            .map(|(user, seq)| UserSeqRow {
                user: user.clone(),
                seq: *seq,
            })
            .collect()
    };
    let state = match record.state {
        DedupeState::Reserved => DedupeStateRow::Reserved,
        DedupeState::Committed => DedupeStateRow::Committed,
    };
    DedupeRow {
        conversation_id: record.conversation_id.clone(),
        conv_seq: record.conv_seq,
        message_id: record.message_id.clone(),
        created_at_ms: record.created_at_ms,
        inbox_seqs: user_seqs(&record.inbox_seqs),
        state: state as i32,
        stale_conv_seqs: record.stale_conv_seqs.clone(),
        stale_inbox_seqs: user_seqs(&record.stale_inbox_seqs),
    }
}

fn record_from_row(row: DedupeRow) -> Result<DedupeRecord, StorageError> {
    let user_seqs = |seqs: Vec<UserSeqRow>| seqs.into_iter().map(|s| (s.user, s.seq)).collect();
    // A state this build does not know is refused, not guessed: reading a
    // reserved record as committed would report a send that may be unwritten.
    let state = match DedupeStateRow::try_from(row.state) {
        Ok(DedupeStateRow::Reserved) => DedupeState::Reserved,
        Ok(DedupeStateRow::Committed) => DedupeState::Committed,
        Err(_) => return Err(corrupt(TABLE, format!("unknown state {}", row.state))),
    };
    Ok(DedupeRecord {
        conversation_id: row.conversation_id,
        message_id: row.message_id,
        created_at_ms: row.created_at_ms,
        conv_seq: row.conv_seq,
        inbox_seqs: user_seqs(row.inbox_seqs),
        state,
        stale_conv_seqs: row.stale_conv_seqs,
        stale_inbox_seqs: user_seqs(row.stale_inbox_seqs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row layout of the first release (tags 1 to 4 only).
    #[derive(Clone, PartialEq, prost::Message)]
    struct FirstReleaseRow {
        #[prost(string, tag = "1")]
        conversation_id: String,
        #[prost(uint64, tag = "2")]
        conv_seq: u64,
        #[prost(string, tag = "3")]
        message_id: String,
        #[prost(int64, tag = "4")]
        created_at_ms: i64,
    }

    /// Records written before reservations existed were written after their
    /// send committed, and read back that way.
    #[test]
    fn first_release_rows_read_as_committed() {
        let old = FirstReleaseRow {
            conversation_id: "dm:a:b".to_string(),
            conv_seq: 7,
            message_id: "m7".to_string(),
            created_at_ms: 42,
        };
        let row: DedupeRow = decode(TABLE, &old.encode_to_vec()).unwrap();
        let record = record_from_row(row).unwrap();
        assert_eq!(
            record,
            DedupeRecord {
                conversation_id: "dm:a:b".to_string(),
                message_id: "m7".to_string(),
                created_at_ms: 42,
                conv_seq: 7,
                inbox_seqs: Vec::new(),
                state: DedupeState::Committed,
                stale_conv_seqs: Vec::new(),
                stale_inbox_seqs: Vec::new(),
            }
        );
    }

    #[test]
    fn rows_round_trip_every_field() {
        let record = DedupeRecord {
            conversation_id: "g:team".to_string(),
            message_id: "m9".to_string(),
            created_at_ms: -3,
            conv_seq: u64::MAX,
            inbox_seqs: vec![("alice".to_string(), 4), ("bob".to_string(), 0)],
            state: DedupeState::Reserved,
            stale_conv_seqs: vec![5, 6],
            stale_inbox_seqs: vec![("alice".to_string(), 3)],
        };
        let bytes = row_from_record(&record).encode_to_vec();
        let row: DedupeRow = decode(TABLE, &bytes).unwrap();
        assert_eq!(record_from_row(row).unwrap(), record);
    }

    #[test]
    fn unknown_states_are_corrupt() {
        let row = DedupeRow {
            state: 9,
            ..DedupeRow::default()
        };
        assert!(matches!(
            record_from_row(row),
            Err(StorageError::Corrupt {
                table: "dedupe",
                ..
            })
        ));
    }
}
