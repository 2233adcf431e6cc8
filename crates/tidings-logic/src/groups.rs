//! Groups: creation, membership changes and listings. Every membership
//! change is also a message of kind `tidings.members` in the group's
//! timeline, so each member's devices learn of it the way they learn of
//! messages.

use prost::Message as _;
use tidings_core::{ConversationId, DeviceId, Error, ErrorCode, GroupId, Message, UserId, now_ms};
use tidings_proto::common::v1::{MembershipEvent, membership_event::Action};
use tidings_proto::logic::v1 as pb;
use tidings_storage::{GroupInfo, GroupMember, MAX_PAGE};

use crate::attempt::Attempt;
use crate::audience::{Audience, Diffusion};
use crate::config::AddMembersPolicy;
use crate::service::LogicServer;
use tidings_proto::sync::v1::ForgetGroupsRequest;

/// Kind of the timeline messages that record membership changes.
pub const MEMBERS_KIND: &str = "tidings.members";

const MAX_NAME: usize = 128;

fn parse_users(ids: &[String]) -> Result<Vec<UserId>, Error> {
    let mut users = ids
        .iter()
        .map(|id| UserId::parse(id))
        .collect::<Result<Vec<_>, _>>()?;
    users.sort();
    users.dedup();
    Ok(users)
}

fn member_row(user: &UserId, role: &str, joined_at_ms: i64) -> GroupMember {
    GroupMember {
        user_id: user.to_string(),
        role: role.into(),
        joined_at_ms,
    }
}

fn response(info: &GroupInfo, member_count: u64) -> pb::GroupResponse {
    pb::GroupResponse {
        group_id: info.group_id.clone(),
        conversation_id: format!("g:{}", info.group_id),
        name: info.name.clone(),
        owner: info.owner.clone(),
        member_count,
        large: info.large,
    }
}

