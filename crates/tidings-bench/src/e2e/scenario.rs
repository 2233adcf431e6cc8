//! One scenario against one target: connect fresh users, read the target's
//! CPU time, drive the load, read it again.

use std::sync::Arc;
use std::time::Duration;

use crate::load::{Live, LoadOutcome, LoadSpec, Pairs, Shape};
use crate::params::{ClosedScenario, E2eParams};

use super::procfs;
use super::servers::{Target, TargetKind};

/// A load shape with its pair count.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "loop", rename_all = "kebab-case")]
pub enum Scenario {
    Closed { pairs: usize, window: usize },
    Open { pairs: usize, rate: u64 },
}

impl Scenario {
    /// Every measured scenario of `params`, closed loops first.
    pub fn all(params: &E2eParams) -> Vec<Scenario> {
        let closed = params
            .closed
            .iter()
            .map(|&ClosedScenario { pairs, window }| Scenario::Closed { pairs, window });
        let open = params.rates.iter().map(|&rate| Scenario::Open {
            pairs: params.open_pairs,
            rate,
        });
        closed.chain(open).collect()
    }

    pub fn pairs(&self) -> usize {
        match *self {
            Scenario::Closed { pairs, .. } | Scenario::Open { pairs, .. } => pairs,
        }
    }

    /// E.g. `64 pairs W=16` or `open 2000/s, 64 pairs`.
    pub fn name(&self) -> String {
        let pairs = |n: usize| {
            if n == 1 {
                "1 pair".to_string()
            } else {
                format!("{n} pairs")
            }
        };
        match *self {
            Scenario::Closed { pairs: n, window } => format!("{} W={window}", pairs(n)),
            Scenario::Open { pairs: n, rate } => format!("open {rate}/s, {}", pairs(n)),
        }
    }

    pub fn spec(&self, params: &E2eParams) -> LoadSpec {
        match *self {
            Scenario::Closed { window, .. } => LoadSpec {
                shape: Shape::Closed { window },
                duration: params.closed_time,
                max_messages: params.max_messages,
                drain: params.drain_time,
            },
            Scenario::Open { rate, .. } => LoadSpec {
                shape: Shape::Open {
                    rate: rate as f64,
                    max_in_flight: params.open_max_in_flight,
                },
                duration: params.open_time,
                max_messages: params.max_messages,
                drain: params.drain_time,
            },
        }
    }
}

/// One scenario's figures on one target.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub target: TargetKind,
    pub scenario: Scenario,
    pub outcome: LoadOutcome,
    /// CPU time of the target's processes during the run (connecting
    /// excluded, drain included).
    pub server_cpu: Duration,
    /// CPU time of this benchmark process over the same span.
    pub client_cpu: Duration,
}

impl RunRow {
    /// Server CPU milliseconds per 1,000 delivered messages.
    pub fn cpu_ms_per_1k(&self) -> Option<f64> {
        (self.outcome.delivered > 0)
            .then(|| self.server_cpu.as_secs_f64() * 1e3 * 1e3 / self.outcome.delivered as f64)
    }
}

/// Runs `scenario` on `target` with users tagged `tag` (unique per target).
pub async fn run(
    target: &Target,
    scenario: Scenario,
    params: &E2eParams,
    tag: &str,
    live: Arc<Live>,
) -> anyhow::Result<RunRow> {
    let pairs = connect(target, scenario, params, tag).await?;
    measure(target, scenario, pairs, params, live).await
}

/// Connects the fresh pairs of `scenario`, users tagged `tag`.
pub async fn connect(
    target: &Target,
    scenario: Scenario,
    params: &E2eParams,
    tag: &str,
) -> anyhow::Result<Pairs> {
    Pairs::connect(
        &target.url,
        scenario.pairs(),
        tag,
        params.connect_concurrency,
    )
    .await
}

/// Drives `scenario` on connected `pairs`, reading the CPU time of the
/// target and of this process around it.
pub async fn measure(
    target: &Target,
    scenario: Scenario,
    pairs: Pairs,
    params: &E2eParams,
    live: Arc<Live>,
) -> anyhow::Result<RunRow> {
    let me = std::process::id();
    let server_before = target.cpu_time()?;
    let client_before = procfs::cpu_time(me)?;
    let outcome = pairs.drive(&scenario.spec(params), live).await?;
    let server_cpu = target.cpu_time()?.saturating_sub(server_before);
    let client_cpu = procfs::cpu_time(me)?.saturating_sub(client_before);
    Ok(RunRow {
        target: target.kind,
        scenario,
        outcome,
        server_cpu,
        client_cpu,
    })
}

/// An untimed closed-loop run (8 pairs, W=4) that warms the target up.
pub async fn warm_up(target: &Target, params: &E2eParams, live: Arc<Live>) -> anyhow::Result<()> {
    if params.warm_up.is_zero() {
        return Ok(());
    }
    let pairs = Pairs::connect(&target.url, 8, "warm", params.connect_concurrency).await?;
    let spec = LoadSpec {
        shape: Shape::Closed { window: 4 },
        duration: params.warm_up,
        max_messages: params.max_messages,
        drain: params.drain_time,
    };
    pairs.drive(&spec, live).await?;
    Ok(())
}
