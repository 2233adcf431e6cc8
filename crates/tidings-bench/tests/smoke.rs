//! Runs every benchmark with tiny counts, so that `cargo test --workspace`
//! keeps the bench compiling and working. Asserts that things were counted,
//! never how fast.

use std::sync::Arc;
use std::time::Duration;

use tidings_bench::alloc::{self, AllocPath};
use tidings_bench::load::{Live, LoadSpec, Pairs, Shape};
use tidings_bench::params::Params;
use tidings_bench::report;
use tidings_bench::storage::{self, CqlOutcome, StorageOp};
use tidings_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_bench_counts_allocations_on_every_path() {
    let params = Params::tiny();
    let result = alloc::run(&params.alloc)
        .await
        .expect("allocation bench runs");

    assert_eq!(result.rows.len(), alloc::scenarios(&params.alloc).len());
    for path in [AllocPath::InProcess, AllocPath::Grpc] {
        assert!(result.rows.iter().any(|r| r.scenario.path == path));
    }
    for row in &result.rows {
        assert!(row.calls > 0 && row.allocations > 0, "{row:?}");
        assert_eq!(row.refused, 0, "{row:?}");
        assert!(result.baseline_for(row.scenario.shape).is_some());
    }
    for baseline in &result.baselines {
        assert!(baseline.combined.allocations > 0, "{baseline:?}");
    }
    let printed = report::alloc(&params.alloc, &result);
    assert!(printed.contains("allocate+commit"), "{printed}");
}

/// The end-to-end load generator against Tidings itself (in this process):
/// every acked message reaches its receiver once, whether the server
/// answers a window of sends in order or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_load_counts_every_message_against_tidings() {
    let server = TestServer::start().await;
    for (tag, shape) in [
        ("closed", Shape::Closed { window: 4 }),
        (
            "open",
            Shape::Open {
                rate: 200.0,
                max_in_flight: 8,
            },
        ),
    ] {
        let pairs = Pairs::connect(&server.url(), 2, tag, 4)
            .await
            .expect("pairs connect");
        let spec = LoadSpec {
            shape,
            duration: Duration::from_millis(400),
            max_messages: 20,
            drain: Duration::from_secs(10),
        };
        let outcome = pairs
            .drive(&spec, Arc::new(Live::default()))
            .await
            .expect("load runs");
        assert!(outcome.acked > 0, "{tag}: {outcome:?}");
        assert_eq!(outcome.failed, 0, "{tag}: {outcome:?}");
        assert_eq!(outcome.delivered, outcome.acked, "{tag}: {outcome:?}");
        assert_eq!(
            (outcome.lost, outcome.duplicates),
            (0, 0),
            "{tag}: {outcome:?}"
        );
    }
}

/// The embedded rows always run; the CQL rows run when a node answers on
/// loopback (as in CI) and are otherwise skipped with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_bench_counts_ops_on_each_reachable_backend() {
    let params = Params::tiny();
    let result = storage::run(&params.storage)
        .await
        .expect("storage bench runs");

    let scenarios = storage::scenarios(&params.storage);
    assert_eq!(result.baselines.len(), scenarios.len());
    for op in StorageOp::ALL {
        assert!(scenarios.iter().any(|s| s.op == op), "{op:?} has a row");
    }
    for baseline in &result.baselines {
        assert!(baseline.combined.ops > 0, "{baseline:?}");
        assert!(baseline.combined.latency.samples > 0, "{baseline:?}");
    }
    match &result.cql {
        CqlOutcome::Measured { rows, .. } => {
            assert_eq!(rows.len(), scenarios.len());
            for row in rows {
                assert!(row.ops > 0, "{row:?}");
                assert!(result.baseline_for(row.scenario).is_some());
            }
        }
        CqlOutcome::Skipped { reason, .. } => assert!(!reason.is_empty()),
    }
    let printed = report::storage(&params.storage, &result);
    assert!(printed.contains("read_history"), "{printed}");
    let cql_line = match &result.cql {
        CqlOutcome::Measured { .. } => "×emb",
        CqlOutcome::Skipped { .. } => "CQL rows skipped",
    };
    assert!(printed.contains(cql_line), "{printed}");
}
