//! The store service: one store timeline per conversation, kept for roaming.
//! It persists what logic hands it and answers range and history reads.
//!
//! It never decides who may read a conversation: callers (logic, gateway via
//! logic) check membership first. Nor does it decide who may edit or react:
//! logic does, before an event reaches the timeline; the store indexes the
//! events and folds them into History (`fold`).

mod fold;

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use tidings_core::wire::answer_budget;
use tidings_core::{ConversationId, Error, Message};
use tidings_proto::store::v1::{
    self as pb, store_service_server::StoreService, store_service_server::StoreServiceServer,
};
use tidings_storage::{MAX_COUNT, MAX_PAGE, MessageStore, PageLimit};
use tonic::{Request, Response, Status};

/// Default page size when a request leaves `limit` at 0.
pub const DEFAULT_PAGE: usize = 50;

/// Counts of one `Count` call run at once: a conversation list asks for
/// one per conversation, and each is a short read of its own.
const COUNTS_IN_FLIGHT: usize = 16;

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
        std::sync::Arc::new(self).service()
    }

    /// The gRPC service over this handler, which stays shared: in the
    /// all-in-one the other services also call it directly.
    pub fn service(self: std::sync::Arc<Self>) -> StoreServiceServer<Self> {
        // Explicit both ways: tonic's 4 MiB default would refuse large answers.
        StoreServiceServer::from_arc(self)
            .max_decoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
    }
}

/// Clamps a requested page size: 0 means the default.
pub fn page_size(limit: u32) -> usize {
    match limit as usize {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Bytes of a range or history answer besides its messages: `has_more`.
const ANSWER_OVERHEAD: usize = 2;

/// The page a read asks for: `limit` clamped (0: the default), and the
/// answer's byte budget (`max_bytes`, see the proto) less what is not
/// messages, so the answer itself stays within it.
fn page_limit(limit: u32, max_bytes: u32) -> PageLimit {
    let bytes = answer_budget(max_bytes).saturating_sub(ANSWER_OVERHEAD);
    PageLimit::new(page_size(limit), bytes)
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
        let events = fold::event_rows(&messages)?;
        self.messages
            .append_messages(&messages)
            .await
            .map_err(Error::from)?;
        // After the messages: an index row never names an event that the
        // timeline lacks, and a failure here fails the append, whose retry
        // writes both again.
        self.messages
            .append_events(&events)
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
            .read_messages(
                &req.conversation_id,
                req.after,
                up_to,
                page_limit(req.limit, req.max_bytes),
            )
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
            .read_history(
                &req.conversation_id,
                before,
                page_limit(req.limit, req.max_bytes),
            )
            .await
            .map_err(Error::from)?;
        let mut messages: Vec<tidings_proto::common::v1::Message> =
            page.items.into_iter().map(Into::into).collect();
        fold::fold_page(
            self.messages.as_ref(),
            &req.conversation_id,
            &mut messages,
            &req.reader,
        )
        .await?;
        let mut answer = pb::HistoryResponse {
            messages,
            has_more: page.has_more,
        };
        // A state adds a few bytes (reactions; an edit replaces the body):
        // drop the oldest messages until the answer fits again.
        let budget = answer_budget(req.max_bytes);
        while answer.messages.len() > 1 && prost::Message::encoded_len(&answer) > budget {
            answer.messages.pop();
            answer.has_more = true;
        }
        Ok(Response::new(answer))
    }

    async fn count(
        &self,
        request: Request<pb::CountRequest>,
    ) -> Result<Response<pb::CountResponse>, Status> {
        let ranges = request.into_inner().ranges;
        if ranges.len() > MAX_PAGE {
            return Err(Error::invalid(format!("at most {MAX_PAGE} ranges a count")).into());
        }
        for range in &ranges {
            ConversationId::parse(&range.conversation_id)?;
        }
        let counts = stream::iter(ranges)
            .map(|range| async move {
                self.messages
                    .count_messages(
                        &range.conversation_id,
                        range.after,
                        range.up_to,
                        &range.except_sender,
                        MAX_COUNT,
                    )
                    .await
            })
            .buffered(COUNTS_IN_FLIGHT)
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(Response::new(pb::CountResponse { counts }))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use tidings_storage::conformance::message;
    use tidings_storage::embedded::EmbeddedStore;

    use super::*;

    /// Range and history answers stay within the bytes asked for, with
    /// has_more set, and hold one message even when it alone is larger.
    #[tokio::test]
    async fn answers_are_cut_to_max_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreServer::new(EmbeddedStore::open(dir.path()).unwrap());
        let conversation = "g:store-bytes";
        let messages: Vec<Message> = (1..=20)
            .map(|seq| Message {
                body: vec![7; 10_000],
                ..message(conversation, seq)
            })
            .collect();
        store.messages.append_messages(&messages).await.unwrap();

        for max_bytes in [1, 25_000, 100_000] {
            let range = pb::RangeRequest {
                conversation_id: conversation.into(),
                limit: 100,
                max_bytes,
                ..Default::default()
            };
            let page = store.range(Request::new(range)).await.unwrap().into_inner();
            assert!(page.has_more, "max_bytes={max_bytes}");
            let fits = page.encoded_len() <= max_bytes as usize;
            assert!(fits || page.messages.len() == 1, "max_bytes={max_bytes}");
            assert_eq!(page.messages.len(), (max_bytes as usize / 10_100).max(1));

            let history = pb::HistoryRequest {
                conversation_id: conversation.into(),
                limit: 100,
                max_bytes,
                ..Default::default()
            };
            let page = store
                .history(Request::new(history))
                .await
                .unwrap()
                .into_inner();
            assert!(page.has_more);
            assert_eq!(page.messages[0].conv_seq, 20);
            assert!(page.encoded_len() <= max_bytes as usize || page.messages.len() == 1);
        }
        // 0 asks for the largest answer: all 20 (200 KB) in one page.
        let range = pb::RangeRequest {
            conversation_id: conversation.into(),
            ..Default::default()
        };
        let page = store.range(Request::new(range)).await.unwrap().into_inner();
        assert_eq!((page.messages.len(), page.has_more), (20, false));
    }
}
