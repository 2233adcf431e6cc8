//! Send idempotency: `dedupe ((sender_id, client_msg_id))`, written `USING
//! TTL`; the database drops a record when it expires.
//!
//! A record's lists (`inbox_seqs`, `stale_conv_seqs`, `stale_inbox_seqs`)
//! are frozen: each is one cell, replaced whole by the next write, so
//! overwriting a reservation with its commit leaves no collection tombstones
//! and no element of the earlier list behind. `state` is `'reserved'` or
//! `'committed'`; rows written before schema version 3 have none and were
//! all written once their send had committed.
//!
//! A get reads every key concurrently (one single-partition read each); a put
//! writes every record concurrently (one single-partition insert each), both
//! bounded by the store's in-flight limits.
//!
//! A later put of a key must replace the earlier one (a reservation, then its
//! commit). Left to the server, the two writes would carry the timestamps of
//! whichever coordinators took them, whose clocks may disagree, so the store
//! stamps them itself from [`next_write_timestamp`]: strictly increasing
//! within a process, and the wall clock across processes.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use scylla::value::CqlTimestamp;
use tidings_core::Seq;
use tidings_storage::{DedupeKey, DedupeRecord, DedupeState, DedupeStore, StorageError};

use crate::codec::{seq_from_cql, seq_to_cql, ttl_seconds};
use crate::store::{ScyllaStore, next_write_timestamp};

const TABLE: &str = "dedupe";
const RESERVED: &str = "reserved";
const COMMITTED: &str = "committed";

/// Columns read back from `dedupe`.
type DedupeRow = (
    String,
    i64,
    String,
    CqlTimestamp,
    Option<Vec<(String, i64)>>,
    Option<String>,
    Option<Vec<i64>>,
    Option<Vec<(String, i64)>>,
);

#[async_trait]
impl DedupeStore for ScyllaStore {
    async fn get_dedupe(
        &self,
        keys: &[DedupeKey],
    ) -> Result<Vec<Option<DedupeRecord>>, StorageError> {
        let statement = &self.statements.select_dedupe;
        let reads = keys
            .iter()
            .map(|key| async move {
                let values = (key.sender.as_str(), key.client_msg_id.as_str());
                let row: Option<DedupeRow> = self.one_row("read dedupe", statement, values).await?;
                row.map(record_from_row).transpose()
            })
            .collect();
        self.read_all(reads).await
    }

    async fn put_dedupe(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        // Keyed, so a key repeated within one call is written once: its last
        // record (two concurrent writes of one key would race).
        let records: BTreeMap<(&str, &str), &DedupeRecord> = records
            .iter()
            .map(|(key, record)| ((key.sender.as_str(), key.client_msg_id.as_str()), record))
            .collect();
        let ttl = ttl_seconds(ttl);
        let statement = &self.statements.insert_dedupe;
        let writes = records
            .into_iter()
            .map(|((sender, client_msg_id), record)| {
                let values = (
                    sender,
                    client_msg_id,
                    record.conversation_id.as_str(),
                    seq_to_cql(record.conv_seq),
                    record.message_id.as_str(),
                    CqlTimestamp(record.created_at_ms),
                    user_seqs_to_cql(&record.inbox_seqs),
                    state_to_cql(record.state),
                    record
                        .stale_conv_seqs
                        .iter()
                        .map(|&seq| seq_to_cql(seq))
                        .collect::<Vec<i64>>(),
                    user_seqs_to_cql(&record.stale_inbox_seqs),
                    ttl,
                    next_write_timestamp(),
                );
                self.write("insert dedupe", statement, values)
            })
            .collect();
        self.write_all(writes).await
    }
}

fn user_seqs_to_cql(seqs: &[(String, Seq)]) -> Vec<(&str, i64)> {
    seqs.iter()
        .map(|(user, seq)| (user.as_str(), seq_to_cql(*seq)))
        .collect()
}

fn user_seqs_from_cql(seqs: Option<Vec<(String, i64)>>) -> Vec<(String, Seq)> {
    seqs.unwrap_or_default()
        .into_iter()
        .map(|(user, seq)| (user, seq_from_cql(seq)))
        .collect()
}

fn state_to_cql(state: DedupeState) -> &'static str {
    match state {
        DedupeState::Reserved => RESERVED,
        DedupeState::Committed => COMMITTED,
    }
}

/// `None` (rows from before schema version 3) is committed; a state this
/// build does not know is refused, not guessed: reading a reservation as
/// committed would report a send that may be unwritten.
fn state_from_cql(state: Option<&str>) -> Result<DedupeState, StorageError> {
    match state {
        None | Some(COMMITTED) => Ok(DedupeState::Committed),
        Some(RESERVED) => Ok(DedupeState::Reserved),
        Some(other) => Err(StorageError::Corrupt {
            table: TABLE,
            detail: format!("unknown state {other:?}"),
        }),
    }
}

fn record_from_row(row: DedupeRow) -> Result<DedupeRecord, StorageError> {
    let (
        conversation_id,
        conv_seq,
        message_id,
        created_at,
        inbox_seqs,
        state,
        stale_conv_seqs,
        stale_inbox_seqs,
    ) = row;
    Ok(DedupeRecord {
        conversation_id,
        message_id,
        created_at_ms: created_at.0,
        conv_seq: seq_from_cql(conv_seq),
        inbox_seqs: user_seqs_from_cql(inbox_seqs),
        state: state_from_cql(state.as_deref())?,
        stale_conv_seqs: stale_conv_seqs
            .unwrap_or_default()
            .into_iter()
            .map(seq_from_cql)
            .collect(),
        stale_inbox_seqs: user_seqs_from_cql(stale_inbox_seqs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_without_a_state_are_committed() {
        let row: DedupeRow = (
            "dm:a:b".to_string(),
            7,
            "m7".to_string(),
            CqlTimestamp(42),
            None,
            None,
            None,
            None,
        );
        let record = record_from_row(row).unwrap();
        assert_eq!(record.state, DedupeState::Committed);
        assert!(record.inbox_seqs.is_empty() && record.stale_conv_seqs.is_empty());
        assert!(record.stale_inbox_seqs.is_empty());
    }

    #[test]
    fn states_round_trip_and_unknown_ones_are_corrupt() {
        for state in [DedupeState::Reserved, DedupeState::Committed] {
            assert_eq!(state_from_cql(Some(state_to_cql(state))).unwrap(), state);
        }
        assert!(matches!(
            state_from_cql(Some("cancelled")),
            Err(StorageError::Corrupt {
                table: "dedupe",
                ..
            })
        ));
    }
}
