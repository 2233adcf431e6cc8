//! Push tokens: `push_tokens ((user_id), device_id)`, so one partition read
//! lists a user's devices in device-id order. Plain writes, no LWT: a device
//! registers its own token, and the last write wins.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use tidings_storage::{PushToken, PushTokenStore, StorageError};

use crate::store::ScyllaStore;

#[async_trait]
impl PushTokenStore for ScyllaStore {
    async fn put_push_token(&self, user: &str, token: &PushToken) -> Result<(), StorageError> {
        let values = (
            user,
            token.device_id.as_str(),
            token.platform.as_str(),
            token.token.as_str(),
            token.updated_at_ms,
        );
        self.write(
            "insert push token",
            &self.statements.insert_push_token,
            values,
        )
        .await
    }

    async fn remove_push_token(&self, user: &str, device: &str) -> Result<bool, StorageError> {
        let present: Option<(String,)> = self
            .one_row(
                "read push token",
                &self.statements.select_push_token,
                (user, device),
            )
            .await?;
        if present.is_none() {
            return Ok(false);
        }
        self.write(
            "delete push token",
            &self.statements.delete_push_token,
            (user, device),
        )
        .await?;
        Ok(true)
    }

    async fn push_tokens(&self, users: &[String]) -> Result<Vec<Vec<PushToken>>, StorageError> {
        let reads = users
            .iter()
            .map(|user| async move {
                self.rows::<(String, String, String, i64)>(
                    "list push tokens",
                    &self.statements.list_push_tokens,
                    (user.as_str(),),
                )
                .await?
                .map_ok(|(device_id, platform, token, updated_at_ms)| PushToken {
                    device_id,
                    platform,
                    token,
                    updated_at_ms,
                })
                .try_collect()
                .await
            })
            .collect();
        self.read_all(reads).await
    }
}
