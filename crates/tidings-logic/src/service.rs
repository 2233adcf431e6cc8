//! The gRPC face of logic and the clients it calls.

use std::sync::Arc;
use std::time::Duration;

use tidings_core::{ConversationId, UserId};
use tidings_proto::logic::v1::{
    self as pb, logic_service_server::LogicService, logic_service_server::LogicServiceServer,
};
use tidings_proto::store::v1::HistoryRequest;
use tidings_rpc::{StoreApi, SyncApi};
use tidings_sequence_client::SequenceRouter;
use tidings_storage::{DedupeStore, GroupStore, PushTokenStore};
use tonic::{Request, Response, Status};

use crate::LogicConfig;
use crate::in_flight::InFlight;
use crate::push::PushRouter;
use crate::webhooks::LogicWebhooks;

/// What logic talks to: the services it calls, and the tables it owns
/// (DESIGN §8: dedupe, the groups tables and push tokens; conversation lists
/// are sync's).
#[derive(Clone)]
pub struct Backends {
    pub sequence: Arc<SequenceRouter>,
    pub store: StoreApi,
    pub sync: SyncApi,
    pub dedupe: Arc<dyn DedupeStore>,
    pub groups: Arc<dyn GroupStore>,
    pub push_tokens: Arc<dyn PushTokenStore>,
    pub push: PushRouter,
}

/// Serves `tidings.logic.v1.LogicService`.
#[derive(Clone)]
pub struct LogicServer {
    pub(crate) config: LogicConfig,
    pub(crate) backends: Backends,
    /// Sends being processed here, by (sender, client_msg_id).
    pub(crate) in_flight: Arc<InFlight>,
    /// Held from an allocation until its inbox seqs are expected by the push
    /// order, so that pushes follow allocation order.
    pub(crate) allocation: Arc<tokio::sync::Mutex<()>>,
    /// The webhooks it calls (none by default).
    pub(crate) webhooks: Arc<LogicWebhooks>,
}

impl LogicServer {
    /// Must be called inside a tokio runtime when `webhooks` has
    /// offline_push: its task starts here.
    pub fn new(config: LogicConfig, backends: Backends, webhooks: LogicWebhooks) -> Self {
        let server = LogicServer {
            config,
            backends,
            in_flight: Arc::default(),
            allocation: Arc::default(),
            webhooks: Arc::new(webhooks),
        };
        server.start_offline_push();
        server
    }

    pub fn into_service(self) -> LogicServiceServer<Self> {
        std::sync::Arc::new(self).service()
    }

    /// The gRPC service over this handler, which stays shared: in the
    /// all-in-one the other services also call it directly.
    pub fn service(self: std::sync::Arc<Self>) -> LogicServiceServer<Self> {
        // Explicit both ways: tonic's 4 MiB default would refuse large answers.
        LogicServiceServer::from_arc(self)
            .max_decoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
    }

    pub(crate) fn dedupe_ttl(&self) -> Duration {
        Duration::from_secs(self.config.dedupe_ttl_secs)
    }
}

#[tonic::async_trait]
impl LogicService for LogicServer {
    async fn send(
        &self,
        request: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        let response = self.handle_send(request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn send_batch(
        &self,
        request: Request<pb::SendBatchRequest>,
    ) -> Result<Response<pb::SendBatchResponse>, Status> {
        let answers = self.handle_send_batch(request.into_inner().sends).await;
        let outcomes = answers
            .into_iter()
            .map(|answer| pb::SendOutcome {
                outcome: Some(match answer {
                    Ok(ack) => pb::send_outcome::Outcome::Ack(ack),
                    Err(e) => pb::send_outcome::Outcome::Error(pb::SendError {
                        code: e.code.as_str().to_string(),
                        message: e.message,
                    }),
                }),
            })
            .collect();
        Ok(Response::new(pb::SendBatchResponse { outcomes }))
    }

    async fn large_groups(
        &self,
        request: Request<pb::LargeGroupsRequest>,
    ) -> Result<Response<pb::LargeGroupsResponse>, Status> {
        let user = UserId::parse(&request.into_inner().user_id)?;
        let conversation_ids = self
            .user_groups(&user)
            .await?
            .into_iter()
            .filter(|info| info.large)
            .map(|info| format!("g:{}", info.group_id))
            .collect();
        Ok(Response::new(pb::LargeGroupsResponse { conversation_ids }))
    }

    async fn history(
        &self,
        request: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        self.check_member(&conversation, &user).await?;
        let page = self
            .backends
            .store
            .clone()
            .history(HistoryRequest {
                conversation_id: conversation.to_string(),
                before: req.before,
                limit: req.limit,
                // Logic's answer is store's, so the same budget fits both.
                max_bytes: req.max_bytes,
                reader: user.to_string(),
            })
            .await?
            .into_inner();
        Ok(Response::new(pb::HistoryResponse {
            messages: page.messages,
            has_more: page.has_more,
        }))
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        Ok(Response::new(
            self.handle_create_group(request.into_inner()).await?,
        ))
    }

    async fn add_members(
        &self,
        request: Request<pb::ChangeMembersRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        Ok(Response::new(
            self.handle_add_members(request.into_inner()).await?,
        ))
    }

    async fn remove_members(
        &self,
        request: Request<pb::ChangeMembersRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        Ok(Response::new(
            self.handle_remove_members(request.into_inner()).await?,
        ))
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        Ok(Response::new(
            self.handle_list_members(request.into_inner()).await?,
        ))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        Ok(Response::new(
            self.handle_list_groups(request.into_inner()).await?,
        ))
    }

    async fn pull_conversation(
        &self,
        request: Request<pb::PullConversationRequest>,
    ) -> Result<Response<pb::PullConversationResponse>, Status> {
        Ok(Response::new(
            self.handle_pull_conversation(request.into_inner()).await?,
        ))
    }

    async fn read_ack(
        &self,
        request: Request<pb::ReadAckRequest>,
    ) -> Result<Response<pb::ReadAckResponse>, Status> {
        Ok(Response::new(
            self.handle_read_ack(request.into_inner()).await?,
        ))
    }

    async fn conversation_list(
        &self,
        request: Request<pb::ConversationListRequest>,
    ) -> Result<Response<pb::ConversationListResponse>, Status> {
        Ok(Response::new(
            self.handle_conversation_list(request.into_inner()).await?,
        ))
    }

    async fn room_send(
        &self,
        request: Request<pb::RoomSendRequest>,
    ) -> Result<Response<pb::RoomSendResponse>, Status> {
        Ok(Response::new(
            self.handle_room_send(request.into_inner()).await?,
        ))
    }

    async fn set_push_token(
        &self,
        request: Request<pb::SetPushTokenRequest>,
    ) -> Result<Response<pb::SetPushTokenResponse>, Status> {
        Ok(Response::new(
            self.handle_set_push_token(request.into_inner()).await?,
        ))
    }

    async fn typing(
        &self,
        request: Request<pb::TypingRequest>,
    ) -> Result<Response<pb::TypingResponse>, Status> {
        Ok(Response::new(
            self.handle_typing(request.into_inner()).await?,
        ))
    }
}
