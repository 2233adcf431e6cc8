//! The sync service: every user's sync timeline (inbox), pulled by devices
//! after their checkpoint and never beyond the inbox's visible head, so that
//! no device can move past a seq that is still being written (DESIGN §4).
//!
//! It trusts the user id its caller (the gateway) vouches for and never reads
//! another user's inbox on a device's behalf.

mod config;
mod conversations;
mod large_groups;

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use tidings_core::wire::{answer_budget, delimited_len, varint_len};
use tidings_core::{Error, InboxEntry, Message, TimelineKey, UserId, now_ms};
use tidings_proto::sync::v1::{
    self as pb, sync_service_server::SyncService, sync_service_server::SyncServiceServer,
};
use tidings_rpc::LogicApi;
use tidings_sequence_client::SequenceRouter;
use tidings_storage::{CheckpointStore, ConversationStore, InboxStore, MAX_PAGE, PageLimit};
use tidings_telemetry::metrics::names;

use crate::large_groups::LargeGroups;
use tonic::{Request, Response, Status};

pub use config::SyncConfig;

/// The tables sync owns (DESIGN §8).
#[derive(Clone)]
pub struct SyncTables {
    pub inbox: Arc<dyn InboxStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub conversations: Arc<dyn ConversationStore>,
}

/// Serves `tidings.sync.v1.SyncService`.
#[derive(Clone)]
pub struct SyncServer {
    config: SyncConfig,
    inbox: Arc<dyn InboxStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    conversations: Arc<dyn ConversationStore>,
    large_groups: Arc<LargeGroups>,
    sequence: Arc<SequenceRouter>,
}

impl SyncServer {
    /// `logic` answers which large groups a user belongs to.
    pub fn new(
        config: SyncConfig,
        tables: SyncTables,
        sequence: Arc<SequenceRouter>,
        logic: LogicApi,
    ) -> Self {
        let ttl = Duration::from_millis(config.large_groups_cache_ms);
        SyncServer {
            config,
            inbox: tables.inbox,
            checkpoints: tables.checkpoints,
            conversations: tables.conversations,
            large_groups: Arc::new(LargeGroups::new(logic, ttl)),
            sequence,
        }
    }

    pub fn into_service(self) -> SyncServiceServer<Self> {
        std::sync::Arc::new(self).service()
    }

    /// The gRPC service over this handler, which stays shared: in the
    /// all-in-one the other services also call it directly.
    pub fn service(self: std::sync::Arc<Self>) -> SyncServiceServer<Self> {
        // Explicit both ways: tonic's 4 MiB default would refuse large answers.
        SyncServiceServer::from_arc(self)
            .max_decoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.config.inbox_ttl_secs)
    }

    fn page_size(&self, limit: u32) -> usize {
        match limit as usize {
            0 => self.config.default_pull_limit,
            n => n.min(self.config.max_pull_limit).min(MAX_PAGE),
        }
    }

    /// The inbox page a pull asks for: `limit` clamped (0: the default), and
    /// the answer's byte budget (`max_bytes`, see the proto) less what the
    /// answer holds besides its entries: the head, both flags and the heads
    /// of the large groups, so the answer itself stays within it.
    fn page_limit(
        &self,
        req: &pb::PullRequest,
        head: u64,
        conversation_heads: &[pb::ConversationHead],
    ) -> PageLimit {
        // `has_more` and `truncated`: a tag and a byte each.
        let flags = 2 * 2;
        let heads: usize = conversation_heads
            .iter()
            .map(|h| delimited_len(h.encoded_len()))
            .sum();
        let others = 1 + varint_len(head) + flags + heads;
        let bytes = answer_budget(req.max_bytes).saturating_sub(others);
        PageLimit::new(self.page_size(req.limit), bytes)
    }

    /// The user's inbox head and the heads of the user's large groups, whose
    /// messages are not in inboxes (read diffusion): one call to sequence.
    async fn heads(&self, user: &UserId) -> Result<(u64, Vec<pb::ConversationHead>), Error> {
        let large = self.large_groups.of(user).await?;
        let mut keys = vec![TimelineKey::inbox(user).to_string()];
        keys.extend(
            large
                .iter()
                .map(|c| TimelineKey::conversation(c).to_string()),
        );
        let heads = self.sequence.heads(&keys).await?;
        let Some((&inbox, group_heads)) = heads.split_first() else {
            return Err(Error::internal("sequence service returned no head"));
        };
        if group_heads.len() != large.len() {
            return Err(Error::internal("sequence service returned a short batch"));
        }
        let conversation_heads = large
            .into_iter()
            .zip(group_heads)
            .map(|(conversation, &head)| pb::ConversationHead {
                conversation_id: conversation.to_string(),
                head,
            })
            .collect();
        Ok((inbox, conversation_heads))
    }

    async fn inbox_head(&self, user: &UserId) -> Result<u64, Error> {
        self.sequence
            .heads(&[TimelineKey::inbox(user).to_string()])
            .await?
            .first()
            .copied()
            .ok_or_else(|| Error::internal("sequence service returned no head"))
    }
}

