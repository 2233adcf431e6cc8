//! Storage benchmark: operations per second and latency of the storage
//! traits (`tidings_storage::{MessageStore, InboxStore}`) on two backends in
//! the same run: the embedded store, which is the baseline, and the CQL
//! backend on the test node (`TIDINGS_TEST_SCYLLA`, else `TIDINGS_TEST_CQL`,
//! else 127.0.0.1:19042). Each operation is what one step of the message path
//! costs: the store timeline write of a send, its two inbox writes, a sync
//! page, an inbox page and a page of roaming history; from one task and from
//! several at once.
//!
//! The embedded rows are measured in two halves, before and after the CQL
//! rows (drift = after ÷ before). When no CQL node answers on a loopback
//! address, the CQL rows are skipped with the reason, and the run goes on.

mod backends;
mod workload;

use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::latency::{Latencies, LatencySummary, per_second};
use crate::params::StorageParams;
use backends::Backend;
pub use backends::{CqlNode, CqlOutcome};
use workload::Workload;

/// The trait methods measured, each called the way one step of the message
/// path calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StorageOp {
    /// `append_messages` of one message: the store timeline write of a send.
    AppendMessage,
    /// `append_inbox` of 2 entries (sender's and receiver's inboxes): the
    /// inbox writes of one 1:1 send.
    AppendInbox,
    /// `read_messages` of a range of 50 messages (sync).
    ReadMessages,
    /// `read_inbox` of 50 entries.
    ReadInbox,
    /// `read_history` page of 20 messages (roaming).
    ReadHistory,
}

impl StorageOp {
    pub const ALL: [StorageOp; 5] = [
        StorageOp::AppendMessage,
        StorageOp::AppendInbox,
        StorageOp::ReadMessages,
        StorageOp::ReadInbox,
        StorageOp::ReadHistory,
    ];

    /// The trait method called.
    pub fn method(self) -> &'static str {
        match self {
            StorageOp::AppendMessage => "append_messages",
            StorageOp::AppendInbox => "append_inbox",
            StorageOp::ReadMessages => "read_messages",
            StorageOp::ReadInbox => "read_inbox",
            StorageOp::ReadHistory => "read_history",
        }
    }

    /// Messages or entries one call writes or reads.
    pub fn items(self) -> u64 {
        match self {
            StorageOp::AppendMessage => 1,
            StorageOp::AppendInbox => 2,
            StorageOp::ReadMessages | StorageOp::ReadInbox => 50,
            StorageOp::ReadHistory => 20,
        }
    }
}

/// An operation and how many tasks call it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scenario {
    pub op: StorageOp,
    pub tasks: usize,
}

/// What one row measured.
#[derive(Debug, Clone)]
pub struct StorageRow {
    pub scenario: Scenario,
    /// Calls made, one operation each.
    pub ops: u64,
    pub elapsed: Duration,
    /// Latency of every call.
    pub latency: LatencySummary,
}

impl StorageRow {
    pub fn ops_per_second(&self) -> f64 {
        per_second(self.ops, self.elapsed)
    }
}

/// An embedded row measured before and after the CQL rows.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Both halves together.
    pub combined: StorageRow,
    /// Ops/s after ÷ before: how much the machine drifted meanwhile.
    pub drift: f64,
}

/// Everything the storage benchmark measured.
#[derive(Debug, Clone)]
pub struct StorageReport {
    /// The embedded rows, in [`scenarios`] order.
    pub baselines: Vec<Baseline>,
    /// The CQL rows, or why there are none.
    pub cql: CqlOutcome,
}

impl StorageReport {
    /// The embedded row of `scenario`.
    pub fn baseline_for(&self, scenario: Scenario) -> Option<&StorageRow> {
        self.baselines
            .iter()
            .map(|b| &b.combined)
            .find(|b| b.scenario == scenario)
    }
}

/// The rows of each backend, in table order.
pub fn scenarios(params: &StorageParams) -> Vec<Scenario> {
    let task_counts: Vec<usize> = if params.tasks > 1 {
        vec![1, params.tasks]
    } else {
        vec![1]
    };
    StorageOp::ALL
        .iter()
        .flat_map(|&op| task_counts.iter().map(move |&tasks| Scenario { op, tasks }))
        .collect()
}

