//! Sends reach logic in batches: one `SendBatch` call carrying the sends of
//! every connection that arrived while the previous call was in flight.
//! Nothing waits for a batch to fill and there is no timer: an idle gateway
//! sends each send at once, a busy one sends few, large calls.
//!
//! Sends are split into lanes by conversation, each lane with one call in
//! flight at a time, so the sends of one connection to one conversation reach
//! logic in the order they were read and get conv seqs in that order.

use std::hash::{DefaultHasher, Hash, Hasher};

use tidings_core::{Error, ErrorCode};
use tidings_proto::logic::v1::{self as logic, send_outcome::Outcome};
use tidings_rpc::LogicApi;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// The answer to one send.
pub(crate) type SendAnswer = Result<logic::SendResponse, Error>;

struct Pending {
    request: logic::SendRequest,
    answer: oneshot::Sender<SendAnswer>,
    /// The client request's span: a batch call joins the first one's trace.
    span: tracing::Span,
}

/// Queues sends for logic, by lane.
pub(crate) struct SendBatcher {
    // Unbounded: what is queued is bounded by connections times each
    // connection's in-flight limit.
    lanes: Vec<mpsc::UnboundedSender<Pending>>,
}

impl SendBatcher {
    /// Starts `lanes` senders; must be called inside a tokio runtime.
    pub(crate) fn new(logic: LogicApi, lanes: usize, max_batch: usize) -> Self {
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_lane(logic.clone(), rx, max_batch.max(1)));
                tx
            })
            .collect();
        SendBatcher { lanes }
    }

    /// Queues a send now (its place in its lane is taken before this
    /// returns); the receiver yields logic's answer.
    pub(crate) fn submit(&self, request: logic::SendRequest) -> oneshot::Receiver<SendAnswer> {
        let (answer, receiver) = oneshot::channel();
        let mut hasher = DefaultHasher::new();
        request.conversation_id.hash(&mut hasher);
        let lane = (hasher.finish() % self.lanes.len() as u64) as usize;
        let pending = Pending {
            request,
            answer,
            span: tracing::Span::current(),
        };
        if let Err(mpsc::error::SendError(pending)) = self.lanes[lane].send(pending) {
            let _ = pending
                .answer
                .send(Err(Error::unavailable("the gateway is shutting down")));
        }
        receiver
    }
}

async fn run_lane(logic: LogicApi, mut queue: mpsc::UnboundedReceiver<Pending>, max_batch: usize) {
    while let Some(first) = queue.recv().await {
        let span = first.span.clone();
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let (requests, answers): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| (p.request, p.answer)).unzip();
        let count = requests.len();
        let result = logic
            .clone()
            .send_batch(logic::SendBatchRequest { sends: requests })
            .instrument(span)
            .await;
        match result {
            Ok(response) => {
                let outcomes = response.into_inner().outcomes;
                if outcomes.len() != count {
                    let e = Error::internal("logic answered a short send batch");
                    for answer in answers {
                        let _ = answer.send(Err(e.clone()));
                    }
                    continue;
                }
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    let _ = answer.send(outcome_to_answer(outcome));
                }
            }
            Err(status) => {
                let e = Error::from(status);
                for answer in answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}

fn outcome_to_answer(outcome: logic::SendOutcome) -> SendAnswer {
    match outcome.outcome {
        Some(Outcome::Ack(ack)) => Ok(ack),
        Some(Outcome::Error(e)) => Err(Error::new(
            ErrorCode::parse(&e.code).unwrap_or(ErrorCode::Internal),
            e.message,
        )),
        None => Err(Error::internal("logic answered a send with nothing")),
    }
}