impl LogicServer {
    pub(crate) async fn handle_create_group(
        &self,
        req: pb::CreateGroupRequest,
    ) -> Result<pb::GroupResponse, Error> {
        let owner = UserId::parse(&req.user_id)?;
        let group = if req.group_id.is_empty() {
            GroupId::parse(&uuid::Uuid::new_v4().simple().to_string())?
        } else {
            GroupId::parse(&req.group_id)?
        };
        if req.name.len() > MAX_NAME {
            return Err(Error::invalid(format!(
                "name must be at most {MAX_NAME} bytes"
            )));
        }
        let mut members = parse_users(&req.member_ids)?;
        members.retain(|m| *m != owner);
        let count = members.len() as u64 + 1;
        self.check_group_size(count)?;
        let mut joining = members.clone();
        joining.push(owner.clone());
        self.check_groups_per_user(&joining).await?;
        let now = now_ms();
        let info = GroupInfo {
            group_id: group.to_string(),
            name: req.name,
            owner: owner.to_string(),
            created_at_ms: now,
            large: self.is_large(count),
        };
        if !self.backends.groups.create_group(&info).await? {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("group {group} already exists"),
            ));
        }
        let mut rows = vec![member_row(&owner, "owner", now)];
        rows.extend(members.iter().map(|m| member_row(m, "member", now)));
        self.backends
            .groups
            .add_members(info.group_id.as_str(), &rows)
            .await?;
        let mut everyone = members.clone();
        everyone.push(owner.clone());
        everyone.sort();
        self.membership_event(
            &info,
            &owner,
            &req.sender_device,
            Action::Created,
            &everyone,
            everyone.clone(),
        )
        .await?;
        Ok(response(&info, count))
    }

    pub(crate) async fn handle_add_members(
        &self,
        req: pb::ChangeMembersRequest,
    ) -> Result<pb::GroupResponse, Error> {
        let actor = UserId::parse(&req.user_id)?;
        let group = GroupId::parse(&req.group_id)?;
        let info = self.member_group(&group, &actor).await?;
        if self.config.add_members == AddMembersPolicy::Owner && info.owner != actor.as_str() {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "only the group's owner may add members (logic.add_members = \"owner\")",
            ));
        }
        let existing = self.group_members(&group).await?;
        let mut added = parse_users(&req.user_ids)?;
        added.retain(|u| existing.binary_search(u).is_err());
        let count = (existing.len() + added.len()) as u64;
        self.check_group_size(count)?;
        if added.is_empty() {
            return Ok(response(&info, count));
        }
        self.check_groups_per_user(&added).await?;
        let now = now_ms();
        let rows: Vec<GroupMember> = added.iter().map(|u| member_row(u, "member", now)).collect();
        self.backends
            .groups
            .add_members(group.as_str(), &rows)
            .await?;
        let info = self.update_size_mode(info, count).await?;
        let mut everyone = existing;
        everyone.extend(added.iter().cloned());
        everyone.sort();
        self.membership_event(
            &info,
            &actor,
            &req.sender_device,
            Action::Added,
            &added,
            everyone,
        )
        .await?;
        Ok(response(&info, count))
    }

    pub(crate) async fn handle_remove_members(
        &self,
        req: pb::ChangeMembersRequest,
    ) -> Result<pb::GroupResponse, Error> {
        let actor = UserId::parse(&req.user_id)?;
        let group = GroupId::parse(&req.group_id)?;
        let info = self.member_group(&group, &actor).await?;
        let removed = parse_users(&req.user_ids)?;
        if info.owner != actor.as_str() && removed.iter().any(|u| *u != actor) {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "only the group's owner may remove other members",
            ));
        }
        let existing = self.group_members(&group).await?;
        let removed: Vec<UserId> = removed
            .into_iter()
            .filter(|u| existing.binary_search(u).is_ok())
            .collect();
        if removed.is_empty() {
            return Ok(response(&info, existing.len() as u64));
        }
        let ids: Vec<String> = removed.iter().map(|u| u.to_string()).collect();
        self.backends
            .groups
            .remove_members(group.as_str(), &ids)
            .await?;
        let count = (existing.len() - removed.len()) as u64;
        let info = self.update_size_mode(info, count).await?;
        // The removed members hear of it too: it is the last message of the
        // group they receive.
        self.membership_event(
            &info,
            &actor,
            &req.sender_device,
            Action::Removed,
            &removed,
            existing,
        )
        .await?;
        Ok(response(&info, count))
    }

    pub(crate) async fn handle_list_members(
        &self,
        req: pb::ListMembersRequest,
    ) -> Result<pb::ListMembersResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let group = GroupId::parse(&req.group_id)?;
        self.member_group(&group, &user).await?;
        let limit = match req.limit as usize {
            0 => 100,
            n => n.min(MAX_PAGE),
        };
        let after = (!req.after.is_empty()).then_some(req.after.as_str());
        let page = self
            .backends
            .groups
            .list_members(group.as_str(), after, limit)
            .await?;
        Ok(pb::ListMembersResponse {
            members: page
                .items
                .into_iter()
                .map(|m| pb::Member {
                    user_id: m.user_id,
                    role: m.role,
                    joined_at_ms: m.joined_at_ms,
                })
                .collect(),
            has_more: page.has_more,
        })
    }

    pub(crate) async fn handle_list_groups(
        &self,
        req: pb::ListGroupsRequest,
    ) -> Result<pb::ListGroupsResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let mut groups = Vec::new();
        for info in self.user_groups(&user).await? {
            let count = self.backends.groups.count_members(&info.group_id).await?;
            groups.push(response(&info, count));
        }
        Ok(pb::ListGroupsResponse { groups })
    }

    /// Switches the group between write and read diffusion when its size
    /// crosses the threshold. Sends already under way finish in the mode they
    /// started in; devices fill any gap from the store timeline.
    async fn update_size_mode(&self, mut info: GroupInfo, count: u64) -> Result<GroupInfo, Error> {
        let large = self.is_large(count);
        if info.large != large {
            self.backends
                .groups
                .set_large(&info.group_id, large)
                .await?;
            tracing::info!(group_id = %info.group_id, members = count, large, "group crossed the size threshold");
            info.large = large;
        }
        Ok(info)
    }

    /// Writes a membership change into the group's timeline for `recipients`.
    async fn membership_event(
        &self,
        info: &GroupInfo,
        actor: &UserId,
        device: &str,
        action: Action,
        users: &[UserId],
        recipients: Vec<UserId>,
    ) -> Result<Message, Error> {
        let conversation = ConversationId::Group(GroupId::parse(&info.group_id)?);
        let event = MembershipEvent {
            action: action as i32,
            actor: actor.to_string(),
            user_ids: users.iter().map(|u| u.to_string()).collect(),
        };
        let client_msg_id = uuid::Uuid::new_v4().simple().to_string();
        let message = Message {
            message_id: tidings_core::message_id_for(actor, &client_msg_id),
            conversation_id: conversation.clone(),
            conv_seq: 0,
            sender_id: actor.clone(),
            sender_device: if device.is_empty() {
                DeviceId::parse("server")?
            } else {
                DeviceId::parse(device)?
            },
            client_msg_id,
            kind: MEMBERS_KIND.into(),
            body: event.encode_to_vec(),
            created_at_ms: now_ms(),
        };
        let audience = Audience {
            members: recipients,
            diffusion: if info.large {
                Diffusion::Read
            } else {
                Diffusion::Write
            },
            push_group: None,
        };
        // Sync caches each user's large groups for pulls: the members may
        // have joined, left, or seen the group change size.
        let forget = ForgetGroupsRequest {
            user_ids: audience.members.iter().map(|m| m.to_string()).collect(),
        };
        if let Err(e) = self.backends.sync.clone().forget_groups(forget).await {
            tracing::warn!(group_id = %info.group_id, error = %e, "cannot tell sync of a membership change; its cache expires");
        }
        let attempt = Attempt::new(0, None, conversation, message, audience);
        let (attempt, result) = self
            .deliver(vec![attempt], Vec::new())
            .await
            .pop()
            .ok_or_else(|| Error::internal("membership event left unsettled"))?;
        result.map(|()| attempt.message)
    }
}