#[tonic::async_trait]
impl SyncService for SyncServer {
    async fn append_inbox(
        &self,
        request: Request<pb::AppendInboxRequest>,
    ) -> Result<Response<pb::AppendInboxResponse>, Status> {
        let request = request.into_inner();
        let mut entries = Vec::with_capacity(request.entries.len());
        let mut touches: Vec<(String, Message)> = Vec::new();
        for e in request.entries {
            let user = UserId::parse(&e.user_id)?;
            let entry = e
                .entry
                .ok_or_else(|| Error::invalid("user entry without inbox entry"))?;
            let entry = InboxEntry::try_from(entry)?;
            if e.listed {
                touches.push((user.as_str().to_string(), entry.message.clone()));
            }
            entries.push((user.as_str().to_string(), entry));
        }
        // Both writes are idempotent, so a retried batch lands on the same rows;
        // they go out together and share the backend's durable commit.
        let (inbox, lists) =
            futures_util::join!(self.inbox.append_inbox(&entries, self.ttl()), async {
                if touches.is_empty() {
                    return Ok(());
                }
                self.conversations.touch_conversations(&touches).await
            });
        inbox.map_err(Error::from)?;
        lists.map_err(Error::from)?;
        Ok(Response::new(pb::AppendInboxResponse {}))
    }

    async fn remove_inbox(
        &self,
        request: Request<pb::RemoveInboxRequest>,
    ) -> Result<Response<pb::RemoveInboxResponse>, Status> {
        let seqs = inbox_seqs(request.into_inner().seqs)?;
        let seqs: Vec<(String, u64)> = seqs.into_iter().map(|(u, s, _)| (u, s)).collect();
        self.inbox.delete_inbox(&seqs).await.map_err(Error::from)?;
        Ok(Response::new(pb::RemoveInboxResponse {}))
    }

    async fn has_entries(
        &self,
        request: Request<pb::HasEntriesRequest>,
    ) -> Result<Response<pb::HasEntriesResponse>, Status> {
        let mut present = Vec::new();
        for (user, seq, message_id) in inbox_seqs(request.into_inner().seqs)? {
            let page = self
                .inbox
                .read_inbox(&user, seq.saturating_sub(1), seq, PageLimit::entries(1))
                .await
                .map_err(Error::from)?;
            present.push(
                page.entries
                    .first()
                    .is_some_and(|e| e.seq == seq && e.message.message_id.as_str() == message_id),
            );
        }
        Ok(Response::new(pb::HasEntriesResponse { present }))
    }

    async fn conversations(
        &self,
        request: Request<pb::ConversationsRequest>,
    ) -> Result<Response<pb::ConversationsResponse>, Status> {
        Ok(Response::new(
            self.handle_conversations(request.into_inner()).await?,
        ))
    }

    async fn set_read(
        &self,
        request: Request<pb::SetReadRequest>,
    ) -> Result<Response<pb::SetReadResponse>, Status> {
        Ok(Response::new(
            self.handle_set_read(request.into_inner()).await?,
        ))
    }

