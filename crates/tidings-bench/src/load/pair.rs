//! One sender/receiver pair during a run: the sender's writer (paced by a
//! window or a schedule), the sender's ack reader, and the receiver's
//! delivery counter, each its own task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tidings_proto::client::v1::{
    ServerFrame, client_frame::Frame as Out, server_frame::Frame as In,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::body::Stamp;
use super::connection::WsStream;
use super::{Live, Shape};
use crate::latency::Latencies;
use crate::wire::{self, Incoming};

/// How often a waiting reader looks at whether it is done.
const POLL: Duration = Duration::from_millis(20);

/// Everything a pair needs to run.
pub(super) struct PairTask {
    pub index: u32,
    /// Prefix of the pair's `client_msg_id`s (the sender's user id).
    pub client_prefix: String,
    pub conversation: String,
    pub shape: Shape,
    /// Open loop: when the first send is due.
    pub first_due: Instant,
    /// Open loop: time between two sends.
    pub interval: Duration,
    pub epoch: Instant,
    /// Senders send nothing at or after this instant.
    pub deadline: Instant,
    /// Readers stop at this instant whatever is outstanding.
    pub drain_deadline: Instant,
    pub max_messages: u64,
    pub live: Arc<Live>,
}

/// What one pair measured.
pub(super) struct PairOutcome {
    pub scheduled: u64,
    pub sent: u64,
    /// Indexed by message number.
    pub acked: Vec<bool>,
    pub failed: u64,
    /// Deliveries per message number.
    pub deliveries: Vec<u8>,
    pub echoes: u64,
    pub latency: Latencies,
    pub ack_latency: Latencies,
    pub max_send_lag: Duration,
    pub last_delivery: Option<Instant>,
    pub errors: Vec<String>,
}

/// Shared by the sender's writer and its ack reader.
#[derive(Default)]
struct SendState {
    /// Request id to the instant its message was due.
    in_flight: Mutex<HashMap<u64, Instant>>,
    sent: AtomicU64,
    /// Acked or failed.
    settled: AtomicU64,
    sending_done: AtomicBool,
    acks_done: AtomicBool,
}

impl SendState {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Instant>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct WriterOutcome {
    scheduled: u64,
    max_send_lag: Duration,
}

struct AckOutcome {
    acked: Vec<bool>,
    failed: u64,
    echoes: u64,
    latency: Latencies,
    errors: Vec<String>,
}

struct DeliveryOutcome {
    deliveries: Vec<u8>,
    latency: Latencies,
    last_delivery: Option<Instant>,
}

impl PairTask {
    pub async fn run(self, sender: WsStream, receiver: WsStream) -> anyhow::Result<PairOutcome> {
        let window = match self.shape {
            Shape::Closed { window } => window,
            Shape::Open { max_in_flight, .. } => max_in_flight,
        };
        let permits = Arc::new(Semaphore::new(window.max(1)));
        let state = Arc::new(SendState::default());
        let this = Arc::new(self);
        let (sink, acks) = sender.split();
        let (receiver_sink, deliveries) = receiver.split();

        let reader = tokio::spawn(Arc::clone(&this).read_acks(
            acks,
            Arc::clone(&state),
            Arc::clone(&permits),
        ));
        let counter =
            tokio::spawn(Arc::clone(&this).count_deliveries(deliveries, Arc::clone(&state)));
        let (writer, mut sink) = Arc::clone(&this)
            .write(sink, Arc::clone(&state), permits)
            .await;
        let acks = reader.await.context("ack reader")??;
        let delivered = counter.await.context("delivery counter")??;
        let writer = writer?;
        let _ = sink.close().await;
        drop(receiver_sink);

        Ok(PairOutcome {
            scheduled: writer.scheduled,
            sent: state.sent.load(Ordering::Acquire),
            acked: acks.acked,
            failed: acks.failed,
            deliveries: delivered.deliveries,
            echoes: acks.echoes,
            latency: delivered.latency,
            ack_latency: acks.latency,
            max_send_lag: writer.max_send_lag,
            last_delivery: delivered.last_delivery,
            errors: acks.errors,
        })
    }

