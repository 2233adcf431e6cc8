//! Run parameters: the full run (`make bench`), the `--quick` smoke run, and
//! the tiny run of the crate's own tests. Every loop is bounded by a count and
//! by a time, so a run stops by itself.

use std::time::Duration;

/// Parameters of the allocation benchmark.
#[derive(Debug, Clone)]
pub struct AllocParams {
    /// Distinct keys (`user:bench-<n>`) the calls cycle through.
    pub keys: usize,
    /// Keys per call of the batched rows (single-key rows always run too).
    pub batch_sizes: Vec<usize>,
    /// Concurrent tokio tasks of the concurrent rows.
    pub tasks: usize,
    /// Allocator sections, for the in-process allocator and the all-in-one.
    pub sections: u32,
    /// Time limit of one row.
    pub row_time: Duration,
    /// Count limit of one in-process row, in allocations.
    pub max_allocations: u64,
    /// Count limit of one gRPC row, in calls.
    pub max_grpc_calls: u64,
    /// In-process rows time one call in this many (timing every call would
    /// cost as much as the cheapest calls); gRPC rows time every call.
    pub sample_every: u64,
}

/// Parameters of the end-to-end benchmark.
#[derive(Debug, Clone)]
pub struct E2eParams {
    /// Sender/receiver pair counts, one scenario each.
    pub pairs: Vec<usize>,
    /// Messages each sender sends, at most.
    pub messages: u64,
    /// Time limit of the send phase of one scenario.
    pub send_time: Duration,
    /// Pings each connection sends for the baseline, at most.
    pub pings: u64,
    /// Time limit of the ping baseline of one scenario.
    pub ping_time: Duration,
    /// How long receivers keep waiting for pushes once their sender is done.
    pub drain_time: Duration,
}

/// Parameters of the storage benchmark.
#[derive(Debug, Clone)]
pub struct StorageParams {
    /// Concurrent tokio tasks of the concurrent rows (single-task rows always
    /// run too).
    pub tasks: usize,
    /// Time limit of one row (the embedded baseline runs it in two halves).
    pub row_time: Duration,
    /// Count limit of one row, in calls.
    pub max_calls: u64,
    /// Untimed calls of each operation before a backend's rows, at most, and
    /// their time limit.
    pub warm_up_calls: u64,
    pub warm_up_time: Duration,
    /// Conversations and inboxes filled before the read rows.
    pub read_timelines: usize,
    /// Messages per filled conversation and entries per filled inbox.
    pub read_depth: u64,
    /// Body size of every written message, in bytes.
    pub body_bytes: usize,
    /// Time limit of reaching the CQL node, migrating its keyspace and
    /// connecting; past it the CQL rows are skipped.
    pub cql_setup_time: Duration,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Params {
    pub alloc: AllocParams,
    pub e2e: E2eParams,
    pub storage: StorageParams,
    /// Set by `--quick`: figures are a smoke check, not for reporting.
    pub quick: bool,
}

impl Params {
    /// The full run: about 2 to 3 minutes for `all` on 2 cores, plus about a
    /// minute and a half for the storage rows.
    pub fn full() -> Self {
        Params {
            alloc: AllocParams {
                keys: 10_000,
                batch_sizes: vec![64, 256],
                tasks: 8,
                sections: 1024,
                row_time: Duration::from_millis(2_000),
                max_allocations: 20_000_000,
                max_grpc_calls: 500_000,
                sample_every: 16,
            },
            e2e: E2eParams {
                pairs: vec![1, 8, 32],
                messages: 3_000,
                send_time: Duration::from_secs(15),
                pings: 50_000,
                ping_time: Duration::from_secs(3),
                drain_time: Duration::from_secs(5),
            },
            storage: StorageParams {
                tasks: 16,
                row_time: Duration::from_millis(2_500),
                max_calls: 1_000_000,
                warm_up_calls: 2_000,
                warm_up_time: Duration::from_millis(300),
                read_timelines: 8,
                read_depth: 500,
                body_bytes: 120,
                cql_setup_time: Duration::from_secs(60),
            },
            quick: false,
        }
    }

