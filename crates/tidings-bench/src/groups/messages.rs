//! The message phase of one conversation: the sender sends one message at a
//! time and times it until its ack; every online member device (the
//! sender's included) reads its pushes, and the next message waits until
//! all of them got this one (bounded by `push_wait`). Send-to-push latency
//! is timed on the devices other than the sender's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tidings_client::proto::server_frame::Frame;
use tidings_client::{ClientError, Device, dev_token};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::counting::RowCounts;
use super::params::GroupsParams;
use super::server::CountedServer;
use crate::latency::{Latencies, LatencySummary};

/// How often a receiver looks at the stop flag while no push comes.
const RECEIVER_POLL: Duration = Duration::from_millis(100);

/// Body prefix of every message of this benchmark.
const BODY_PREFIX: &str = "tidings-bench groups ";

/// What the messages of one conversation measured.
#[derive(Debug, Clone, Default)]
pub struct MessageStats {
    /// Sends acknowledged by the server.
    pub acked: u64,
    /// Sends that failed (each is counted, none is retried).
    pub failed: u64,
    /// Rows written from the first send to the last push.
    pub rows: RowCounts,
    /// Frames carrying these messages read by the online devices.
    pub pushes: u64,
    /// Of which inbox `Push` frames (write diffusion)...
    pub inbox_pushes: u64,
    /// ... and `ConversationPush` frames (read diffusion).
    pub conversation_pushes: u64,
    /// Send until its ack, at the sender.
    pub ack_latency: LatencySummary,
    /// Send started at the sender until the push was read at another
    /// member's device.
    pub push_latency: LatencySummary,
}

/// Raw latencies of one message phase, merged before they are summarised.
pub(crate) struct MessageRun {
    pub stats: MessageStats,
    pub ack: Latencies,
    pub push: Latencies,
}

impl MessageRun {
    /// The two runs as one: counts added, latencies merged.
    pub fn merge(mut self, other: MessageRun) -> MessageRun {
        let (a, b) = (&mut self.stats, &other.stats);
        a.acked += b.acked;
        a.failed += b.failed;
        a.rows = a.rows.plus(b.rows);
        a.pushes += b.pushes;
        a.inbox_pushes += b.inbox_pushes;
        a.conversation_pushes += b.conversation_pushes;
        self.ack.merge(&other.ack);
        self.push.merge(&other.push);
        self.summarise()
    }

    fn summarise(mut self) -> MessageRun {
        self.stats.ack_latency = self.ack.summary();
        self.stats.push_latency = self.push.summary();
        self
    }
}

/// Online devices of one conversation's members; the first one sends.
pub(crate) struct Online {
    pub conversation_id: String,
    pub devices: Vec<Arc<Device>>,
}

impl Online {
    /// Connects one device per user of `users`, each caught up on its inbox
    /// and its large groups.
    pub async fn connect(
        url: &str,
        conversation_id: &str,
        users: &[String],
    ) -> anyhow::Result<Online> {
        Ok(Online {
            conversation_id: conversation_id.to_string(),
            devices: synced_devices(url, users).await?,
        })
    }

    /// Closes every connection (best effort: the run is over either way).
    pub async fn close(self) {
        for device in &self.devices {
            let _ = device.close().await;
        }
    }
}

/// A frame of this phase read by one device.
struct Arrival {
    device: usize,
    message: usize,
    conversation_push: bool,
    at: Instant,
}

