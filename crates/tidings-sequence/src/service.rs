//! The gRPC face of the allocator.

use std::sync::Arc;

use tidings_core::{Error, Seq, TimelineKey};
use tidings_proto::sequence::v1::{
    self as pb, sequence_service_server::SequenceService,
    sequence_service_server::SequenceServiceServer,
};
use tonic::{Request, Response, Status};

use tidings_sequence_client::SeqStatus;

use crate::Allocator;

/// Largest number of keys or seqs in one request.
pub const MAX_BATCH: usize = 10_000;

/// Serves `tidings.sequence.v1.SequenceService`.
#[derive(Clone)]
pub struct SequenceServer {
    allocator: Arc<Allocator>,
}

impl SequenceServer {
    pub fn new(allocator: Arc<Allocator>) -> Self {
        SequenceServer { allocator }
    }

    pub fn into_service(self) -> SequenceServiceServer<Self> {
        std::sync::Arc::new(self).service()
    }

    /// The gRPC service over this handler, which stays shared: in the
    /// all-in-one the other services also call it directly.
    pub fn service(self: std::sync::Arc<Self>) -> SequenceServiceServer<Self> {
        // Explicit both ways: tonic's 4 MiB default would refuse large answers.
        SequenceServiceServer::from_arc(self)
            .max_decoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
    }
}

fn validate_keys(keys: &[String]) -> Result<(), Error> {
    if keys.len() > MAX_BATCH {
        return Err(Error::invalid(format!(
            "at most {MAX_BATCH} keys per request, got {}",
            keys.len()
        )));
    }
    for key in keys {
        TimelineKey::parse(key)?;
    }
    Ok(())
}

fn refs(seqs: Vec<pb::SeqRef>) -> Result<Vec<(String, Seq)>, Error> {
    let refs: Vec<(String, Seq)> = seqs.into_iter().map(|r| (r.key, r.seq)).collect();
    let keys: Vec<String> = refs.iter().map(|(k, _)| k.clone()).collect();
    validate_keys(&keys)?;
    Ok(refs)
}

#[tonic::async_trait]
impl SequenceService for SequenceServer {
    async fn allocate(
        &self,
        request: Request<pb::AllocateRequest>,
    ) -> Result<Response<pb::AllocateResponse>, Status> {
        let keys = request.into_inner().keys;
        validate_keys(&keys)?;
        let seqs = self.allocator.allocate(&keys).await?;
        Ok(Response::new(pb::AllocateResponse { seqs }))
    }

    async fn commit(
        &self,
        request: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        let refs = refs(request.into_inner().seqs)?;
        let statuses = self
            .allocator
            .commit(&refs)
            .await?
            .into_iter()
            .map(|outcome| outcome.to_status() as i32)
            .collect();
        Ok(Response::new(pb::CommitResponse { statuses }))
    }

    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let refs = refs(request.into_inner().seqs)?;
        let states = self
            .allocator
            .check(&refs)
            .await?
            .into_iter()
            .map(|state| SeqStatus::from_outcome(state).to_state() as i32)
            .collect();
        Ok(Response::new(pb::CheckResponse { states }))
    }

    async fn abandon(
        &self,
        request: Request<pb::AbandonRequest>,
    ) -> Result<Response<pb::AbandonResponse>, Status> {
        let refs = refs(request.into_inner().seqs)?;
        self.allocator.abandon(&refs).await?;
        Ok(Response::new(pb::AbandonResponse {}))
    }

    async fn heads(
        &self,
        request: Request<pb::HeadsRequest>,
    ) -> Result<Response<pb::HeadsResponse>, Status> {
        let keys = request.into_inner().keys;
        validate_keys(&keys)?;
        let heads = self.allocator.heads(&keys).await?;
        Ok(Response::new(pb::HeadsResponse { heads }))
    }
}
