//! Typed requests about groups and conversations.

use tidings_proto::client::v1 as pb;
use tidings_proto::client::v1::{client_frame, server_frame};

use crate::connection::Connection;
use crate::error::Result;
use crate::requests::unexpected;

/// Expects a frame variant, or reports what came instead.
macro_rules! expect {
    ($answer:expr, $variant:ident, $name:literal) => {
        match $answer.frame {
            Some(server_frame::Frame::$variant(inner)) => Ok(inner),
            other => Err(unexpected($name, other)),
        }
    };
}

impl Connection {
    /// Creates a group with the caller as owner; `group_id` "" lets the server pick.
    pub async fn create_group(
        &self,
        group_id: &str,
        name: &str,
        member_ids: &[&str],
    ) -> Result<pb::GroupResult> {
        let frame = client_frame::Frame::CreateGroup(pb::CreateGroup {
            group_id: group_id.to_string(),
            name: name.to_string(),
            member_ids: member_ids.iter().map(|m| m.to_string()).collect(),
        });
        expect!(self.request(frame).await?, GroupResult, "group_result")
    }

    pub async fn add_members(&self, group_id: &str, user_ids: &[&str]) -> Result<pb::GroupResult> {
        let frame = client_frame::Frame::AddMembers(pb::AddMembers {
            group_id: group_id.to_string(),
            user_ids: user_ids.iter().map(|u| u.to_string()).collect(),
        });
        expect!(self.request(frame).await?, GroupResult, "group_result")
    }

    pub async fn remove_members(
        &self,
        group_id: &str,
        user_ids: &[&str],
    ) -> Result<pb::GroupResult> {
        let frame = client_frame::Frame::RemoveMembers(pb::RemoveMembers {
            group_id: group_id.to_string(),
            user_ids: user_ids.iter().map(|u| u.to_string()).collect(),
        });
        expect!(self.request(frame).await?, GroupResult, "group_result")
    }

    pub async fn list_members(
        &self,
        group_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<pb::MembersResult> {
        let frame = client_frame::Frame::ListMembers(pb::ListMembers {
            group_id: group_id.to_string(),
            after: after.to_string(),
            limit,
        });
        expect!(self.request(frame).await?, MembersResult, "members_result")
    }

    pub async fn list_groups(&self) -> Result<pb::GroupsResult> {
        let frame = client_frame::Frame::ListGroups(pb::ListGroups {});
        expect!(self.request(frame).await?, GroupsResult, "groups_result")
    }

    /// A conversation's store timeline after `after`, up to its visible head.
    pub async fn pull_conversation(
        &self,
        conversation_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<pb::PullConversationResult> {
        let frame = client_frame::Frame::PullConversation(pb::PullConversation {
            conversation_id: conversation_id.to_string(),
            after,
            limit,
        });
        expect!(
            self.request(frame).await?,
            PullConversationResult,
            "pull_conversation_result"
        )
    }

    /// Moves the caller's read position in a conversation.
    pub async fn read_ack(
        &self,
        conversation_id: &str,
        read_seq: u64,
    ) -> Result<pb::ReadAckResult> {
        let frame = client_frame::Frame::ReadAck(pb::ReadAck {
            conversation_id: conversation_id.to_string(),
            read_seq,
        });
        expect!(self.request(frame).await?, ReadAckResult, "read_ack_result")
    }

    /// The caller's conversations with unread counts and `latest` messages each.
    pub async fn conversation_list(&self, latest: u32) -> Result<pb::ConversationListResult> {
        let frame = client_frame::Frame::ConversationList(pb::ConversationList { latest });
        expect!(
            self.request(frame).await?,
            ConversationListResult,
            "conversation_list_result"
        )
    }
}
