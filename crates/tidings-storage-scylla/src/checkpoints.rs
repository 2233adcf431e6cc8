//! Device checkpoints: `device_checkpoints ((user_id), device_id)`, so one
//! partition lists a user's devices in device-id order.
//!
//! Forward-only by read-then-write, without a transaction: two acks of one
//! device racing may leave the lower one recorded until the next ack. The
//! record is informational (unread counts, lagging devices); no delivery
//! decision rests on it, so it is not worth an LWT per ack.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use scylla::value::CqlTimestamp;
use tidings_core::Seq;
use tidings_storage::{CheckpointStore, DeviceCheckpoint, StorageError};

use crate::codec::{seq_from_cql, seq_to_cql};
use crate::store::ScyllaStore;

#[async_trait]
impl CheckpointStore for ScyllaStore {
    async fn put_checkpoint(
        &self,
        user: &str,
        device: &str,
        checkpoint: Seq,
        updated_at_ms: i64,
    ) -> Result<(), StorageError> {
        let statement = &self.statements.select_checkpoint;
        let recorded: Option<(i64, CqlTimestamp)> = self
            .one_row("read checkpoint", statement, (user, device))
            .await?;
        // Forward only; the same checkpoint acked again refreshes its time.
        let moves_forward = recorded.is_none_or(|(recorded, at)| {
            let recorded = seq_from_cql(recorded);
            checkpoint > recorded || (checkpoint == recorded && updated_at_ms > at.0)
        });
        if !moves_forward {
            return Ok(());
        }
        let values = (
            user,
            device,
            seq_to_cql(checkpoint),
            CqlTimestamp(updated_at_ms),
        );
        self.write(
            "insert checkpoint",
            &self.statements.insert_checkpoint,
            values,
        )
        .await
    }

    async fn list_checkpoints(&self, user: &str) -> Result<Vec<DeviceCheckpoint>, StorageError> {
        let statement = &self.statements.list_checkpoints;
        self.rows::<(String, i64, CqlTimestamp)>("list checkpoints", statement, (user,))
            .await?
            .map_ok(|(device_id, checkpoint, updated_at)| DeviceCheckpoint {
                device_id,
                checkpoint: seq_from_cql(checkpoint),
                updated_at_ms: updated_at.0,
            })
            .try_collect()
            .await
    }
}
