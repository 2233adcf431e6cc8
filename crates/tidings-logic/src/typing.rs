//! Typing signals: ephemeral, never stored. Logic checks that the typist
//! belongs to the conversation, lists the other members (never more than
//! `logic.typing_max_members` + 1 read) and routes one call to each gateway
//! holding some of them, like a large group's pushes.
//!
//! The gateway throttles before calling, so logic sees at most one signal
//! per connection and conversation every few seconds.

use tidings_core::{ConversationId, Error, UserId, now_ms};
use tidings_proto::gateway::v1::PushTypingRequest;
use tidings_proto::logic::v1 as pb;

use crate::service::LogicServer;

/// Longest a receiver is told to show an indicator, whatever a gateway asks.
const MAX_SHOW_FOR_MS: u32 = 60_000;

impl LogicServer {
    pub(crate) async fn handle_typing(
        &self,
        req: pb::TypingRequest,
    ) -> Result<pb::TypingResponse, Error> {
        let typist = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        let Some(recipients) = self.typing_recipients(&conversation, &typist).await? else {
            return Ok(pb::TypingResponse {
                forwarded: false,
                gateways: 0,
            });
        };
        let show_for_ms = req.show_for_ms.min(MAX_SHOW_FOR_MS);
        let push = PushTypingRequest {
            conversation_id: conversation.to_string(),
            user_id: typist.to_string(),
            expires_at_ms: now_ms() + i64::from(show_for_ms),
            recipient_ids: Vec::new(),
        };
        let recipients = recipients.into_iter().map(|u| u.to_string()).collect();
        let gateways = self.backends.push.push_typing(push, recipients).await;
        tracing::debug!(user_id = %typist, conversation_id = %conversation, gateways, "typing forwarded");
        Ok(pb::TypingResponse {
            forwarded: true,
            gateways: u32::try_from(gateways).unwrap_or(u32::MAX),
        })
    }

    /// The members other than `typist` who get its typing signal; `None`
    /// when the group is too large to forward typing in. Fails unless the
    /// typist belongs to the conversation.
    async fn typing_recipients(
        &self,
        conversation: &ConversationId,
        typist: &UserId,
    ) -> Result<Option<Vec<UserId>>, Error> {
        let ConversationId::Group(group) = conversation else {
            self.check_member(conversation, typist).await?;
            let mut members = conversation.direct_members().unwrap_or_default();
            members.retain(|member| member != typist);
            return Ok(Some(members));
        };
        let info = self.member_group(group, typist).await?;
        let cap = self.config.typing_max_members;
        if info.large || cap == 0 {
            return Ok(None);
        }
        // One page of at most cap + 1 members tells whether the group is
        // over the cap without ever listing a large group whole.
        let page = self
            .backends
            .groups
            .list_members(group.as_str(), None, cap.saturating_add(1) as usize)
            .await?;
        if page.has_more || page.items.len() as u64 > cap {
            return Ok(None);
        }
        let mut members = Vec::with_capacity(page.items.len());
        for member in page.items {
            let member = UserId::parse(&member.user_id)?;
            if &member != typist {
                members.push(member);
            }
        }
        Ok(Some(members))
    }
}
