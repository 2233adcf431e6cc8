//! Reads on behalf of a user: a conversation's store timeline after a cursor
//! (read diffusion and gap filling), read positions, and the conversation
//! list a returning device shows first.

use std::collections::BTreeMap;

use prost::Message as _;
use tidings_core::{
    ConversationId, DeviceId, Error, GroupId, InboxEntry, Message, MessageId, TimelineKey, UserId,
    now_ms,
};
use tidings_proto::common::v1::ReadPosition;
use tidings_proto::logic::v1 as pb;
use tidings_proto::store::v1::{HistoryRequest, RangeRequest};
use tidings_proto::sync::v1::{
    AppendInboxRequest, ConversationsRequest, SetReadRequest, UserEntry,
};
use tidings_sequence_client::CommitOutcome;

use crate::service::LogicServer;

/// Kind of the inbox entries that carry a read position to a user's other
/// devices.
pub const READ_KIND: &str = "tidings.read";

/// Most latest messages per conversation in a conversation list.
const MAX_LATEST: u32 = 50;

impl LogicServer {
    pub(crate) async fn handle_pull_conversation(
        &self,
        req: pb::PullConversationRequest,
    ) -> Result<pb::PullConversationResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        self.check_member(&conversation, &user).await?;
        let head = self.conversation_head(&conversation).await?;
        if req.after >= head {
            return Ok(pb::PullConversationResponse {
                messages: Vec::new(),
                head,
                has_more: false,
            });
        }
        let page = self
            .backends
            .store
            .clone()
            .range(RangeRequest {
                conversation_id: conversation.to_string(),
                after: req.after,
                up_to: head,
                limit: req.limit,
            })
            .await?
            .into_inner();
        Ok(pb::PullConversationResponse {
            messages: page.messages,
            head,
            has_more: page.has_more,
        })
    }

    /// The visible head of a conversation's store timeline.
    pub(crate) async fn conversation_head(
        &self,
        conversation: &ConversationId,
    ) -> Result<u64, Error> {
        let heads = self
            .backends
            .sequence
            .heads(&[TimelineKey::conversation(conversation).to_string()])
            .await?;
        heads
            .first()
            .copied()
            .ok_or_else(|| Error::internal("sequence service returned no head"))
    }

    pub(crate) async fn handle_read_ack(
        &self,
        req: pb::ReadAckRequest,
    ) -> Result<pb::ReadAckResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        self.check_member(&conversation, &user).await?;
        self.backends
            .sync
            .clone()
            .set_read(SetReadRequest {
                user_id: user.to_string(),
                conversation_id: conversation.to_string(),
                read_seq: req.read_seq,
            })
            .await?;
        // Tell the user's other devices through the user's own inbox.
        let key = TimelineKey::inbox(&user).to_string();
        let allocation = self.allocation.lock().await;
        let seq = self
            .backends
            .sequence
            .allocate(std::slice::from_ref(&key))
            .await?[0];
        let expected = self.backends.push.expect(vec![(user.to_string(), seq)]);
        drop(allocation);
        let position = ReadPosition {
            conversation_id: conversation.to_string(),
            read_seq: req.read_seq,
        };
        let entry = InboxEntry {
            seq,
            conversation_id: conversation.clone(),
            conv_seq: 0,
            message: Message {
                message_id: MessageId::parse(&format!("read:{conversation}:{}", req.read_seq))?,
                conversation_id: conversation.clone(),
                conv_seq: 0,
                sender_id: user.clone(),
                sender_device: DeviceId::parse(&req.device_id)?,
                client_msg_id: String::new(),
                kind: READ_KIND.into(),
                body: position.encode_to_vec(),
                created_at_ms: now_ms(),
            },
        };
        let write = self
            .backends
            .sync
            .clone()
            .append_inbox(AppendInboxRequest {
                entries: vec![UserEntry {
                    user_id: user.to_string(),
                    entry: Some(entry.clone().into()),
                    listed: false,
                }],
            })
            .await;
        if let Err(status) = write {
            let _ = self.backends.sequence.abandon(&[(key, seq)]).await;
            return Err(status.into());
        }
        let committed = self.backends.sequence.commit(&[(key, seq)]).await?;
        if committed.first() != Some(&CommitOutcome::Committed) {
            return Err(Error::new(
                tidings_core::ErrorCode::Retry,
                "the read position was not committed in time; send it again",
            ));
        }
        expected.committed(vec![(user.to_string(), entry)]);
        Ok(pb::ReadAckResponse {
            read_seq: req.read_seq,
        })
    }

    pub(crate) async fn handle_conversation_list(
        &self,
        req: pb::ConversationListRequest,
    ) -> Result<pb::ConversationListResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let latest = req.latest.min(MAX_LATEST);
        // (updated_at, summary) by conversation id.
        let mut summaries: BTreeMap<String, (i64, pb::ConversationSummary)> = BTreeMap::new();
        let listed = self
            .backends
            .sync
            .clone()
            .conversations(ConversationsRequest {
                user_id: user.to_string(),
            })
            .await?
            .into_inner()
            .conversations;
        for state in listed {
            let updated = state.updated_at_ms;
            summaries.insert(
                state.conversation_id.clone(),
                (
                    updated,
                    pb::ConversationSummary {
                        conversation_id: state.conversation_id,
                        last_conv_seq: state.last_conv_seq,
                        read_seq: state.read_seq,
                        unread: 0,
                        latest: Vec::new(),
                    },
                ),
            );
        }
        // Large groups are not written per member: their last seq is the head.
        let mut large = Vec::new();
        for info in self.user_groups(&user).await? {
            if info.large {
                let conversation = ConversationId::Group(GroupId::parse(&info.group_id)?);
                large.push((conversation, info.created_at_ms));
            }
        }
        let keys: Vec<String> = large
            .iter()
            .map(|(conversation, _)| TimelineKey::conversation(conversation).to_string())
            .collect();
        let heads = self.backends.sequence.heads(&keys).await?;
        for ((conversation, created_at_ms), head) in large.into_iter().zip(heads) {
            let entry = summaries.entry(conversation.to_string()).or_insert((
                created_at_ms,
                pb::ConversationSummary {
                    conversation_id: conversation.to_string(),
                    ..Default::default()
                },
            ));
            entry.1.last_conv_seq = entry.1.last_conv_seq.max(head);
        }
        let mut list = Vec::with_capacity(summaries.len());
        for (_, (mut updated, mut summary)) in summaries {
            if summary.last_conv_seq == 0 {
                continue;
            }
            summary.unread = summary.last_conv_seq.saturating_sub(summary.read_seq);
            let want = latest.max(1);
            let page = self
                .backends
                .store
                .clone()
                .history(HistoryRequest {
                    conversation_id: summary.conversation_id.clone(),
                    before: 0,
                    limit: want,
                })
                .await?
                .into_inner();
            if let Some(newest) = page.messages.first() {
                updated = updated.max(newest.created_at_ms);
            }
            if latest > 0 {
                summary.latest = page.messages;
            }
            list.push((updated, summary));
        }
        list.sort_by_key(|(updated, _)| std::cmp::Reverse(*updated));
        Ok(pb::ConversationListResponse {
            conversations: list.into_iter().map(|(_, s)| s).collect(),
        })
    }
}
