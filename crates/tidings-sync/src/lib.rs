//! The sync service: every user's sync timeline (inbox), pulled by devices
//! after their checkpoint and never beyond the inbox's visible head, so that
//! no device can move past a seq that is still being written (DESIGN §4).
//!
//! It trusts the user id its caller (the gateway) vouches for and never reads
//! another user's inbox on a device's behalf.

mod config;

use std::sync::Arc;
use std::time::Duration;

use tidings_core::{ConversationId, Error, GroupId, InboxEntry, TimelineKey, UserId, now_ms};
use tidings_proto::sync::v1::{
    self as pb, sync_service_server::SyncService, sync_service_server::SyncServiceServer,
};
use tidings_sequence::SequenceRouter;
use tidings_storage::{CheckpointStore, GroupStore, InboxStore, MAX_PAGE};
use tidings_telemetry::metrics::names;
use tonic::{Request, Response, Status};

pub use config::SyncConfig;

/// Serves `tidings.sync.v1.SyncService`.
#[derive(Clone)]
pub struct SyncServer {
    config: SyncConfig,
    inbox: Arc<dyn InboxStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    groups: Arc<dyn GroupStore>,
    sequence: Arc<SequenceRouter>,
}

impl SyncServer {
    pub fn new(
        config: SyncConfig,
        inbox: Arc<dyn InboxStore>,
        checkpoints: Arc<dyn CheckpointStore>,
        groups: Arc<dyn GroupStore>,
        sequence: Arc<SequenceRouter>,
    ) -> Self {
        SyncServer {
            config,
            inbox,
            checkpoints,
            groups,
            sequence,
        }
    }

    pub fn into_service(self) -> SyncServiceServer<Self> {
        SyncServiceServer::new(self)
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

    /// The user's inbox head and the heads of the user's large groups, whose
    /// messages are not in inboxes (read diffusion): one call to sequence.
    async fn heads(&self, user: &UserId) -> Result<(u64, Vec<pb::ConversationHead>), Error> {
        let mut large = Vec::new();
        for group_id in self.groups.user_groups(user.as_str()).await? {
            if let Some(info) = self.groups.get_group(&group_id).await?
                && info.large
            {
                large.push(ConversationId::Group(GroupId::parse(&group_id)?));
            }
        }
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
        let mut entries = Vec::new();
        for e in request.into_inner().entries {
            let user = UserId::parse(&e.user_id)?;
            let entry = e
                .entry
                .ok_or_else(|| Error::invalid("user entry without inbox entry"))?;
            entries.push((user.as_str().to_string(), InboxEntry::try_from(entry)?));
        }
        self.inbox
            .append_inbox(&entries, self.ttl())
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::AppendInboxResponse {}))
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
            .read_inbox(user.as_str(), after, head, self.page_size(req.limit))
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