/// Measures the embedded store (first halves), then the CQL backend when a
/// node answers, then the embedded store again (second halves).
pub async fn run(params: &StorageParams) -> anyhow::Result<StorageReport> {
    let rows_to_run = scenarios(params);
    let half = params.row_time / 2;

    let embedded = Backend::embedded()?;
    let mut embedded_load = Workload::prepare(&embedded, params).await?;
    warm_up(&mut embedded_load, params).await?;
    let mut before = Vec::new();
    for &scenario in &rows_to_run {
        before.push(measure(&mut embedded_load, scenario, params.max_calls, half).await?);
    }

    let cql = match Backend::cql(params).await {
        Err(skipped) => skipped,
        Ok((backend, node)) => {
            let rows = measure_rows(&backend, params, &rows_to_run).await;
            // Dropped whether the rows succeeded or not.
            let dropped = backend.drop_keyspace().await;
            CqlOutcome::Measured {
                rows: rows.context("the CQL rows failed")?,
                node: CqlNode {
                    keyspace_dropped: dropped,
                    ..node
                },
            }
        }
    };

    let mut baselines = Vec::new();
    for (&scenario, first) in rows_to_run.iter().zip(before) {
        let second = measure(&mut embedded_load, scenario, params.max_calls, half).await?;
        baselines.push(combine(first, second));
    }
    Ok(StorageReport { baselines, cql })
}

/// Fills, warms up and measures every row of `backend` for the whole row time.
async fn measure_rows(
    backend: &Backend,
    params: &StorageParams,
    scenarios: &[Scenario],
) -> anyhow::Result<Vec<StorageRow>> {
    let mut load = Workload::prepare(backend, params).await?;
    warm_up(&mut load, params).await?;
    let mut rows = Vec::new();
    for &scenario in scenarios {
        let (row, _) = measure(&mut load, scenario, params.max_calls, params.row_time).await?;
        rows.push(row);
    }
    Ok(rows)
}

/// Runs every operation untimed with the most tasks, so that the rows find
/// caches, connections and (on a JVM server) compiled code warm.
async fn warm_up(load: &mut Workload, params: &StorageParams) -> anyhow::Result<()> {
    for op in StorageOp::ALL {
        let scenario = Scenario {
            op,
            tasks: params.tasks,
        };
        measure(load, scenario, params.warm_up_calls, params.warm_up_time).await?;
    }
    Ok(())
}

fn combine(first: (StorageRow, Latencies), second: (StorageRow, Latencies)) -> Baseline {
    let ((first, mut latencies), (second, second_latencies)) = (first, second);
    let drift = second.ops_per_second() / first.ops_per_second().max(f64::MIN_POSITIVE);
    latencies.merge(&second_latencies);
    Baseline {
        combined: StorageRow {
            ops: first.ops + second.ops,
            elapsed: first.elapsed + second.elapsed,
            latency: latencies.summary(),
            ..first
        },
        drift,
    }
}

/// Runs `scenario.tasks` tasks calling `scenario.op` until `max_calls` calls
/// in all or `time`, timing every call.
async fn measure(
    load: &mut Workload,
    scenario: Scenario,
    max_calls: u64,
    time: Duration,
) -> anyhow::Result<(StorageRow, Latencies)> {
    let calls_per_task = (max_calls / scenario.tasks as u64).max(1);
    let callers = load.callers(scenario);
    let started = Instant::now();
    let deadline = started + time;
    let mut tasks = JoinSet::new();
    for mut caller in callers {
        tasks.spawn(async move {
            let mut latency = Latencies::new();
            let mut calls = 0;
            while calls < calls_per_task {
                let call_started = Instant::now();
                caller.call().await?;
                let now = Instant::now();
                latency.record(now - call_started);
                calls += 1;
                if now >= deadline {
                    break;
                }
            }
            anyhow::Ok((calls, latency))
        });
    }
    let mut calls = 0;
    let mut latency = Latencies::new();
    while let Some(tally) = tasks.join_next().await {
        let (task_calls, task_latency) = tally??;
        calls += task_calls;
        latency.merge(&task_latency);
    }
    let elapsed = started.elapsed();
    let row = StorageRow {
        scenario,
        ops: calls,
        elapsed,
        latency: latency.summary(),
    };
    Ok((row, latency))
}
