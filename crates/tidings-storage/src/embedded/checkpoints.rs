//! Device checkpoints: `device_checkpoints` keyed `user ++ 0x00 ++ device`,
//! so one prefix scan lists a user's devices in device-id order.

use async_trait::async_trait;
use prost::Message as _;
use tidings_core::Seq;

use super::codec::{CheckpointRow, decode, id_prefix, key_name, named_key};
use super::{EmbeddedStore, backend, lock};
use crate::{CheckpointStore, DeviceCheckpoint, StorageError};

const TABLE: &str = "device_checkpoints";

#[async_trait]
impl CheckpointStore for EmbeddedStore {
    async fn put_checkpoint(
        &self,
        user: &str,
        device: &str,
        checkpoint: Seq,
        updated_at_ms: i64,
    ) -> Result<(), StorageError> {
        let key = named_key(user, device)?;
        self.write(move |tables| {
            let _guard = lock(&tables.checkpoint_lock);
            let recorded = tables
                .checkpoints
                .get(&key)
                .map_err(|e| backend("read checkpoint", e))?
                .map(|value| decode::<CheckpointRow>(TABLE, &value))
                .transpose()?;
            // Forward only; the same checkpoint acked again refreshes its time.
            let moves_forward = recorded.is_none_or(|r| {
                checkpoint > r.checkpoint
                    || (checkpoint == r.checkpoint && updated_at_ms > r.updated_at_ms)
            });
            if !moves_forward {
                return Ok(());
            }
            let row = CheckpointRow {
                checkpoint,
                updated_at_ms,
            };
            let mut batch = tables.db.batch();
            batch.insert(&tables.checkpoints, key, row.encode_to_vec());
            batch.commit().map_err(|e| backend("commit checkpoint", e))
        })
        .await
    }

    async fn list_checkpoints(&self, user: &str) -> Result<Vec<DeviceCheckpoint>, StorageError> {
        let prefix = id_prefix(user)?;
        self.blocking(move |tables| {
            let mut devices = Vec::new();
            for row in tables.checkpoints.prefix(&prefix) {
                let (key, value) = row
                    .into_inner()
                    .map_err(|e| backend("scan checkpoints", e))?;
                let row: CheckpointRow = decode(TABLE, &value)?;
                devices.push(DeviceCheckpoint {
                    device_id: key_name(TABLE, prefix.len(), &key)?,
                    checkpoint: row.checkpoint,
                    updated_at_ms: row.updated_at_ms,
                });
            }
            Ok(devices)
        })
        .await
    }
}
