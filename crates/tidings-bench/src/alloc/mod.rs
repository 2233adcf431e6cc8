//! Allocation benchmark: allocations per second of the sequence allocator
//! (DESIGN §4), in this process on the embedded store and over gRPC against
//! the all-in-one, with one key or a batch of keys per call, from one task or
//! several. The baseline of each shape (keys per call, tasks) is an in-memory
//! `HashMap` increment under a tokio Mutex, measured in the same run before and
//! after the other rows.

mod target;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidings_sequence::{Allocator, SequenceConfig};
use tidings_storage::SectionStore;
use tidings_storage::embedded::EmbeddedStore;
use tidings_testkit::TestServer;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::latency::{Latencies, LatencySummary, per_second};
use crate::params::AllocParams;
use target::{KeyRing, Target};

/// Keys per call of the rows shaped like one 1:1 send: the conversation and
/// the two inboxes are allocated, then committed, in one call each.
pub const SEND_SHAPE_KEYS: usize = 3;

/// The in-process allocator's name in its section leases.
const LEASE_OWNER: &str = "tidings-bench";

/// Keys per call and concurrent tasks: rows of the same shape share a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shape {
    pub keys_per_call: usize,
    pub tasks: usize,
}

/// Where the allocations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocPath {
    Baseline,
    InProcess,
    Grpc,
}

/// What one call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocOp {
    /// Allocate only: the seqs stay pending.
    Allocate,
    /// Allocate, then commit the same seqs (what the send path does).
    AllocateCommit,
}

/// Which keys the calls cycle through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoice {
    /// The run's distinct keys.
    Distinct,
    /// A single key, so its section's ceiling is persisted every `step` seqs.
    Hot,
}

/// One row of the allocation table.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub path: AllocPath,
    pub op: AllocOp,
    pub keys: KeyChoice,
    pub shape: Shape,
}

/// What one row measured.
#[derive(Debug, Clone)]
pub struct AllocRow {
    pub scenario: Scenario,
    pub calls: u64,
    pub allocations: u64,
    /// Commits the allocator refused (must be 0).
    pub refused: u64,
    pub elapsed: Duration,
    /// Call latency, from the sampled calls.
    pub latency: LatencySummary,
}

impl AllocRow {
    pub fn allocations_per_second(&self) -> f64 {
        per_second(self.allocations, self.elapsed)
    }
}

/// A baseline shape measured before and after the other rows.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Both runs together.
    pub combined: AllocRow,
    /// Allocations/s after ÷ before: how much the machine drifted meanwhile.
    pub drift: f64,
}

/// Everything the allocation benchmark measured.
#[derive(Debug, Clone)]
pub struct AllocReport {
    pub baselines: Vec<Baseline>,
    pub rows: Vec<AllocRow>,
}

impl AllocReport {
    /// The baseline with the same shape as `row`.
    pub fn baseline_for(&self, shape: Shape) -> Option<&AllocRow> {
        self.baselines
            .iter()
            .map(|b| &b.combined)
            .find(|b| b.scenario.shape == shape)
    }
}

/// The measured rows, in table order (baselines are derived from them).
pub fn scenarios(params: &AllocParams) -> Vec<Scenario> {
    let task_counts: Vec<usize> = if params.tasks > 1 {
        vec![1, params.tasks]
    } else {
        vec![1]
    };
    let mut batch_sizes = vec![1];
    batch_sizes.extend(params.batch_sizes.iter().copied().filter(|&b| b != 1));
    let row = |path, op, keys, keys_per_call, tasks| Scenario {
        path,
        op,
        keys,
        shape: Shape {
            keys_per_call,
            tasks,
        },
    };
    let mut rows = Vec::new();
    for op in [AllocOp::Allocate, AllocOp::AllocateCommit] {
        for &batch in &batch_sizes {
            for &tasks in &task_counts {
                rows.push(row(
                    AllocPath::InProcess,
                    op,
                    KeyChoice::Distinct,
                    batch,
                    tasks,
                ));
            }
        }
        if op == AllocOp::Allocate {
            rows.push(row(AllocPath::InProcess, op, KeyChoice::Hot, 1, 1));
        }
    }
    for &batch in &batch_sizes {
        for &tasks in &task_counts {
            rows.push(row(
                AllocPath::Grpc,
                AllocOp::Allocate,
                KeyChoice::Distinct,
                batch,
                tasks,
            ));
        }
    }
    for &tasks in &task_counts {
        rows.push(row(
            AllocPath::Grpc,
            AllocOp::AllocateCommit,
            KeyChoice::Distinct,
            SEND_SHAPE_KEYS,
            tasks,
        ));
    }
    rows
}

