//! Device checkpoints: forward only, listed per user by device id.

use super::unique_id;
use crate::{DeviceCheckpoint, Tables};

fn recorded(device: &str, checkpoint: u64, updated_at_ms: i64) -> DeviceCheckpoint {
    DeviceCheckpoint {
        device_id: device.to_string(),
        checkpoint,
        updated_at_ms,
    }
}

/// A lower checkpoint is ignored; a higher one replaces the record.
pub async fn checkpoints_move_forward_only(tables: &Tables) {
    let checkpoints = &tables.checkpoints;
    let user = unique_id("user");
    checkpoints
        .put_checkpoint(&user, "phone", 5, 1000)
        .await
        .unwrap();
    let listed = checkpoints.list_checkpoints(&user).await.unwrap();
    assert_eq!(listed, [recorded("phone", 5, 1000)]);

    checkpoints
        .put_checkpoint(&user, "phone", 3, 2000)
        .await
        .unwrap();
    let listed = checkpoints.list_checkpoints(&user).await.unwrap();
    assert_eq!(listed, [recorded("phone", 5, 1000)]);

    checkpoints
        .put_checkpoint(&user, "phone", 9, 3000)
        .await
        .unwrap();
    let listed = checkpoints.list_checkpoints(&user).await.unwrap();
    assert_eq!(listed, [recorded("phone", 9, 3000)]);
}

/// Every device of a user, ordered by device id; users sharing an id prefix
/// ("u1", "u10") stay apart.
pub async fn checkpoints_listed_by_device(tables: &Tables) {
    let checkpoints = &tables.checkpoints;
    let base = unique_id("u");
    let (short, long) = (format!("{base}1"), format!("{base}10"));
    for (device, checkpoint) in [("phone", 4), ("laptop", 7), ("desk", 1)] {
        checkpoints
            .put_checkpoint(&short, device, checkpoint, 100)
            .await
            .unwrap();
    }
    checkpoints
        .put_checkpoint(&long, "tablet", 2, 200)
        .await
        .unwrap();

    let listed = checkpoints.list_checkpoints(&short).await.unwrap();
    assert_eq!(
        listed,
        [
            recorded("desk", 1, 100),
            recorded("laptop", 7, 100),
            recorded("phone", 4, 100)
        ]
    );
    let listed = checkpoints.list_checkpoints(&long).await.unwrap();
    assert_eq!(listed, [recorded("tablet", 2, 200)]);
    assert!(
        checkpoints
            .list_checkpoints(&base)
            .await
            .unwrap()
            .is_empty()
    );
}