    /// Sends until the deadline or `max_messages`, each send taking a permit
    /// that its ack (or error) gives back; returns the sink so the
    /// connection stays open while acks drain.
    async fn write(
        self: Arc<Self>,
        mut sink: SplitSink<WsStream, WsMessage>,
        state: Arc<SendState>,
        permits: Arc<Semaphore>,
    ) -> (
        anyhow::Result<WriterOutcome>,
        SplitSink<WsStream, WsMessage>,
    ) {
        let mut outcome = WriterOutcome {
            scheduled: 0,
            max_send_lag: Duration::ZERO,
        };
        let result = async {
            for number in 0..self.max_messages {
                let due = match self.shape {
                    Shape::Closed { .. } => None,
                    Shape::Open { .. } => {
                        let due = self.first_due + self.interval.mul_f64(number as f64);
                        if due >= self.deadline {
                            break;
                        }
                        outcome.scheduled += 1;
                        tokio::time::sleep_until(due).await;
                        Some(due)
                    }
                };
                let Ok(Ok(permit)) =
                    tokio::time::timeout_at(self.deadline, permits.acquire()).await
                else {
                    break;
                };
                permit.forget();
                let now = Instant::now();
                if now >= self.deadline {
                    permits.add_permits(1);
                    break;
                }
                let due = due.unwrap_or(now);
                outcome.max_send_lag = outcome.max_send_lag.max(now - due);
                let request_id = number + 1;
                state.in_flight().insert(request_id, due);
                let frame = self.send_frame(number, due);
                match tokio::time::timeout_at(self.drain_deadline, sink.send(frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e).context("sender connection failed"),
                    Err(_) => break,
                }
                state.sent.fetch_add(1, Ordering::AcqRel);
                self.live.sent.fetch_add(1, Ordering::Relaxed);
            }
            if matches!(self.shape, Shape::Closed { .. }) {
                outcome.scheduled = state.sent.load(Ordering::Acquire);
            }
            Ok(())
        }
        .await;
        state.sending_done.store(true, Ordering::Release);
        (result.map(|()| outcome), sink)
    }

    // `.into()`: the generated body field is `Vec<u8>` today and may become
    // `Bytes`; this compiles with either.
    #[allow(clippy::useless_conversion)]
    fn send_frame(&self, number: u64, due: Instant) -> WsMessage {
        let stamp = Stamp {
            sender: self.index,
            number,
            due: due - self.epoch,
        };
        wire::client_message(
            number + 1,
            Out::Send(tidings_proto::client::v1::Send {
                conversation_id: self.conversation.clone(),
                client_msg_id: format!("{}-{number}", self.client_prefix),
                kind: "text".to_string(),
                body: stamp.encode().into(),
            }),
        )
    }