/// Sends at most `params.messages` messages tagged `tag` (unique in the
/// run) within `params.send_time`, one at a time.
pub(crate) async fn run(
    server: &CountedServer,
    online: &Online,
    tag: &str,
    params: &GroupsParams,
) -> anyhow::Result<MessageRun> {
    let stop = Arc::new(AtomicBool::new(false));
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let mut receivers = JoinSet::new();
    for (index, device) in online.devices.iter().enumerate() {
        receivers.spawn(receive(
            device.clone(),
            index,
            format!("{BODY_PREFIX}{tag} n="),
            arrivals_tx.clone(),
            stop.clone(),
        ));
    }
    drop(arrivals_tx);

    let sender = &online.devices[0];
    let expected = online.devices.len();
    let mut run = MessageRun {
        stats: MessageStats::default(),
        ack: Latencies::new(),
        push: Latencies::new(),
    };
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut arrived: Vec<usize> = Vec::new();
    let rows_before = server.rows();
    let deadline = Instant::now() + params.send_time;
    for n in 0..params.messages as usize {
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        sent_at.push(sent);
        arrived.push(0);
        let body = format!("{BODY_PREFIX}{tag} n={n}");
        match sender
            .send(&online.conversation_id, &format!("{tag}-{n}"), "text", body)
            .await
        {
            Ok(_) => {
                run.ack.record(sent.elapsed());
                run.stats.acked += 1;
            }
            Err(ClientError::Closed) => {
                stop.store(true, Ordering::Release);
                anyhow::bail!("{} lost its connection", sender.user_id());
            }
            Err(e) => {
                run.stats.failed += 1;
                eprintln!("send of {tag}-{n} failed: {e}");
                continue;
            }
        }
        let wait_until = Instant::now() + params.push_wait;
        while arrived[n] < expected {
            match tokio::time::timeout_at(wait_until, arrivals.recv()).await {
                Ok(Some(arrival)) => record(&mut run, arrival, &sent_at, &mut arrived),
                Ok(None) | Err(_) => break,
            }
        }
    }
    // Late pushes of earlier messages, if any, still count.
    let wanted = run.stats.acked as usize * expected;
    let wait_until = Instant::now() + params.push_wait;
    while arrived.iter().sum::<usize>() < wanted {
        match tokio::time::timeout_at(wait_until, arrivals.recv()).await {
            Ok(Some(arrival)) => record(&mut run, arrival, &sent_at, &mut arrived),
            Ok(None) | Err(_) => break,
        }
    }
    run.stats.rows = server.rows().since(rows_before);
    stop.store(true, Ordering::Release);
    while let Some(receiver) = receivers.join_next().await {
        receiver??;
    }
    Ok(run.summarise())
}

/// Counts one frame and times it against its message's send.
fn record(run: &mut MessageRun, arrival: Arrival, sent_at: &[Instant], arrived: &mut [usize]) {
    let stats = &mut run.stats;
    stats.pushes += 1;
    if arrival.conversation_push {
        stats.conversation_pushes += 1;
    } else {
        stats.inbox_pushes += 1;
    }
    let Some(sent) = sent_at.get(arrival.message) else {
        return;
    };
    arrived[arrival.message] += 1;
    if arrival.device != 0 {
        run.push.record(arrival.at.saturating_duration_since(*sent));
    }
}

/// Forwards every frame of this phase (body starting with `prefix`) until
/// `stop` is set.
async fn receive(
    device: Arc<Device>,
    index: usize,
    prefix: String,
    arrivals: mpsc::UnboundedSender<Arrival>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Acquire) {
        let frame = match device.connection().next_push(RECEIVER_POLL).await {
            Ok(frame) => frame,
            Err(e) if e.is_timeout() => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("{} lost its connection", device.user_id()));
            }
        };
        let at = Instant::now();
        let (message, conversation_push) = match frame.frame {
            Some(Frame::Push(push)) => (push.entry.and_then(|e| e.message), false),
            Some(Frame::ConversationPush(push)) => (push.message, true),
            _ => continue,
        };
        let Some(message) = message.and_then(|m| message_number(&m.body, &prefix)) else {
            continue;
        };
        // The receiving end is gone once the phase is over.
        let _ = arrivals.send(Arrival {
            device: index,
            message,
            conversation_push,
            at,
        });
    }
    Ok(())
}

/// The message number carried by a body of this phase.
fn message_number(body: &[u8], prefix: &str) -> Option<usize> {
    std::str::from_utf8(body)
        .ok()?
        .strip_prefix(prefix)?
        .parse()
        .ok()
}

/// Connects one device per user of `users`, at once, each caught up on its
/// inbox and its large groups; in the order of `users`.
async fn synced_devices(url: &str, users: &[String]) -> anyhow::Result<Vec<Arc<Device>>> {
    let mut connecting = JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let (url, user) = (url.to_string(), user.clone());
        connecting.spawn(async move {
            let (mut device, _welcome) = Device::connect(&url, &dev_token(&user), "bench", 0)
                .await
                .with_context(|| format!("{user} cannot connect to {url}"))?;
            device
                .pull_all()
                .await
                .with_context(|| format!("{user} cannot pull"))?;
            anyhow::Ok((i, Arc::new(device)))
        });
    }
    let mut devices = Vec::with_capacity(users.len());
    while let Some(device) = connecting.join_next().await {
        devices.push(device??);
    }
    devices.sort_by_key(|(i, _)| *i);
    Ok(devices.into_iter().map(|(_, device)| device).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_number_round_trips_through_the_body() {
        let prefix = format!("{BODY_PREFIX}g10 n=");
        let body = format!("{prefix}7");
        assert_eq!(message_number(body.as_bytes(), &prefix), Some(7));
        let other = format!("{BODY_PREFIX}g100 n=7");
        assert_eq!(message_number(other.as_bytes(), &prefix), None);
    }
}
