//! The end-to-end baseline: protocol-level Ping/Pong round trips over the
//! same gateway and the same connections as the messages, which costs the
//! WebSocket, the framing and the gateway's dispatch but no service call.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidings_client::Device;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::latency::{Latencies, LatencySummary, per_second};

/// What the ping baseline measured for one scenario.
#[derive(Debug, Clone)]
pub struct PingStats {
    /// Connections pinging at once, one ping in flight each.
    pub connections: usize,
    pub pings: u64,
    pub elapsed: Duration,
    pub latency: LatencySummary,
    /// Pings/s after the messages ÷ before: how much the machine drifted.
    pub drift: f64,
}

impl PingStats {
    pub fn pings_per_second(&self) -> f64 {
        per_second(self.pings, self.elapsed)
    }
}

/// One run of pings: count, time and latencies.
pub(crate) struct PingRun {
    pings: u64,
    elapsed: Duration,
    latencies: Latencies,
}

/// Every device pings in a loop, one ping in flight, until it sent
/// `max_pings` or `time` is up.
pub(crate) async fn run(
    devices: &[Arc<Device>],
    max_pings: u64,
    time: Duration,
) -> anyhow::Result<PingRun> {
    let started = Instant::now();
    let deadline = started + time;
    let mut tasks = JoinSet::new();
    for device in devices {
        let device = device.clone();
        tasks.spawn(async move {
            let mut latencies = Latencies::new();
            let mut pings = 0;
            for nonce in 1..=max_pings {
                let sent = Instant::now();
                let echoed = device.connection().ping(nonce).await.context("ping")?;
                let now = Instant::now();
                anyhow::ensure!(echoed == nonce, "pong echoed {echoed}, expected {nonce}");
                latencies.record(now - sent);
                pings += 1;
                if now >= deadline {
                    break;
                }
            }
            anyhow::Ok((pings, latencies))
        });
    }
    let mut run = PingRun {
        pings: 0,
        elapsed: Duration::ZERO,
        latencies: Latencies::new(),
    };
    while let Some(task) = tasks.join_next().await {
        let (pings, latencies) = task??;
        run.pings += pings;
        run.latencies.merge(&latencies);
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

/// The runs before and after the messages, as one baseline.
pub(crate) fn combine(connections: usize, before: PingRun, after: PingRun) -> PingStats {
    let drift = per_second(after.pings, after.elapsed)
        / per_second(before.pings, before.elapsed).max(f64::MIN_POSITIVE);
    let mut latencies = before.latencies;
    latencies.merge(&after.latencies);
    PingStats {
        connections,
        pings: before.pings + after.pings,
        elapsed: before.elapsed + after.elapsed,
        latency: latencies.summary(),
        drift,
    }
}
