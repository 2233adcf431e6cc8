//! Push tokens: `push_tokens` keyed `user ++ 0x00 ++ device`, so one prefix
//! scan lists a user's devices in device-id order; the value is a
//! [`PushTokenRow`].
//!
//! Both writes run on the committer thread, which runs jobs one at a time,
//! so the read behind `remove_push_token`'s answer and its delete see no
//! other push-token write in between; no lock is needed.

use async_trait::async_trait;
use prost::Message as _;

use super::codec::{PushTokenRow, decode, id_prefix, key_name, named_key};
use super::{EmbeddedStore, backend};
use crate::{PushToken, PushTokenStore, StorageError};

const TABLE: &str = "push_tokens";

#[async_trait]
impl PushTokenStore for EmbeddedStore {
    async fn put_push_token(&self, user: &str, token: &PushToken) -> Result<(), StorageError> {
        let key = named_key(user, &token.device_id)?;
        let row = PushTokenRow {
            platform: token.platform.clone(),
            token: token.token.clone(),
            updated_at_ms: token.updated_at_ms,
        };
        self.write(move |tables| {
            let mut batch = tables.db.batch();
            batch.insert(&tables.push_tokens, key, row.encode_to_vec());
            batch.commit().map_err(|e| backend("commit push token", e))
        })
        .await
    }

    async fn remove_push_token(&self, user: &str, device: &str) -> Result<bool, StorageError> {
        let key = named_key(user, device)?;
        self.write(move |tables| {
            let present = tables
                .push_tokens
                .get(&key)
                .map_err(|e| backend("read push token", e))?
                .is_some();
            if !present {
                return Ok(false);
            }
            let mut batch = tables.db.batch();
            batch.remove(&tables.push_tokens, key);
            batch
                .commit()
                .map_err(|e| backend("commit push token removal", e))?;
            Ok(true)
        })
        .await
    }

    async fn push_tokens(&self, users: &[String]) -> Result<Vec<Vec<PushToken>>, StorageError> {
        let prefixes = users
            .iter()
            .map(|user| id_prefix(user))
            .collect::<Result<Vec<_>, _>>()?;
        self.blocking(move |tables| {
            let mut lists = Vec::with_capacity(prefixes.len());
            for prefix in prefixes {
                let mut tokens = Vec::new();
                for row in tables.push_tokens.prefix(&prefix) {
                    let (key, value) = row
                        .into_inner()
                        .map_err(|e| backend("scan push tokens", e))?;
                    let row: PushTokenRow = decode(TABLE, &value)?;
                    tokens.push(PushToken {
                        device_id: key_name(TABLE, prefix.len(), &key)?,
                        platform: row.platform,
                        token: row.token,
                        updated_at_ms: row.updated_at_ms,
                    });
                }
                lists.push(tokens);
            }
            Ok(lists)
        })
        .await
    }
}
