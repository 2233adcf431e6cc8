//! Devices' push tokens, owned by logic (DESIGN §8) and read by the
//! offline_push webhook. A token belongs to one (user, device): the same
//! phone signed in as another user is another pair, so a client removes its
//! token at sign-out.

use async_trait::async_trait;

use crate::StorageError;

/// A device's registered push token (APNs, FCM, Web Push...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushToken {
    pub device_id: String,
    /// e.g. "apns", "fcm", "webpush"; validated by the caller.
    pub platform: String,
    pub token: String,
    pub updated_at_ms: i64,
}

#[async_trait]
pub trait PushTokenStore: Send + Sync {
    /// Records `token` as the push token of `user`'s device `token.device_id`,
    /// replacing that device's earlier one.
    async fn put_push_token(&self, user: &str, token: &PushToken) -> Result<(), StorageError>;
    /// Removes the push token of `user`'s `device`; `false` if it had none.
    async fn remove_push_token(&self, user: &str, device: &str) -> Result<bool, StorageError>;
    /// The tokens of each user, in `users` order (an empty list for a user
    /// with none), each list in device id order. Users may repeat.
    async fn push_tokens(&self, users: &[String]) -> Result<Vec<Vec<PushToken>>, StorageError>;
}
