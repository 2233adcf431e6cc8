//! Reads on behalf of a user: a conversation's store timeline after a cursor
//! (read diffusion and gap filling) and the conversation list a returning
//! device shows first.

use std::collections::BTreeMap;

use tidings_core::wire::answer_budget;
use tidings_core::{ConversationId, Error, GroupId, TimelineKey, UserId};
use tidings_proto::logic::v1 as pb;
use tidings_proto::store::v1::{HistoryRequest, RangeRequest};
use tidings_proto::sync::v1::ConversationsRequest;

use crate::service::LogicServer;

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
                max_bytes: crate::answer_bytes::pull_conversation_range_bytes(req.max_bytes, head),
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

    pub(crate) async fn handle_conversation_list(
        &self,
        req: pb::ConversationListRequest,
    ) -> Result<pb::ConversationListResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let latest = req.latest.min(MAX_LATEST);
        let (times, summaries) = self.conversation_summaries(&user).await?;
        let mut list = Vec::with_capacity(summaries.len());
        for (mut updated, mut summary) in times.into_iter().zip(summaries) {
            let want = latest.max(1);
            let page = self
                .backends
                .store
                .clone()
                .history(HistoryRequest {
                    conversation_id: summary.conversation_id.clone(),
                    before: 0,
                    limit: want,
                    max_bytes: req.max_bytes,
                    reader: user.to_string(),
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
        let mut conversations: Vec<pb::ConversationSummary> =
            list.into_iter().map(|(_, s)| s).collect();
        crate::answer_bytes::fit_latest(&mut conversations, answer_budget(req.max_bytes));
        Ok(pb::ConversationListResponse { conversations })
    }

    /// The user's total unread count across conversations: the badge every
    /// device shows, the sum of the conversation list's unread counts.
    pub(crate) async fn badge(&self, user: &UserId) -> Result<u64, Error> {
        let (_, summaries) = self.conversation_summaries(user).await?;
        Ok(summaries.iter().map(|s| s.unread).sum())
    }

    /// Every conversation of `user` with messages, with its unread count
    /// (no latest messages yet), and when each was last updated.
    async fn conversation_summaries(
        &self,
        user: &UserId,
    ) -> Result<(Vec<i64>, Vec<pb::ConversationSummary>), Error> {
        // (updated_at, summary) by conversation id.
        let mut summaries: BTreeMap<String, (i64, pb::ConversationSummary)> = BTreeMap::new();
        let listed = self
            .backends
            .sync
            .clone()
            .conversations(ConversationsRequest {
                user_id: user.to_string(),
                max_bytes: 0,
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
        for info in self.user_groups(user).await? {
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
        let (times, mut summaries): (Vec<i64>, Vec<pb::ConversationSummary>) = summaries
            .into_values()
            .filter(|(_, summary)| summary.last_conv_seq > 0)
            .unzip();
        let unread = self.unread_counts(user, &summaries).await?;
        for (summary, unread) in summaries.iter_mut().zip(unread) {
            summary.unread = unread;
        }
        Ok((times, summaries))
    }
}
