//! The table of `push_tokens_traits`, instrumented.

use async_trait::async_trait;

use super::Instrumented;
use crate::{PushToken, PushTokenStore, StorageError};

#[async_trait]
impl PushTokenStore for Instrumented<dyn PushTokenStore> {
    async fn put_push_token(&self, user: &str, token: &PushToken) -> Result<(), StorageError> {
        self.timed("put_push_token", self.inner.put_push_token(user, token))
            .await
    }

    async fn remove_push_token(&self, user: &str, device: &str) -> Result<bool, StorageError> {
        let call = self.inner.remove_push_token(user, device);
        self.timed("remove_push_token", call).await
    }

    async fn push_tokens(&self, users: &[String]) -> Result<Vec<Vec<PushToken>>, StorageError> {
        self.timed("push_tokens", self.inner.push_tokens(users))
            .await
    }
}