    /// Reads the sender connection: acks and errors of sends (in any
    /// order), pushes of the sender's own inbox (counted, ignored).
    async fn read_acks(
        self: Arc<Self>,
        mut stream: SplitStream<WsStream>,
        state: Arc<SendState>,
        permits: Arc<Semaphore>,
    ) -> anyhow::Result<AckOutcome> {
        let mut outcome = AckOutcome {
            acked: Vec::new(),
            failed: 0,
            echoes: 0,
            latency: Latencies::new(),
            errors: Vec::new(),
        };
        let mut tick = poll_ticker();
        loop {
            let sent = state.sent.load(Ordering::Acquire);
            if state.sending_done.load(Ordering::Acquire)
                && state.settled.load(Ordering::Acquire) >= sent
            {
                break;
            }
            if Instant::now() >= self.drain_deadline {
                break;
            }
            let message = tokio::select! {
                biased;
                message = stream.next() => match message {
                    None => break,
                    Some(message) => message.context("sender connection failed")?,
                },
                _ = tick.tick() => continue,
            };
            let arrived = Instant::now();
            let frame: ServerFrame = match wire::decode(&message) {
                Incoming::Frame(frame) => frame,
                Incoming::Close => break,
                _ => continue,
            };
            let due = state.in_flight().remove(&frame.request_id);
            match (frame.frame, due) {
                (Some(In::Push(_)), _) => outcome.echoes += 1,
                (Some(In::SendAck(_)), Some(due)) => {
                    outcome.latency.record(arrived - due);
                    mark(&mut outcome.acked, frame.request_id - 1);
                    state.settled.fetch_add(1, Ordering::AcqRel);
                    permits.add_permits(1);
                }
                (Some(In::Error(error)), Some(_)) => {
                    outcome.failed += 1;
                    if outcome.errors.len() < 3 {
                        outcome.errors.push(error.message);
                    }
                    state.settled.fetch_add(1, Ordering::AcqRel);
                    permits.add_permits(1);
                }
                (Some(In::Error(error)), None) if outcome.errors.len() < 3 => {
                    outcome.errors.push(error.message);
                }
                _ => {}
            }
        }
        state.acks_done.store(true, Ordering::Release);
        Ok(outcome)
    }

    /// Reads the receiver connection: counts pushes of this pair's messages
    /// by number and times them from the instant they were due.
    async fn count_deliveries(
        self: Arc<Self>,
        mut stream: SplitStream<WsStream>,
        state: Arc<SendState>,
    ) -> anyhow::Result<DeliveryOutcome> {
        let mut outcome = DeliveryOutcome {
            deliveries: Vec::new(),
            latency: Latencies::new(),
            last_delivery: None,
        };
        let mut distinct = 0_u64;
        let mut tick = poll_ticker();
        loop {
            // Done once every sent message arrived and no ack is awaited;
            // otherwise wait until the drain deadline for stragglers.
            if state.acks_done.load(Ordering::Acquire)
                && distinct >= state.sent.load(Ordering::Acquire)
            {
                break;
            }
            if Instant::now() >= self.drain_deadline {
                break;
            }
            let message = tokio::select! {
                biased;
                message = stream.next() => match message {
                    None => break,
                    Some(message) => message.context("receiver connection failed")?,
                },
                _ = tick.tick() => continue,
            };
            let arrived = Instant::now();
            let Incoming::Frame(frame) = wire::decode::<ServerFrame>(&message) else {
                continue;
            };
            let Some(In::Push(push)) = frame.frame else {
                continue;
            };
            let Some(stamp) = push
                .entry
                .and_then(|entry| entry.message)
                .and_then(|message| Stamp::decode(&message.body))
            else {
                continue;
            };
            if stamp.sender != self.index {
                continue;
            }
            if count(&mut outcome.deliveries, stamp.number) {
                outcome
                    .latency
                    .record((arrived - self.epoch).saturating_sub(stamp.due));
                distinct += 1;
                self.live.delivered.fetch_add(1, Ordering::Relaxed);
                outcome.last_delivery = Some(arrived);
            }
        }
        Ok(outcome)
    }
}

/// Wakes a reader that waits for frames every [`POLL`], so it notices when
/// it is done; one timer per reader rather than one per read.
fn poll_ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Sets `flags[index]`, growing the vector as needed.
fn mark(flags: &mut Vec<bool>, index: u64) {
    let index = index as usize;
    if flags.len() <= index {
        flags.resize(index + 1, false);
    }
    flags[index] = true;
}

/// Counts one delivery of `number`; true for its first.
fn count(deliveries: &mut Vec<u8>, number: u64) -> bool {
    let index = number as usize;
    if deliveries.len() <= index {
        deliveries.resize(index + 1, 0);
    }
    deliveries[index] = deliveries[index].saturating_add(1);
    deliveries[index] == 1
}
