//! The tables of `groups_traits`, instrumented.

use async_trait::async_trait;
use tidings_core::{Message, Seq};

use super::Instrumented;
use crate::{
    ConversationState, ConversationStore, GroupInfo, GroupMember, GroupStore, Page, StorageError,
};

#[async_trait]
impl GroupStore for Instrumented<dyn GroupStore> {
    async fn create_group(&self, info: &GroupInfo) -> Result<bool, StorageError> {
        self.timed("create_group", self.inner.create_group(info))
            .await
    }

    async fn get_group(&self, group_id: &str) -> Result<Option<GroupInfo>, StorageError> {
        self.timed("get_group", self.inner.get_group(group_id))
            .await
    }

    async fn set_large(&self, group_id: &str, large: bool) -> Result<bool, StorageError> {
        self.timed("set_large", self.inner.set_large(group_id, large))
            .await
    }

    async fn add_members(
        &self,
        group_id: &str,
        members: &[GroupMember],
    ) -> Result<(), StorageError> {
        self.timed("add_members", self.inner.add_members(group_id, members))
            .await
    }

    async fn remove_members(&self, group_id: &str, users: &[String]) -> Result<(), StorageError> {
        let call = self.inner.remove_members(group_id, users);
        self.timed("remove_members", call).await
    }

    async fn get_member(
        &self,
        group_id: &str,
        user: &str,
    ) -> Result<Option<GroupMember>, StorageError> {
        self.timed("get_member", self.inner.get_member(group_id, user))
            .await
    }

    async fn list_members(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<GroupMember>, StorageError> {
        let call = self.inner.list_members(group_id, after, limit);
        self.timed("list_members", call).await
    }

    async fn count_members(&self, group_id: &str) -> Result<u64, StorageError> {
        self.timed("count_members", self.inner.count_members(group_id))
            .await
    }

    async fn user_groups(&self, user: &str) -> Result<Vec<String>, StorageError> {
        self.timed("user_groups", self.inner.user_groups(user))
            .await
    }
}

#[async_trait]
impl ConversationStore for Instrumented<dyn ConversationStore> {
    async fn touch_conversations(&self, touches: &[(String, Message)]) -> Result<(), StorageError> {
        let call = self.inner.touch_conversations(touches);
        self.timed("touch_conversations", call).await
    }

    async fn set_read(
        &self,
        user: &str,
        conversation: &str,
        read_seq: Seq,
    ) -> Result<(), StorageError> {
        let call = self.inner.set_read(user, conversation, read_seq);
        self.timed("set_read", call).await
    }

    async fn get_conversation(
        &self,
        user: &str,
        conversation: &str,
    ) -> Result<Option<ConversationState>, StorageError> {
        let call = self.inner.get_conversation(user, conversation);
        self.timed("get_conversation", call).await
    }

    async fn list_conversations(&self, user: &str) -> Result<Vec<ConversationState>, StorageError> {
        self.timed("list_conversations", self.inner.list_conversations(user))
            .await
    }
}
