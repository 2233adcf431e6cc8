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
use tidings_testkit::{TestServer, dm};
use tokio::task::JoinSet;

use crate::params::E2eParams;
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
    let server = TestServer::start().await;
    let pairs = connect_pairs(&server.url(), count).await?;
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
    let users: Vec<String> = (0..count)
        .flat_map(|i| [format!("sender-{i}"), format!("receiver-{i}")])
        .collect();
    let devices = synced_devices(url, &users).await?;
    let pairs = users.chunks_exact(2).zip(devices.chunks_exact(2));
    Ok(pairs
        .map(|(users, devices)| Pair {
            sender: devices[0].clone(),
            receiver: devices[1].clone(),
            conversation: dm(&users[0], &users[1]),
        })
        .collect())
}

/// Connects one device per user of `users`, at once, each caught up on its
/// inbox and its large groups; in the order of `users`.
pub(crate) async fn synced_devices(
    url: &str,
    users: &[String],
) -> anyhow::Result<Vec<Arc<Device>>> {
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