    async fn read_position(
        &self,
        request: Request<pb::ReadPositionRequest>,
    ) -> Result<Response<pb::ReadPositionResponse>, Status> {
        Ok(Response::new(
            self.handle_read_position(request.into_inner()).await?,
        ))
    }

    async fn forget_groups(
        &self,
        request: Request<pb::ForgetGroupsRequest>,
    ) -> Result<Response<pb::ForgetGroupsResponse>, Status> {
        let users = request
            .into_inner()
            .user_ids
            .iter()
            .map(|id| UserId::parse(id))
            .collect::<Result<Vec<_>, _>>()?;
        self.large_groups.forget(&users);
        Ok(Response::new(pb::ForgetGroupsResponse {}))
    }

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<pb::PullResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse(&req.user_id)?;
        metrics::counter!(names::SYNC_PULLS).increment(1);
        let (head, conversation_heads) = self.heads(&user).await?;
        if req.after >= head {
            metrics::histogram!(names::SYNC_PULLED_ENTRIES).record(0.0);
            return Ok(Response::new(pb::PullResponse {
                entries: Vec::new(),
                head,
                has_more: false,
                truncated: false,
                conversation_heads,
            }));
        }
        // The inbox keeps the last `max_inbox_entries` seqs: a device behind
        // that is told so and reads from the oldest one kept.
        let floor = head.saturating_sub(self.config.max_inbox_entries);
        let (after, trimmed) = if req.after < floor {
            (floor, true)
        } else {
            (req.after, false)
        };
        let page = self
            .inbox
            .read_inbox(
                user.as_str(),
                after,
                head,
                self.page_limit(&req, head, &conversation_heads),
            )
            .await
            .map_err(Error::from)?;
        metrics::histogram!(names::SYNC_PULLED_ENTRIES).record(page.entries.len() as f64);
        Ok(Response::new(pb::PullResponse {
            entries: page.entries.into_iter().map(Into::into).collect(),
            head,
            has_more: page.has_more,
            truncated: page.truncated || trimmed,
            conversation_heads,
        }))
    }

    async fn head(
        &self,
        request: Request<pb::HeadRequest>,
    ) -> Result<Response<pb::HeadResponse>, Status> {
        let user = UserId::parse(&request.into_inner().user_id)?;
        let head = self.inbox_head(&user).await?;
        Ok(Response::new(pb::HeadResponse { head }))
    }

    async fn ack_checkpoint(
        &self,
        request: Request<pb::AckCheckpointRequest>,
    ) -> Result<Response<pb::AckCheckpointResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse(&req.user_id)?;
        let device = tidings_core::DeviceId::parse(&req.device_id)?;
        self.checkpoints
            .put_checkpoint(user.as_str(), device.as_str(), req.checkpoint, now_ms())
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::AckCheckpointResponse {}))
    }

    async fn device_checkpoints(
        &self,
        request: Request<pb::DeviceCheckpointsRequest>,
    ) -> Result<Response<pb::DeviceCheckpointsResponse>, Status> {
        let user = UserId::parse(&request.into_inner().user_id)?;
        let devices = self
            .checkpoints
            .list_checkpoints(user.as_str())
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|d| pb::DeviceCheckpoint {
                device_id: d.device_id,
                checkpoint: d.checkpoint,
                updated_at_ms: d.updated_at_ms,
            })
            .collect();
        Ok(Response::new(pb::DeviceCheckpointsResponse { devices }))
    }
}

/// Validated `(user, seq, message id)` of inbox references.
fn inbox_seqs(seqs: Vec<pb::InboxSeq>) -> Result<Vec<(String, u64, String)>, Error> {
    seqs.into_iter()
        .map(|r| {
            let user = UserId::parse(&r.user_id)?;
            if r.seq == 0 {
                return Err(Error::invalid("inbox seq must be positive"));
            }
            Ok((user.as_str().to_string(), r.seq, r.message_id))
        })
        .collect()
}