/// Runs every row of [`scenarios`] and the baselines of their shapes.
pub async fn run(params: &AllocParams) -> anyhow::Result<AllocReport> {
    let rows_to_run = scenarios(params);
    let mut shapes: Vec<Shape> = rows_to_run.iter().map(|s| s.shape).collect();
    shapes.sort();
    shapes.dedup();
    let max_batch = shapes.iter().map(|s| s.keys_per_call).max().unwrap_or(1);
    let distinct = Arc::new(KeyRing::distinct(params.keys, max_batch));
    let hot = Arc::new(KeyRing::hot(max_batch));
    let ring_of = |keys: KeyChoice| match keys {
        KeyChoice::Distinct => distinct.clone(),
        KeyChoice::Hot => hot.clone(),
    };
    let half = Limits {
        time: params.row_time / 2,
        ..Limits::in_process(params)
    };

    let mut before = Vec::new();
    for &shape in &shapes {
        before.push(measure_baseline(shape, &distinct, &half).await?);
    }

    let mut rows = Vec::new();
    let store_dir = tempfile::Builder::new()
        .prefix("tidings-bench-alloc-")
        .tempdir()
        .context("cannot create a temporary directory for the embedded store")?;
    let store: Arc<dyn SectionStore> = EmbeddedStore::open(store_dir.path())?;
    let config = SequenceConfig {
        sections: params.sections,
        ..SequenceConfig::default()
    };
    for scenario in rows_to_run
        .iter()
        .filter(|s| s.path == AllocPath::InProcess)
    {
        // A fresh allocator per row, warmed up (every section claimed, every
        // key allocated once) outside the timing, so rows do not inherit each
        // other's pending seqs.
        let allocator = Arc::new(Allocator::new(config.clone(), store.clone(), LEASE_OWNER));
        let target = Target::InProcess(allocator);
        let ring = ring_of(scenario.keys);
        warm_up(&target, &ring).await?;
        let (row, _) = measure(&target, &ring, *scenario, &Limits::in_process(params)).await?;
        rows.push(row);
    }
    drop(store);

    let server = TestServer::start_with(|config| config.sequence.sections = params.sections).await;
    let target = Target::Grpc(server.sequence_client());
    warm_up(&target, &distinct).await?;
    for scenario in rows_to_run.iter().filter(|s| s.path == AllocPath::Grpc) {
        let ring = ring_of(scenario.keys);
        let (row, _) = measure(&target, &ring, *scenario, &Limits::grpc(params)).await?;
        rows.push(row);
    }
    drop(target);
    server.shutdown().await;

    let mut baselines = Vec::new();
    for (&shape, first) in shapes.iter().zip(before) {
        let second = measure_baseline(shape, &distinct, &half).await?;
        baselines.push(combine(first, second));
    }
    Ok(AllocReport { baselines, rows })
}

/// Bounds of one row.
struct Limits {
    time: Duration,
    /// Allocations of the whole row (in-process rows).
    max_allocations: Option<u64>,
    /// Calls of the whole row (gRPC rows); takes precedence.
    max_calls: Option<u64>,
    /// One call in this many is timed (and checks the time limit).
    sample_every: u64,
}

impl Limits {
    fn in_process(params: &AllocParams) -> Self {
        Limits {
            time: params.row_time,
            max_allocations: Some(params.max_allocations),
            max_calls: None,
            sample_every: params.sample_every,
        }
    }

    fn grpc(params: &AllocParams) -> Self {
        Limits {
            time: params.row_time,
            max_allocations: None,
            max_calls: Some(params.max_grpc_calls),
            sample_every: 1,
        }
    }

    fn calls_per_task(&self, shape: Shape) -> u64 {
        let total = match (self.max_calls, self.max_allocations) {
            (Some(calls), _) => calls,
            (None, Some(allocations)) => allocations / shape.keys_per_call as u64,
            (None, None) => u64::MAX,
        };
        (total / shape.tasks as u64).max(1)
    }
}

