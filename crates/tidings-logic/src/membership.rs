//! Who a conversation's messages go to, and whether a user belongs to it.
//!
//! 1:1 conversations name their two members. Groups keep members in the
//! groups table; a group above `logic.large_group_threshold` members uses read
//! diffusion: its messages go only to the store timeline, and members learn of
//! them from pushes and from the heads that sync reports.

use futures_util::StreamExt as _;
use tidings_core::{ConversationId, Error, ErrorCode, GroupId, UserId};
use tidings_storage::{GroupInfo, MAX_PAGE};

use crate::audience::{Audience, Diffusion};
use crate::service::LogicServer;

/// Users' group counts read at once when a group gains members.
const GROUP_COUNT_READS: usize = 16;

impl LogicServer {
    /// The group, or `unknown_group`.
    pub(crate) async fn group(&self, group: &GroupId) -> Result<GroupInfo, Error> {
        self.backends
            .groups
            .get_group(group.as_str())
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::UnknownGroup,
                    format!("group {group} does not exist"),
                )
            })
    }

    /// The group, if `user` is one of its members; `unknown_group` or
    /// `not_member` otherwise.
    pub(crate) async fn member_group(
        &self,
        group: &GroupId,
        user: &UserId,
    ) -> Result<GroupInfo, Error> {
        let info = self.group(group).await?;
        let member = self
            .backends
            .groups
            .get_member(group.as_str(), user.as_str())
            .await?;
        if member.is_none() {
            return Err(not_member(user, &ConversationId::Group(group.clone())));
        }
        Ok(info)
    }

    /// Fails with `not_member` unless `user` belongs to `conversation`.
    pub(crate) async fn check_member(
        &self,
        conversation: &ConversationId,
        user: &UserId,
    ) -> Result<(), Error> {
        match conversation {
            ConversationId::Direct(a, b) if a == user || b == user => Ok(()),
            ConversationId::Direct(..) => Err(not_member(user, conversation)),
            ConversationId::Group(group) => self.member_group(group, user).await.map(|_| ()),
        }
    }

    /// The groups `user` belongs to that exist, in group id order.
    pub(crate) async fn user_groups(&self, user: &UserId) -> Result<Vec<GroupInfo>, Error> {
        let mut groups = Vec::new();
        for group_id in self.backends.groups.user_groups(user.as_str()).await? {
            if let Some(info) = self.backends.groups.get_group(&group_id).await? {
                groups.push(info);
            }
        }
        Ok(groups)
    }

    /// Every member of a group, in user id order.
    pub(crate) async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, Error> {
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .backends
                .groups
                .list_members(group.as_str(), after.as_deref(), MAX_PAGE)
                .await?;
            after = page.items.last().map(|m| m.user_id.clone());
            for member in page.items {
                members.push(UserId::parse(&member.user_id)?);
            }
            if !page.has_more {
                return Ok(members);
            }
        }
    }

    /// Who a message from `sender` to `conversation` reaches, and how; fails
    /// with `not_member` unless `sender` belongs to the conversation.
    ///
    /// A `system` sender (vouched for by the server API, which alone sets
    /// the flag) needs no membership and has no inbox: its messages reach
    /// the conversation's members only, and a group need only exist.
    pub(crate) async fn audience(
        &self,
        conversation: &ConversationId,
        sender: &UserId,
        system: bool,
    ) -> Result<Audience, Error> {
        let ConversationId::Group(group) = conversation else {
            let mut members = conversation.direct_members().unwrap_or_default();
            if system {
                members.retain(|member| member != sender);
            } else {
                self.check_member(conversation, sender).await?;
            }
            return Ok(Audience {
                members,
                diffusion: Diffusion::Write,
                push_group: None,
            });
        };
        let info = if system {
            self.group(group).await?
        } else {
            self.member_group(group, sender).await?
        };
        if info.large {
            // Read diffusion writes no inbox: the member list is only
            // needed to push, which happens after the ack.
            return Ok(Audience {
                members: Vec::new(),
                diffusion: Diffusion::Read,
                push_group: Some(group.clone()),
            });
        }
        Ok(Audience {
            members: self.group_members(group).await?,
            diffusion: Diffusion::Write,
            push_group: None,
        })
    }

    /// Whether a group of `count` members uses read diffusion.
    pub(crate) fn is_large(&self, count: u64) -> bool {
        count > self.config.large_group_threshold
    }

    /// Fails unless each of `users` may belong to one more group
    /// (`logic.max_groups_per_user`).
    pub(crate) async fn check_groups_per_user(&self, users: &[UserId]) -> Result<(), Error> {
        let cap = self.config.max_groups_per_user;
        if cap == 0 {
            return Ok(());
        }
        // One read per user, a few at a time: a group created with many
        // members should not wait for them one after another.
        // Owned values, so the reads' futures stay `Send` for any borrow.
        let mut counts = futures_util::stream::iter(users.iter().cloned())
            .map(|user| {
                let store = std::sync::Arc::clone(&self.backends.groups);
                async move {
                    let groups = store.user_groups(user.as_str()).await?;
                    Ok::<_, Error>((user, groups.len() as u64))
                }
            })
            .buffer_unordered(GROUP_COUNT_READS);
        while let Some(counted) = counts.next().await {
            let (user, groups) = counted?;
            if groups >= cap {
                return Err(Error::new(
                    ErrorCode::RateLimited,
                    format!(
                        "user {user} already belongs to {groups} groups, the most allowed \
                         (logic.max_groups_per_user); leave one first"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Fails unless a group may have `count` members.
    pub(crate) fn check_group_size(&self, count: u64) -> Result<(), Error> {
        if count > self.config.max_group_members {
            return Err(Error::invalid(format!(
                "a group may have at most {} members",
                self.config.max_group_members
            )));
        }
        Ok(())
    }
}

fn not_member(user: &UserId, conversation: &ConversationId) -> Error {
    Error::new(
        ErrorCode::NotMember,
        format!("user {user} is not a member of {conversation}"),
    )
}
