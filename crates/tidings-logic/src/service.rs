//! The gRPC face of logic and the clients it calls.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_core::{ConversationId, Error, UserId};
use tidings_proto::logic::v1::{
    self as pb, logic_service_server::LogicService, logic_service_server::LogicServiceServer,
};
use tidings_proto::store::v1::{HistoryRequest, store_service_client::StoreServiceClient};
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_sequence::SequenceRouter;
use tidings_storage::DedupeStore;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::LogicConfig;
use crate::push::PushRouter;

/// What logic talks to.
#[derive(Clone)]
pub struct Backends {
    pub sequence: Arc<SequenceRouter>,
    pub store: StoreServiceClient<Channel>,
    pub sync: SyncServiceClient<Channel>,
    pub dedupe: Arc<dyn DedupeStore>,
    pub push: PushRouter,
}

/// Serves `tidings.logic.v1.LogicService`.
#[derive(Clone)]
pub struct LogicServer {
    pub(crate) config: LogicConfig,
    pub(crate) backends: Backends,
    /// Sends being processed, by (sender, client_msg_id): a concurrent resend
    /// is told to retry instead of racing the first attempt.
    pub(crate) in_flight: Arc<Mutex<HashSet<(String, String)>>>,
}

impl LogicServer {
    pub fn new(config: LogicConfig, backends: Backends) -> Self {
        LogicServer {
            config,
            backends,
            in_flight: Arc::default(),
        }
    }

    pub fn into_service(self) -> LogicServiceServer<Self> {
        LogicServiceServer::new(self)
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

    async fn history(
        &self,
        request: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse(&req.user_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        if !conversation.is_member(&user) {
            return Err(Error::new(
                tidings_core::ErrorCode::NotMember,
                format!("user {user} is not a member of {conversation}"),
            )
            .into());
        }
        let page = self
            .backends
            .store
            .clone()
            .history(HistoryRequest {
                conversation_id: conversation.to_string(),
                before: req.before,
                limit: req.limit,
            })
            .await?
            .into_inner();
        Ok(Response::new(pb::HistoryResponse {
            messages: page.messages,
            has_more: page.has_more,
        }))
    }
}
