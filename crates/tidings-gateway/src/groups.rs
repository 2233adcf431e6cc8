//! Client frames about groups and conversations, forwarded to logic with the
//! connection's identity. Logic decides; the gateway only translates.

use std::sync::Arc;

use tidings_core::{DeviceId, Error, UserId};
use tidings_proto::client::v1::{
    self as client, client_frame::Frame as In, server_frame::Frame as Out,
};
use tidings_proto::logic::v1 as logic;

use crate::state::Gateway;

fn group_result(g: logic::GroupResponse) -> client::GroupResult {
    client::GroupResult {
        group_id: g.group_id,
        conversation_id: g.conversation_id,
        name: g.name,
        owner: g.owner,
        member_count: g.member_count,
        large: g.large,
    }
}

/// Handles the frames not handled by the connection itself.
pub(crate) async fn dispatch(
    gateway: &Arc<Gateway>,
    user: &UserId,
    device: &DeviceId,
    frame: In,
) -> Result<Out, Error> {
    let mut logic = gateway.backends.logic.clone();
    let user_id = user.to_string();
    // Paged answers are asked for what fits in one frame.
    let max_bytes = crate::frame_limit::answer_budget(gateway.config.max_frame_bytes);
    match frame {
        In::CreateGroup(req) => {
            let group = logic
                .create_group(logic::CreateGroupRequest {
                    user_id,
                    sender_device: device.to_string(),
                    group_id: req.group_id,
                    name: req.name,
                    member_ids: req.member_ids,
                })
                .await?
                .into_inner();
            Ok(Out::GroupResult(group_result(group)))
        }
        In::AddMembers(req) => {
            let group = logic
                .add_members(logic::ChangeMembersRequest {
                    user_id,
                    sender_device: device.to_string(),
                    group_id: req.group_id,
                    user_ids: req.user_ids,
                })
                .await?
                .into_inner();
            Ok(Out::GroupResult(group_result(group)))
        }
        In::RemoveMembers(req) => {
            let group = logic
                .remove_members(logic::ChangeMembersRequest {
                    user_id,
                    sender_device: device.to_string(),
                    group_id: req.group_id,
                    user_ids: req.user_ids,
                })
                .await?
                .into_inner();
            Ok(Out::GroupResult(group_result(group)))
        }
        In::ListMembers(req) => {
            let page = logic
                .list_members(logic::ListMembersRequest {
                    user_id,
                    group_id: req.group_id,
                    after: req.after,
                    limit: req.limit,
                })
                .await?
                .into_inner();
            Ok(Out::MembersResult(client::MembersResult {
                members: page
                    .members
                    .into_iter()
                    .map(|m| client::Member {
                        user_id: m.user_id,
                        role: m.role,
                        joined_at_ms: m.joined_at_ms,
                    })
                    .collect(),
                has_more: page.has_more,
            }))
        }
        In::ListGroups(_) => {
            let groups = logic
                .list_groups(logic::ListGroupsRequest { user_id })
                .await?
                .into_inner()
                .groups;
            Ok(Out::GroupsResult(client::GroupsResult {
                groups: groups.into_iter().map(group_result).collect(),
            }))
        }
        In::PullConversation(req) => {
            let page = logic
                .pull_conversation(logic::PullConversationRequest {
                    user_id,
                    conversation_id: req.conversation_id,
                    after: req.after,
                    limit: req.limit,
                    max_bytes,
                })
                .await?
                .into_inner();
            Ok(Out::PullConversationResult(
                client::PullConversationResult {
                    messages: page.messages,
                    head: page.head,
                    has_more: page.has_more,
                },
            ))
        }
        In::ReadAck(req) => {
            let read = logic
                .read_ack(logic::ReadAckRequest {
                    user_id,
                    device_id: device.to_string(),
                    conversation_id: req.conversation_id.clone(),
                    read_seq: req.read_seq,
                })
                .await?
                .into_inner();
            Ok(Out::ReadAckResult(client::ReadAckResult {
                conversation_id: req.conversation_id,
                read_seq: read.read_seq,
            }))
        }
        In::ConversationList(req) => {
            let list = logic
                .conversation_list(logic::ConversationListRequest {
                    user_id,
                    latest: req.latest,
                    max_bytes,
                })
                .await?
                .into_inner();
            Ok(Out::ConversationListResult(
                client::ConversationListResult {
                    conversations: list
                        .conversations
                        .into_iter()
                        .map(|c| client::ConversationSummary {
                            conversation_id: c.conversation_id,
                            last_conv_seq: c.last_conv_seq,
                            read_seq: c.read_seq,
                            unread: c.unread,
                            latest: c.latest,
                        })
                        .collect(),
                },
            ))
        }
        In::Hello(_)
        | In::Send(_)
        | In::Pull(_)
        | In::Ack(_)
        | In::History(_)
        | In::Ping(_)
        | In::RoomJoin(_)
        | In::RoomLeave(_)
        | In::RoomSend(_)
        | In::Typing(_)
        | In::PresenceSubscribe(_)
        | In::PresenceUnsubscribe(_)
        | In::RegisterPushToken(_)
        | In::RemovePushToken(_)
        | In::EditMessage(_)
        | In::RecallMessage(_)
        | In::DeleteMessage(_)
        | In::React(_)
        | In::Refresh(_) => Err(Error::internal("frame routed to the wrong handler")),
    }
}
