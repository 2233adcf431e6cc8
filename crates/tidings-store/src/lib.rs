//! The store service: one store timeline per conversation, kept for roaming.
//! It persists what logic hands it and answers range and history reads.
//!
//! It never decides who may read a conversation: callers (logic, gateway via
//! logic) check membership first.

use std::sync::Arc;

use tidings_core::{ConversationId, Error, Message};
use tidings_proto::store::v1::{
    self as pb, store_service_server::StoreService, store_service_server::StoreServiceServer,
};
use tidings_storage::{MAX_PAGE, MessageStore};
use tonic::{Request, Response, Status};

/// Default page size when a request leaves `limit` at 0.
pub const DEFAULT_PAGE: usize = 50;

/// Serves `tidings.store.v1.StoreService`.
#[derive(Clone)]
pub struct StoreServer {
    messages: Arc<dyn MessageStore>,
}

impl StoreServer {
    pub fn new(messages: Arc<dyn MessageStore>) -> Self {
        StoreServer { messages }
    }

    pub fn into_service(self) -> StoreServiceServer<Self> {
        StoreServiceServer::new(self)
    }
}

/// Clamps a requested page size: 0 means the default.
pub fn page_size(limit: u32) -> usize {
    match limit as usize {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Ids were parsed with the message; what is left to check is its place.
fn validate_message(m: &Message) -> Result<(), Error> {
    if m.conv_seq == 0 {
        return Err(Error::invalid("message conv_seq must be positive"));
    }
    Ok(())
}

#[tonic::async_trait]
impl StoreService for StoreServer {
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let messages = request
            .into_inner()
            .messages
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<Message>, Error>>()?;
        for m in &messages {
            validate_message(m)?;
        }
        self.messages
            .append_messages(&messages)
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::AppendResponse {}))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveRequest>,
    ) -> Result<Response<pb::RemoveResponse>, Status> {
        let mut seqs = Vec::new();
        for m in request.into_inner().messages {
            ConversationId::parse(&m.conversation_id)?;
            seqs.push((m.conversation_id, m.conv_seq));
        }
        self.messages
            .delete_messages(&seqs)
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::RemoveResponse {}))
    }

    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let req = request.into_inner();
        ConversationId::parse(&req.conversation_id)?;
        let up_to = (req.up_to > 0).then_some(req.up_to);
        let page = self
            .messages
            .read_messages(&req.conversation_id, req.after, up_to, page_size(req.limit))
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::RangeResponse {
            messages: page.items.into_iter().map(Into::into).collect(),
            has_more: page.has_more,
        }))
    }

    async fn history(
        &self,
        request: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let req = request.into_inner();
        ConversationId::parse(&req.conversation_id)?;
        let before = (req.before > 0).then_some(req.before);
        let page = self
            .messages
            .read_history(&req.conversation_id, before, page_size(req.limit))
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::HistoryResponse {
            messages: page.items.into_iter().map(Into::into).collect(),
            has_more: page.has_more,
        }))
    }
}
