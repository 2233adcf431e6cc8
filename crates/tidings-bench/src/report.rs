//! The printed report: run header, the allocation and storage tables, each
//! figure beside its ratio to the baseline of the same run (the end-to-end
//! comparison renders its own, in `e2e::report`).

use std::fmt::Write as _;

use crate::alloc::{AllocOp, AllocPath, AllocReport, KeyChoice, SEND_SHAPE_KEYS};
use crate::params::{AllocParams, Params, StorageParams};
use crate::storage::{CqlOutcome, StorageOp, StorageReport};
use crate::table::{Table, count, latency, rate, span, with_ratios};

/// Machine and run parameters.
pub fn header(command: &str, params: &Params, cores: usize, workers: usize) -> String {
    let build = if cfg!(debug_assertions) {
        "debug build (figures not meaningful)"
    } else {
        "release build"
    };
    let mode = if params.quick {
        "quick smoke run (figures not for reporting)"
    } else {
        "full run"
    };
    format!(
        "tidings-bench {command}: {mode}, {build}\n\
         machine: {cores} cores (available parallelism), {workers} tokio worker threads; \
         server and clients share them\n\
         ratios are figure ÷ baseline measured in the same run: below 1× a rate is slower \
         than its baseline, above 1× a latency is slower\n"
    )
}

/// The allocation tables.
pub fn alloc(params: &AllocParams, report: &AllocReport) -> String {
    let mut out = String::new();
    let batches: Vec<String> = params.batch_sizes.iter().map(|b| b.to_string()).collect();
    let _ = writeln!(
        out,
        "\n== sequence allocation (DESIGN §4) ==\n\
         {} distinct keys (user:bench-<n>), {} sections, batches of 1 and {} keys, 1 and {} \
         concurrent tasks; each row at most {} and {} allocations ({} gRPC calls); \
         one call in {} timed in process, every gRPC call timed",
        params.keys,
        params.sections,
        batches.join(" and "),
        params.tasks,
        span(params.row_time),
        count(params.max_allocations),
        count(params.max_grpc_calls),
        params.sample_every,
    );
    let _ = writeln!(
        out,
        "baseline: HashMap<String,u64> += 1 under a tokio Mutex, one lock per call, same keys \
         per call and tasks as the row it is compared with; measured before and after the \
         other rows (drift = after ÷ before)\n"
    );
    let mut baselines = Table::new(
        &[
            "baseline",
            "keys/call",
            "tasks",
            "allocs/s",
            "call p50",
            "call p99",
            "drift",
        ],
        1,
    );
    for b in &report.baselines {
        let row = &b.combined;
        baselines.row(vec![
            "hashmap += 1".into(),
            row.scenario.shape.keys_per_call.to_string(),
            row.scenario.shape.tasks.to_string(),
            rate(row.allocations_per_second()),
            latency(row.latency.p50),
            latency(row.latency.p99),
            format!("{:.2}", b.drift),
        ]);
    }
    out.push_str(&baselines.render());
    out.push('\n');

    let mut rows = Table::new(
        &[
            "path",
            "operation",
            "keys",
            "keys/call",
            "tasks",
            "allocs",
            "allocs/s",
            "×base",
            "call p50",
            "×base",
            "call p99",
            "×base",
        ],
        3,
    );
    for row in &report.rows {
        let s = row.scenario;
        let base = report.baseline_for(s.shape);
        let path = match s.path {
            AllocPath::Baseline => "baseline",
            AllocPath::InProcess => "in process",
            AllocPath::Grpc => "gRPC",
        };
        let operation = match s.op {
            AllocOp::Allocate => "allocate",
            AllocOp::AllocateCommit => "allocate+commit",
        };
        let keys = match s.keys {
            KeyChoice::Distinct => params.keys.to_string(),
            KeyChoice::Hot => "1 (hot)".to_string(),
        };
        let mut cells = vec![
            path.into(),
            operation.into(),
            keys,
            s.shape.keys_per_call.to_string(),
            s.shape.tasks.to_string(),
            count(row.allocations),
        ];
        cells.extend(with_ratios(
            (row.allocations_per_second(), row.latency),
            base.map(|b| (b.allocations_per_second(), b.latency)),
        ));
        rows.row(cells);
    }
    out.push_str(&rows.render());
    let _ = writeln!(
        out,
        "\nin process: tidings_sequence::Allocator on the embedded store, a fresh allocator per \
         row, warmed up (sections claimed, every key allocated once) outside the timing; \
         allocate-only rows leave their seqs pending.\n\
         gRPC: the sequence service of the all-in-one in this process, one HTTP/2 connection; \
         {SEND_SHAPE_KEYS} keys/call allocate+commit is the shape of one 1:1 send \
         (conversation + 2 inboxes).\n\
         1 (hot): a single key, whose section ceiling is persisted every `step` seqs."
    );
    let refused: u64 = report.rows.iter().map(|r| r.refused).sum();
    if refused > 0 {
        let _ = writeln!(out, "WARNING: {refused} commits were refused");
    }
    out
}

