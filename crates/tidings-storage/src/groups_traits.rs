//! The group and conversation-list tables of DESIGN §3 (`groups`,
//! `group_members`, `user_groups`, `conversations`) as traits. The
//! conventions of `traits` hold here too: a method returns once what it wrote
//! is durable, and pages hold at most `MAX_PAGE` items.

use async_trait::async_trait;
use tidings_core::{Message, Seq};

use crate::{Page, StorageError};

/// A group: the owner of a group conversation (`g:<group_id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub group_id: String,
    pub name: String,
    /// The user who created it.
    pub owner: String,
    pub created_at_ms: i64,
    /// The group is large: it runs in read diffusion (DESIGN §1). Its
    /// messages are written to its store timeline only, not to members'
    /// inboxes; members' devices pull it from the group's head.
    pub large: bool,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub user_id: String,
    /// `owner` or `member`.
    pub role: String,
    pub joined_at_ms: i64,
}

/// Groups and their membership, kept both ways (`group_members` by group,
/// `user_groups` by user) so that either side is one partition read.
///
/// Membership does not require the group to exist: callers create the group
/// first and decide who may join.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates the group; `false` (and no change) if the id is taken.
    async fn create_group(&self, info: &GroupInfo) -> Result<bool, StorageError>;

    /// The group, if it was created.
    async fn get_group(&self, group_id: &str) -> Result<Option<GroupInfo>, StorageError>;

    /// Records whether the group is large (read diffusion), leaving the rest
    /// of it alone; `false` (and no change) if there is no such group.
    async fn set_large(&self, group_id: &str, large: bool) -> Result<bool, StorageError>;

    /// Adds members, or updates the role of existing ones (who keep their
    /// `joined_at_ms`); both directions. A user listed twice is added once,
    /// as its last entry says.
    async fn add_members(
        &self,
        group_id: &str,
        members: &[GroupMember],
    ) -> Result<(), StorageError>;

    /// Removes members (absent ones are ignored); both directions.
    async fn remove_members(&self, group_id: &str, users: &[String]) -> Result<(), StorageError>;

    /// The membership record of `user` in `group_id`, if a member.
    async fn get_member(
        &self,
        group_id: &str,
        user: &str,
    ) -> Result<Option<GroupMember>, StorageError>;

    /// Members ordered by user id, those with `user_id > after` (all when
    /// `None`), at most `limit` (clamped to `MAX_PAGE`); `has_more` when
    /// another member follows.
    async fn list_members(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<GroupMember>, StorageError>;

    /// Number of members.
    async fn count_members(&self, group_id: &str) -> Result<u64, StorageError>;

    /// Every group `user` belongs to, ordered by group id.
    async fn user_groups(&self, user: &str) -> Result<Vec<String>, StorageError>;
}

/// A user's view of one conversation, for the conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub conversation_id: String,
    /// Highest conv seq of a message the user has been told of; 0 while none
    /// is recorded.
    pub last_conv_seq: Seq,
    /// The latest message (as a preview), if any.
    pub last_message: Option<Message>,
    /// Conv seq up to which the user has read, from any device; 0 until the
    /// first `set_read`.
    pub read_seq: Seq,
    /// When the latest message was sent (its `created_at_ms`); 0 while none
    /// is recorded. Reading does not change it, so reading an old
    /// conversation does not move it up the list.
    pub updated_at_ms: i64,
}

/// The conversation list of each user: last message and read position per
/// conversation. Only moves forward.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// For each `(user, message)`, records `message` as the latest of its
    /// conversation for `user`, unless one with a higher conv seq is already
    /// recorded (the same conv seq again overwrites it). Leaves `read_seq`
    /// alone. One call per batch of messages; a user may appear many times.
    async fn touch_conversations(&self, touches: &[(String, Message)]) -> Result<(), StorageError>;

    /// Moves `user`'s read position in `conversation` forward to `read_seq`
    /// (a lower one is ignored). Creates the entry if needed. Leaves the
    /// latest message and `updated_at_ms` alone.
    async fn set_read(
        &self,
        user: &str,
        conversation: &str,
        read_seq: Seq,
    ) -> Result<(), StorageError>;

    /// One conversation of `user`.
    async fn get_conversation(
        &self,
        user: &str,
        conversation: &str,
    ) -> Result<Option<ConversationState>, StorageError>;

    /// Every conversation of `user`, most recently updated first (ties by
    /// conversation id).
    async fn list_conversations(&self, user: &str) -> Result<Vec<ConversationState>, StorageError>;
}

/// Orders a conversation list as [`ConversationStore::list_conversations`]
/// returns it: `updated_at_ms` descending, then conversation id.
pub fn sort_conversation_list(list: &mut [ConversationState]) {
    list.sort_by(|a, b| {
        b.updated_at_ms
            .cmp(&a.updated_at_ms)
            .then_with(|| a.conversation_id.cmp(&b.conversation_id))
    });
}
