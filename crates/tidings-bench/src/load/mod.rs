//! The load generator of the end-to-end benchmark. It drives any server that
//! speaks the client protocol (Tidings or the relay) with the same code:
//! raw WebSocket connections, binary protobuf frames, no SDK.
//!
//! P sender/receiver pairs, each user on its own connection. Every sender
//! sends to its receiver's `dm:` conversation with unique `client_msg_id`s
//! and a 64-byte body stamped with the instant the message was due
//! ([`body`]). Two shapes:
//! - **closed loop**: at most W sends in flight per sender connection; acks
//!   are matched to sends by request id, in whatever order they come;
//! - **open loop**: sends scheduled by time at a fixed total rate; latency
//!   is measured from the scheduled instant, so a server that falls behind
//!   is charged for the wait (no coordinated omission).
//!
//! Receivers count deliveries by (sender, number): a message acked but not
//! delivered by the end of the drain is **lost**, one delivered twice is
//! **duplicated**. Send-to-deliver latencies go into an HdrHistogram. The
//! generator never assumes the server answers in request order or serves
//! one request at a time.
//!
//! [`flood`] is the misbehaving client beside them: one more connection
//! that floods the server with frames it must refuse ([`garbage`]) or with
//! valid sends it must take or rate-limit.

pub mod body;
pub mod connection;
pub mod flood;
mod garbage;
mod pair;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::latency::{Latencies, per_second};
use crate::wire;
pub use connection::WsStream;
use pair::{PairOutcome, PairTask};

/// How the senders pace themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// At most `window` sends in flight per sender connection.
    Closed { window: usize },
    /// `rate` messages per second in total, spread evenly over the senders;
    /// at most `max_in_flight` unacknowledged per sender connection.
    Open { rate: f64, max_in_flight: usize },
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub shape: Shape,
    /// How long the senders send.
    pub duration: Duration,
    /// Messages each sender sends, at most.
    pub max_messages: u64,
    /// How long acks and deliveries are awaited once the senders stop.
    pub drain: Duration,
}

/// Counters a progress display may read while a run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
}

/// Connected sender/receiver pairs, ready for one run.
pub struct Pairs {
    pairs: Vec<Pair>,
}

struct Pair {
    index: u32,
    sender_user: String,
    conversation: String,
    sender: WsStream,
    receiver: WsStream,
}

