//! The end-to-end measurement: senders send 1:1 messages one at a time and
//! time each send until its ack; each receiver times every push from the
//! moment its sender started the send (the send instant travels in the body).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tidings_client::proto::server_frame::Frame;
use tidings_client::{ClientError, Device};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::latency::{Latencies, LatencySummary, per_second};
use crate::params::E2eParams;

/// How often a waiting receiver looks at its sender's progress.
const RECEIVER_POLL: Duration = Duration::from_millis(100);

/// Body prefix of every benchmark message; the rest is the send instant.
const BODY_PREFIX: &str = "tidings-bench sent_at_ns=";

/// What the message phase of one scenario measured.
#[derive(Debug, Clone)]
pub struct SendStats {
    /// Sends acknowledged by the server.
    pub acked: u64,
    /// Sends that failed (each is counted, none is retried).
    pub failed: u64,
    /// From the first send to the last ack.
    pub elapsed: Duration,
    /// Send until its ack, at the sender.
    pub ack_latency: LatencySummary,
    /// Pushes the receivers got.
    pub pushes: u64,
    /// Send started, at the sender, until the push arrived at the receiver.
    pub push_latency: LatencySummary,
}

impl SendStats {
    /// Acknowledged messages per second.
    pub fn messages_per_second(&self) -> f64 {
        per_second(self.acked, self.elapsed)
    }
}

/// One sender/receiver pair of devices and their conversation.
pub(crate) struct Pair {
    pub sender: Arc<Device>,
    pub receiver: Arc<Device>,
    pub conversation: String,
}

/// A sender's progress, watched by its receiver.
#[derive(Default)]
struct Progress {
    acked: AtomicU64,
    done: AtomicBool,
}

/// Runs every pair at once: each sender sends up to `messages` within
/// `send_time`; receivers then wait up to `drain_time` for missing pushes.
pub(crate) async fn run(pairs: &[Pair], params: &E2eParams) -> anyhow::Result<SendStats> {
    let started = Instant::now();
    let send_deadline = started + params.send_time;
    let receive_deadline = send_deadline + params.drain_time;

    let mut receivers = JoinSet::new();
    let mut senders = JoinSet::new();
    for pair in pairs {
        let progress = Arc::new(Progress::default());
        receivers.spawn(receive(
            pair.receiver.clone(),
            progress.clone(),
            started,
            receive_deadline,
            params.drain_time,
        ));
        senders.spawn(send(
            pair.sender.clone(),
            pair.conversation.clone(),
            progress,
            started,
            params.messages,
            send_deadline,
        ));
    }

    let mut stats = SendStats {
        acked: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        ack_latency: LatencySummary::default(),
        pushes: 0,
        push_latency: LatencySummary::default(),
    };
    let mut ack_latencies = Latencies::new();
    while let Some(sender) = senders.join_next().await {
        let (acked, failed, latencies) = sender??;
        stats.acked += acked;
        stats.failed += failed;
        ack_latencies.merge(&latencies);
    }
    stats.elapsed = started.elapsed();
    stats.ack_latency = ack_latencies.summary();

    let mut push_latencies = Latencies::new();
    while let Some(receiver) = receivers.join_next().await {
        let (pushes, latencies) = receiver??;
        stats.pushes += pushes;
        push_latencies.merge(&latencies);
    }
    stats.push_latency = push_latencies.summary();
    Ok(stats)
}

/// Sends one message at a time; returns acked, failed and ack latencies.
async fn send(
    device: Arc<Device>,
    conversation: String,
    progress: Arc<Progress>,
    epoch: Instant,
    messages: u64,
    deadline: Instant,
) -> anyhow::Result<(u64, u64, Latencies)> {
    let mut latencies = Latencies::new();
    let mut failed = 0;
    for n in 0..messages {
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        let body = format!("{BODY_PREFIX}{}", (sent - epoch).as_nanos());
        match device
            .send(&conversation, &format!("bench-{n}"), "text", body)
            .await
        {
            Ok(_) => {
                latencies.record(sent.elapsed());
                progress.acked.fetch_add(1, Ordering::Release);
            }
            Err(ClientError::Closed) => {
                progress.done.store(true, Ordering::Release);
                anyhow::bail!("{} lost its connection", device.user_id());
            }
            Err(e) => {
                failed += 1;
                eprintln!("send failed: {e}");
            }
        }
    }
    progress.done.store(true, Ordering::Release);
    Ok((progress.acked.load(Ordering::Acquire), failed, latencies))
}

/// Times every push until the sender is done and every acked message was
/// pushed, or `drain_time` after the sender is done, or `deadline`.
async fn receive(
    device: Arc<Device>,
    progress: Arc<Progress>,
    epoch: Instant,
    deadline: Instant,
    drain_time: Duration,
) -> anyhow::Result<(u64, Latencies)> {
    let mut latencies = Latencies::new();
    let mut pushes = 0;
    let mut sender_done_at = None;
    loop {
        if progress.done.load(Ordering::Acquire) {
            if pushes >= progress.acked.load(Ordering::Acquire) {
                break;
            }
            let done_at = *sender_done_at.get_or_insert_with(Instant::now);
            if done_at.elapsed() >= drain_time {
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        let frame = match device.connection().next_push(RECEIVER_POLL).await {
            Ok(frame) => frame,
            Err(e) if e.is_timeout() => continue,
            Err(e) => return Err(e).context("receiver lost its connection"),
        };
        let arrived = Instant::now();
        let Some(Frame::Push(push)) = frame.frame else {
            continue;
        };
        let Some(sent_at) = push
            .entry
            .and_then(|entry| entry.message)
            .and_then(|message| sent_at(&message.body))
        else {
            continue;
        };
        latencies.record((arrived - epoch).saturating_sub(sent_at));
        pushes += 1;
    }
    Ok((pushes, latencies))
}

/// The send instant (since the run's epoch) carried by a benchmark body.
fn sent_at(body: &[u8]) -> Option<Duration> {
    let nanos = std::str::from_utf8(body)
        .ok()?
        .strip_prefix(BODY_PREFIX)?
        .parse()
        .ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_instant_round_trips_through_the_body() {
        let body = format!("{BODY_PREFIX}{}", 1_234_567_u128);
        assert_eq!(
            sent_at(body.as_bytes()),
            Some(Duration::from_nanos(1_234_567))
        );
        assert_eq!(sent_at(b"hello"), None);
    }
}
