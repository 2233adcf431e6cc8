//! Push tokens: `push_tokens` keyed `user ++ 0x00 ++ device`, so one prefix
//! scan lists a user's devices in device-id order. The value is
//! `updated_at_ms (i64 BE) ++ platform length (u8) ++ platform ++ token`.

use async_trait::async_trait;

use super::codec::{id_prefix, key_name, named_key};
use super::{EmbeddedStore, backend};
use crate::{PushToken, PushTokenStore, StorageError};

const TABLE: &str = "push_tokens";

fn encode(token: &PushToken) -> Result<Vec<u8>, StorageError> {
    let platform = u8::try_from(token.platform.len())
        .map_err(|_| StorageError::Backend("push token platform longer than 255 bytes".into()))?;
    let mut value = Vec::with_capacity(9 + token.platform.len() + token.token.len());
    value.extend_from_slice(&token.updated_at_ms.to_be_bytes());
    value.push(platform);
    value.extend_from_slice(token.platform.as_bytes());
    value.extend_from_slice(token.token.as_bytes());
    Ok(value)
}

fn decode(device_id: String, value: &[u8]) -> Result<PushToken, StorageError> {
    let corrupt = |detail: &str| StorageError::Corrupt {
        table: TABLE,
        detail: detail.into(),
    };
    let (time, rest) = value
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("value shorter than its header"))?;
    let (&len, rest) = rest
        .split_first()
        .ok_or_else(|| corrupt("value shorter than its header"))?;
    let (platform, token) = rest
        .split_at_checked(usize::from(len))
        .ok_or_else(|| corrupt("platform longer than the value"))?;
    let text =
        |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("value is not UTF-8"));
    Ok(PushToken {
        device_id,
        platform: text(platform)?,
        token: text(token)?,
        updated_at_ms: i64::from_be_bytes(*time),
    })
}

#[async_trait]
impl PushTokenStore for EmbeddedStore {
    async fn put_push_token(&self, user: &str, token: &PushToken) -> Result<(), StorageError> {
        let key = named_key(user, &token.device_id)?;
        let value = encode(token)?;
        self.write(move |tables| {
            let mut batch = tables.db.batch();
            batch.insert(&tables.push_tokens, key, value);
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
            if present {
                let mut batch = tables.db.batch();
                batch.remove(&tables.push_tokens, key);
                batch
                    .commit()
                    .map_err(|e| backend("remove push token", e))?;
            }
            Ok(present)
        })
        .await
    }

    async fn push_tokens(&self, users: &[String]) -> Result<Vec<Vec<PushToken>>, StorageError> {
        let prefixes = users
            .iter()
            .map(|user| id_prefix(user))
            .collect::<Result<Vec<_>, _>>()?;
        self.blocking(move |tables| {
            let mut all = Vec::with_capacity(prefixes.len());
            for prefix in prefixes {
                let mut tokens = Vec::new();
                for row in tables.push_tokens.prefix(&prefix) {
                    let (key, value) = row
                        .into_inner()
                        .map_err(|e| backend("scan push tokens", e))?;
                    let device = key_name(TABLE, prefix.len(), &key)?;
                    tokens.push(decode(device, &value)?);
                }
                all.push(tokens);
            }
            Ok(all)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let token = PushToken {
            device_id: "phone".into(),
            platform: "apns".into(),
            token: "abc def".into(),
            updated_at_ms: 1_700_000_000_000,
        };
        assert_eq!(
            decode("phone".into(), &encode(&token).unwrap()).unwrap(),
            token
        );
        assert!(decode("x".into(), &[0; 5]).is_err());
    }
}