async fn measure_baseline(
    shape: Shape,
    ring: &Arc<KeyRing>,
    limits: &Limits,
) -> anyhow::Result<(AllocRow, Latencies)> {
    let target = Target::baseline();
    warm_up(&target, ring).await?;
    let scenario = Scenario {
        path: AllocPath::Baseline,
        op: AllocOp::Allocate,
        keys: KeyChoice::Distinct,
        shape,
    };
    measure(&target, ring, scenario, limits).await
}

fn combine(first: (AllocRow, Latencies), second: (AllocRow, Latencies)) -> Baseline {
    let ((first, mut latencies), (second, second_latencies)) = (first, second);
    let drift =
        second.allocations_per_second() / first.allocations_per_second().max(f64::MIN_POSITIVE);
    latencies.merge(&second_latencies);
    Baseline {
        combined: AllocRow {
            scenario: first.scenario,
            calls: first.calls + second.calls,
            allocations: first.allocations + second.allocations,
            refused: first.refused + second.refused,
            elapsed: first.elapsed + second.elapsed,
            latency: latencies.summary(),
        },
        drift,
    }
}

/// Allocates and commits every key of `ring` once, 64 keys per call, up to
/// 32 calls at a time (so the claims of many sections share fsyncs).
async fn warm_up(target: &Target, ring: &KeyRing) -> anyhow::Result<()> {
    const CHUNK: usize = 64;
    const IN_FLIGHT: usize = 32;
    let mut calls = JoinSet::new();
    for chunk in ring.distinct_keys().chunks(CHUNK) {
        if calls.len() >= IN_FLIGHT {
            calls.join_next().await.expect("calls in flight")??;
        }
        let mut target = target.clone();
        let chunk = chunk.to_vec();
        calls.spawn(async move { target.call(&chunk, AllocOp::AllocateCommit).await });
    }
    while let Some(refused) = calls.join_next().await {
        anyhow::ensure!(refused?? == 0, "warm-up commits were refused");
    }
    Ok(())
}

/// What one task counted.
struct Tally {
    calls: u64,
    refused: u64,
    latency: Latencies,
}

/// Runs `scenario.shape.tasks` tasks calling `target` until the count or the
/// time limit, each from its own position in the ring.
async fn measure(
    target: &Target,
    ring: &Arc<KeyRing>,
    scenario: Scenario,
    limits: &Limits,
) -> anyhow::Result<(AllocRow, Latencies)> {
    let shape = scenario.shape;
    let calls_per_task = limits.calls_per_task(shape);
    let sample_every = limits.sample_every.max(1);
    let started = Instant::now();
    let deadline = started + limits.time;
    let mut tasks = JoinSet::new();
    for task in 0..shape.tasks {
        let mut target = target.clone();
        let ring = ring.clone();
        let mut position = task * ring.len() / shape.tasks;
        tasks.spawn(async move {
            let mut tally = Tally {
                calls: 0,
                refused: 0,
                latency: Latencies::new(),
            };
            while tally.calls < calls_per_task {
                let keys = ring.slice(position, shape.keys_per_call);
                position = ring.advance(position, shape.keys_per_call);
                tally.calls += 1;
                if !tally.calls.is_multiple_of(sample_every) {
                    tally.refused += target.call(keys, scenario.op).await?;
                    continue;
                }
                let call_started = Instant::now();
                tally.refused += target.call(keys, scenario.op).await?;
                let now = Instant::now();
                tally.latency.record(now - call_started);
                if now >= deadline {
                    break;
                }
            }
            anyhow::Ok(tally)
        });
    }
    let mut calls = 0;
    let mut refused = 0;
    let mut latency = Latencies::new();
    while let Some(tally) = tasks.join_next().await {
        let tally = tally??;
        calls += tally.calls;
        refused += tally.refused;
        latency.merge(&tally.latency);
    }
    let elapsed = started.elapsed();
    let row = AllocRow {
        scenario,
        calls,
        allocations: calls * shape.keys_per_call as u64,
        refused,
        elapsed,
        latency: latency.summary(),
    };
    Ok((row, latency))
}
