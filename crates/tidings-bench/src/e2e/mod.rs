//! End-to-end benchmark: 1:1 messages over real WebSocket connections to the
//! all-in-one started in this process, with N sender/receiver pairs sending at
//! once. Reports acknowledged messages per second, send-to-ack and
//! send-to-push latency, against a Ping/Pong baseline on the same connections
//! measured just before and just after the messages.

mod messages;
mod ping;

use std::sync::Arc;

use anyhow::Context;
use tidings_client::{Device, dev_token};
use tidings_sequence::SequenceConfig;
use tidings_testkit::dm;
use tokio::task::JoinSet;

use crate::params::E2eParams;
use crate::server::BenchServer;
use messages::Pair;
pub use messages::SendStats;
pub use ping::PingStats;

/// One scenario: a pair count, its baseline and its messages.
#[derive(Debug, Clone)]
pub struct E2eRow {
    pub pairs: usize,
    pub ping: PingStats,
    pub send: SendStats,
}

/// Everything the end-to-end benchmark measured.
#[derive(Debug, Clone)]
pub struct E2eReport {
    pub rows: Vec<E2eRow>,
}

/// Runs one scenario per pair count, each on a fresh all-in-one.
pub async fn run(params: &E2eParams) -> anyhow::Result<E2eReport> {
    let mut rows = Vec::new();
    for &pairs in &params.pairs {
        rows.push(run_pairs(pairs, params).await?);
    }
    Ok(E2eReport { rows })
}

async fn run_pairs(count: usize, params: &E2eParams) -> anyhow::Result<E2eRow> {
    let server = BenchServer::start(SequenceConfig::default().sections).await?;
    let pairs = connect_pairs(&server.ws_url(), count).await?;
    let senders: Vec<Arc<Device>> = pairs.iter().map(|p| p.sender.clone()).collect();

    let before = ping::run(&senders, params.pings.div_ceil(2), params.ping_time / 2).await?;
    let send = messages::run(&pairs, params).await?;
    let after = ping::run(&senders, params.pings.div_ceil(2), params.ping_time / 2).await?;
    let ping = ping::combine(count, before, after);

    drop(senders);
    drop(pairs);
    server.shutdown().await;
    Ok(E2eRow {
        pairs: count,
        ping,
        send,
    })
}

/// Runs the message phase with `count` pairs against a server already
/// running at `url` (no ping baseline).
pub async fn run_against(url: &str, count: usize, params: &E2eParams) -> anyhow::Result<SendStats> {
    let pairs = connect_pairs(url, count).await?;
    messages::run(&pairs, params).await
}

/// Connects `count` sender and receiver devices (users `sender-<i>` and
/// `receiver-<i>`), each caught up on its empty inbox.
async fn connect_pairs(url: &str, count: usize) -> anyhow::Result<Vec<Pair>> {
    let mut connecting = JoinSet::new();
    for i in 0..count {
        let url = url.to_string();
        connecting.spawn(async move {
            let sender_id = format!("sender-{i}");
            let receiver_id = format!("receiver-{i}");
            let sender = synced_device(&url, &sender_id).await?;
            let receiver = synced_device(&url, &receiver_id).await?;
            anyhow::Ok((
                i,
                Pair {
                    sender: Arc::new(sender),
                    receiver: Arc::new(receiver),
                    conversation: dm(&sender_id, &receiver_id),
                },
            ))
        });
    }
    let mut pairs = Vec::with_capacity(count);
    while let Some(pair) = connecting.join_next().await {
        pairs.push(pair??);
    }
    pairs.sort_by_key(|(i, _)| *i);
    Ok(pairs.into_iter().map(|(_, pair)| pair).collect())
}

async fn synced_device(url: &str, user: &str) -> anyhow::Result<Device> {
    let (mut device, _welcome) = Device::connect(url, &dev_token(user), "bench", 0)
        .await
        .with_context(|| format!("{user} cannot connect to {url}"))?;
    device
        .pull_all()
        .await
        .with_context(|| format!("{user} cannot pull"))?;
    Ok(device)
}