impl Pairs {
    /// Connects `count` pairs of fresh users `<tag>-s<i>` and `<tag>-r<i>`
    /// (`tag` must be unique on the server), at most `concurrency`
    /// handshakes at a time.
    pub async fn connect(
        url: &str,
        count: usize,
        tag: &str,
        concurrency: usize,
    ) -> anyhow::Result<Pairs> {
        let users: Vec<String> = (0..count)
            .flat_map(|i| [format!("{tag}-s{i}"), format!("{tag}-r{i}")])
            .collect();
        let mut sockets = connection::open_all(url, &users, concurrency)
            .await?
            .into_iter();
        let mut pairs = Vec::with_capacity(count);
        for (i, names) in users.chunks_exact(2).enumerate() {
            let (Some(sender), Some(receiver)) = (sockets.next(), sockets.next()) else {
                anyhow::bail!("one connection per user");
            };
            pairs.push(Pair {
                index: i as u32,
                sender_user: names[0].clone(),
                conversation: wire::dm(&names[0], &names[1]),
                sender,
                receiver,
            });
        }
        Ok(Pairs { pairs })
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Runs `spec` on these connections, then closes them.
    pub async fn drive(self, spec: &LoadSpec, live: Arc<Live>) -> anyhow::Result<LoadOutcome> {
        let count = self.pairs.len().max(1);
        let epoch = Instant::now();
        let deadline = epoch + spec.duration;
        let drain_deadline = deadline + spec.drain;
        let mut tasks = JoinSet::new();
        for pair in self.pairs {
            let task = PairTask {
                index: pair.index,
                client_prefix: pair.sender_user,
                conversation: pair.conversation,
                shape: spec.shape,
                first_due: epoch + first_offset(spec.shape, pair.index, count),
                interval: interval(spec.shape, count),
                epoch,
                deadline,
                drain_deadline,
                max_messages: spec.max_messages,
                live: Arc::clone(&live),
            };
            tasks.spawn(task.run(pair.sender, pair.receiver));
        }
        let mut outcome = LoadOutcome::empty(count, spec.shape, spec.duration, epoch);
        while let Some(pair) = tasks.join_next().await {
            outcome.add(pair??);
        }
        outcome.finished = Instant::now();
        Ok(outcome)
    }
}

/// Time between two sends of one sender in an open loop.
fn interval(shape: Shape, senders: usize) -> Duration {
    match shape {
        Shape::Closed { .. } => Duration::ZERO,
        Shape::Open { rate, .. } => Duration::from_secs_f64(senders as f64 / rate.max(1e-3)),
    }
}

/// Senders of an open loop start staggered across one interval, so the
/// total load is even rather than in bursts of one send per sender.
fn first_offset(shape: Shape, index: u32, senders: usize) -> Duration {
    interval(shape, senders).mul_f64(f64::from(index) / senders as f64)
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    pub pairs: usize,
    pub shape: Shape,
    pub duration: Duration,
    /// Sends the schedule asked for (open loop; closed loop: = sent).
    pub scheduled: u64,
    pub sent: u64,
    pub acked: u64,
    /// Sends answered by an error frame.
    pub failed: u64,
    /// Distinct messages delivered to their receiver.
    pub delivered: u64,
    /// Deliveries of a message already delivered.
    pub duplicates: u64,
    /// Acked messages never delivered by the end of the drain.
    pub lost: u64,
    /// Sends neither acked nor failed by the end of the drain.
    pub unanswered: u64,
    /// Pushes of its own messages to a sender's connection (Tidings pushes
    /// the sender's inbox entry too; the relay does not).
    pub echoes: u64,
    /// Send (or scheduled instant) to delivery.
    pub latency: Latencies,
    /// Send (or scheduled instant) to ack.
    pub ack_latency: Latencies,
    /// Largest delay of a send behind its schedule (open loop).
    pub max_send_lag: Duration,
    pub started: Instant,
    /// Last delivery of the run.
    pub last_delivery: Option<Instant>,
    pub finished: Instant,
    /// The first few error messages the server sent, for the report.
    pub errors: Vec<String>,
}

impl LoadOutcome {
    /// An outcome with nothing counted yet, for a run started at `started`.
    pub fn empty(pairs: usize, shape: Shape, duration: Duration, started: Instant) -> Self {
        LoadOutcome {
            pairs,
            shape,
            duration,
            scheduled: 0,
            sent: 0,
            acked: 0,
            failed: 0,
            delivered: 0,
            duplicates: 0,
            lost: 0,
            unanswered: 0,
            echoes: 0,
            latency: Latencies::new(),
            ack_latency: Latencies::new(),
            max_send_lag: Duration::ZERO,
            started,
            last_delivery: None,
            finished: started,
            errors: Vec::new(),
        }
    }

    fn add(&mut self, pair: PairOutcome) {
        self.scheduled += pair.scheduled;
        self.sent += pair.sent;
        let acked = pair.acked.iter().filter(|&&a| a).count() as u64;
        self.acked += acked;
        self.failed += pair.failed;
        self.unanswered += pair.sent.saturating_sub(acked + pair.failed);
        self.echoes += pair.echoes;
        self.max_send_lag = self.max_send_lag.max(pair.max_send_lag);
        self.latency.merge(&pair.latency);
        self.ack_latency.merge(&pair.ack_latency);
        self.last_delivery = self.last_delivery.max(pair.last_delivery);
        for (number, &times) in pair.deliveries.iter().enumerate() {
            let acked = pair.acked.get(number).copied().unwrap_or(false);
            if times > 0 {
                self.delivered += 1;
                self.duplicates += u64::from(times - 1);
            } else if acked {
                self.lost += 1;
            }
        }
        for error in pair.errors {
            if self.errors.len() < 5 && !self.errors.contains(&error) {
                self.errors.push(error);
            }
        }
    }

    /// Distinct deliveries per second, from the start of the run to the last
    /// delivery (a backlog drained after the senders stopped counts, and so
    /// does the time it took).
    pub fn delivered_per_second(&self) -> f64 {
        let Some(last) = self.last_delivery else {
            return 0.0;
        };
        per_second(self.delivered, last - self.started)
    }

    /// Sends per second the senders managed, over the send phase.
    pub fn sent_per_second(&self) -> f64 {
        per_second(self.sent, self.duration)
    }

    /// An open loop whose senders could not keep to the schedule: fewer than
    /// 99% of the scheduled sends went out, or one went out more than a
    /// second late. Its latencies are then a lower bound.
    pub fn saturated(&self) -> bool {
        matches!(self.shape, Shape::Open { .. })
            && (self.sent * 100 < self.scheduled * 99 || self.max_send_lag > Duration::from_secs(1))
    }
}
