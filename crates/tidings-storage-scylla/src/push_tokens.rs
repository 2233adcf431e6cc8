//! Push tokens: `push_tokens ((user_id), device_id)`, so one partition read
//! lists a user's devices in device-id order. Plain writes, no LWT: a device
//! registers its own token, and the last write wins.
//!
//! A put and a removal of one device carry `USING TIMESTAMP` from the store's
//! write clock ([`next_write_timestamp`]), not whichever coordinator takes
//! them: a device signing out and in again must not have its new token hidden
//! by the tombstone of the old one when the coordinators' clocks disagree.
//! `remove_push_token` reads, then deletes only what it found; a put racing
//! it may be deleted with the old token, which the device's next
//! registration (at its next sign-in or token refresh) repairs.
//!
//! `push_tokens` reads each distinct user's partition once, at most the
//! store's read limit at a time, and hands every position its user's list.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use tidings_storage::{PushToken, PushTokenStore, StorageError};

use crate::store::{ScyllaStore, next_write_timestamp};

#[async_trait]
impl PushTokenStore for ScyllaStore {
    async fn put_push_token(&self, user: &str, token: &PushToken) -> Result<(), StorageError> {
        let values = (
            user,
            token.device_id.as_str(),
            token.platform.as_str(),
            token.token.as_str(),
            token.updated_at_ms,
            next_write_timestamp(),
        );
        let statement = &self.statements.insert_push_token;
        self.write("insert push token", statement, values).await
    }

    async fn remove_push_token(&self, user: &str, device: &str) -> Result<bool, StorageError> {
        let statement = &self.statements.select_push_token;
        let present: Option<(String,)> = self
            .one_row("read push token", statement, (user, device))
            .await?;
        if present.is_none() {
            return Ok(false);
        }
        let statement = &self.statements.delete_push_token;
        let values = (next_write_timestamp(), user, device);
        self.write("delete push token", statement, values).await?;
        Ok(true)
    }

    async fn push_tokens(&self, users: &[String]) -> Result<Vec<Vec<PushToken>>, StorageError> {
        // Each distinct user once, in order of first appearance.
        let mut distinct: Vec<&str> = Vec::new();
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        let positions: Vec<usize> = users
            .iter()
            .map(|user| {
                *index_of.entry(user.as_str()).or_insert_with(|| {
                    distinct.push(user.as_str());
                    distinct.len() - 1
                })
            })
            .collect();
        let reads = distinct
            .iter()
            .map(|&user| self.user_push_tokens(user))
            .collect();
        let lists: Vec<Vec<PushToken>> = self.read_all(reads).await?;
        Ok(positions.into_iter().map(|i| lists[i].clone()).collect())
    }
}

impl ScyllaStore {
    /// Every push token of `user`, in device-id order (the clustering order).
    async fn user_push_tokens(&self, user: &str) -> Result<Vec<PushToken>, StorageError> {
        let statement = &self.statements.list_push_tokens;
        self.rows::<(String, String, String, i64)>("list push tokens", statement, (user,))
            .await?
            .map_ok(|(device_id, platform, token, updated_at_ms)| PushToken {
                device_id,
                platform,
                token,
                updated_at_ms,
            })
            .try_collect()
            .await
    }
}