    /// A smoke run of a few seconds.
    pub fn quick() -> Self {
        Params {
            alloc: AllocParams {
                keys: 1_000,
                row_time: Duration::from_millis(150),
                max_allocations: 500_000,
                max_grpc_calls: 5_000,
                tasks: 4,
                ..Params::full().alloc
            },
            e2e: E2eParams {
                pairs: vec![1, 4],
                messages: 100,
                send_time: Duration::from_secs(2),
                pings: 500,
                ping_time: Duration::from_millis(300),
                drain_time: Duration::from_secs(2),
            },
            storage: StorageParams {
                tasks: 4,
                row_time: Duration::from_millis(200),
                max_calls: 50_000,
                warm_up_calls: 100,
                warm_up_time: Duration::from_millis(50),
                read_timelines: 4,
                read_depth: 200,
                ..Params::full().storage
            },
            quick: true,
        }
    }

    /// The smallest run that still exercises every code path (tests).
    pub fn tiny() -> Self {
        Params {
            alloc: AllocParams {
                keys: 64,
                batch_sizes: vec![8],
                tasks: 2,
                sections: 16,
                row_time: Duration::from_millis(50),
                max_allocations: 2_000,
                max_grpc_calls: 50,
                sample_every: 4,
            },
            e2e: E2eParams {
                pairs: vec![2],
                messages: 5,
                send_time: Duration::from_secs(5),
                pings: 10,
                ping_time: Duration::from_secs(1),
                drain_time: Duration::from_secs(5),
            },
            storage: StorageParams {
                tasks: 2,
                row_time: Duration::from_millis(50),
                max_calls: 40,
                warm_up_calls: 4,
                warm_up_time: Duration::from_millis(20),
                read_timelines: 2,
                read_depth: 60,
                body_bytes: 16,
                cql_setup_time: Duration::from_secs(60),
            },
            quick: true,
        }
    }

    /// Checks the values, naming the offending one.
    pub fn validate(&self) -> Result<(), String> {
        let a = &self.alloc;
        if a.keys == 0 || a.tasks == 0 || a.sections == 0 || a.sample_every == 0 {
            return Err("keys, tasks, sections and sample_every must be at least 1".into());
        }
        if let Some(&batch) = a.batch_sizes.iter().find(|&&b| b == 0 || b > a.keys) {
            return Err(format!(
                "batch size {batch} must be between 1 and the number of keys ({})",
                a.keys
            ));
        }
        let e = &self.e2e;
        if e.pairs.is_empty() || e.pairs.contains(&0) {
            return Err("pairs must list at least one pair count, each at least 1".into());
        }
        if e.messages == 0 || e.pings == 0 {
            return Err("messages and pings must be at least 1".into());
        }
        let s = &self.storage;
        if s.tasks == 0 || s.max_calls == 0 || s.read_timelines == 0 {
            return Err("storage tasks, max_calls and read_timelines must be at least 1".into());
        }
        let longest_read = crate::storage::StorageOp::ALL
            .iter()
            .map(|op| op.items())
            .max()
            .unwrap_or(1);
        if s.read_depth < longest_read {
            return Err(format!(
                "storage read_depth {} must hold the longest read ({longest_read} items)",
                s.read_depth
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for params in [Params::full(), Params::quick(), Params::tiny()] {
            params.validate().unwrap();
        }
        let mut bad = Params::tiny();
        bad.alloc.batch_sizes = vec![1_000];
        assert!(bad.validate().unwrap_err().contains("batch size 1000"));
        let mut shallow = Params::tiny();
        shallow.storage.read_depth = 10;
        assert!(shallow.validate().unwrap_err().contains("read_depth 10"));
    }
}