/// The storage tables.
pub fn storage(params: &StorageParams, report: &StorageReport) -> String {
    let mut out = String::new();
    let operations: Vec<String> = StorageOp::ALL
        .iter()
        .map(|op| format!("{} ({})", op.method(), items(*op)))
        .collect();
    let _ = writeln!(
        out,
        "\n== storage traits: CQL backend against the embedded store ==\n\
         {}; 1 and {} concurrent tasks; each row at most {} and {} ops, every op timed; \
         messages of {} bytes; reads from {} conversations and {} inboxes of {} each, \
         filled beforehand\n\
         baseline: the embedded store (fjall) in a temporary directory, each row measured in \
         two halves before and after the CQL rows (drift = after ÷ before)",
        operations.join(", "),
        params.tasks,
        span(params.row_time),
        count(params.max_calls),
        params.body_bytes,
        params.read_timelines,
        params.read_timelines,
        params.read_depth,
    );
    match &report.cql {
        CqlOutcome::Measured { node, .. } => {
            let dropped = match &node.keyspace_dropped {
                Ok(()) => "dropped afterwards".to_string(),
                Err(error) => format!("NOT dropped: {error}"),
            };
            let _ = writeln!(
                out,
                "CQL node: {} at {} (from {}), keyspace {} ({dropped}); commit log: {}",
                node.server,
                node.contact_point,
                node.source,
                node.keyspace,
                node.commit_log.as_deref().unwrap_or("not reported"),
            );
        }
        CqlOutcome::Skipped {
            contact_point,
            source,
            reason,
        } => {
            let _ = writeln!(
                out,
                "CQL rows SKIPPED (node {contact_point} from {source}): {reason}"
            );
        }
    }
    out.push('\n');

    let mut baselines = Table::new(
        &["embedded", "tasks", "ops", "ops/s", "p50", "p99", "drift"],
        1,
    );
    for b in &report.baselines {
        let row = &b.combined;
        baselines.row(vec![
            row.scenario.op.method().into(),
            row.scenario.tasks.to_string(),
            count(row.ops),
            rate(row.ops_per_second()),
            latency(row.latency.p50),
            latency(row.latency.p99),
            format!("{:.2}", b.drift),
        ]);
    }
    out.push_str(&baselines.render());

    let rows = match &report.cql {
        CqlOutcome::Measured { rows, .. } => rows,
        CqlOutcome::Skipped { reason, .. } => {
            let _ = writeln!(out, "\nCQL rows skipped: {reason}");
            return out;
        }
    };
    out.push('\n');
    let mut cql = Table::new(
        &[
            "CQL", "tasks", "ops", "ops/s", "×emb", "p50", "×emb", "p99", "×emb",
        ],
        1,
    );
    for row in rows {
        let base = report.baseline_for(row.scenario);
        let mut cells = vec![
            row.scenario.op.method().into(),
            row.scenario.tasks.to_string(),
            count(row.ops),
        ];
        cells.extend(with_ratios(
            (row.ops_per_second(), row.latency),
            base.map(|b| (b.ops_per_second(), b.latency)),
        ));
        cql.row(cells);
    }
    out.push_str(&cql.render());
    let _ = writeln!(
        out,
        "\n×emb: the CQL figure ÷ the embedded one of the same operation and tasks.\n\
         writes return once durable as each backend defines it: the embedded store after an \
         fsync its concurrent writers share; the CQL backend once the node acknowledges, \
         which under commitlog_sync=periodic is before its commit log is synced.\n\
         appends write timelines of their own per row and task, from seq 1; reads check \
         that every page is full."
    );
    out
}

/// What one call of `op` moves, e.g. `1 message`, `2 entries`.
fn items(op: StorageOp) -> String {
    let (one, many) = match op {
        StorageOp::AppendInbox | StorageOp::ReadInbox => ("entry", "entries"),
        _ => ("message", "messages"),
    };
    let n = op.items();
    format!("{n} {}", if n == 1 { one } else { many })
}
