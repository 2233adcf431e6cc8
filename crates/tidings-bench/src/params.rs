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

/// A closed-loop scenario of the end-to-end benchmark: `pairs`
/// sender/receiver pairs, at most `window` sends in flight per sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClosedScenario {
    pub pairs: usize,
    pub window: usize,
}

impl std::str::FromStr for ClosedScenario {
    type Err = String;

    /// `PAIRSxWINDOW`, e.g. `64x16`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (pairs, window) = s
            .split_once('x')
            .ok_or_else(|| format!("{s:?} is not PAIRSxWINDOW (e.g. 64x16)"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("{s:?} is not PAIRSxWINDOW (e.g. 64x16)"))
        };
        Ok(ClosedScenario {
            pairs: parse(pairs)?,
            window: parse(window)?,
        })
    }
}

/// An open-loop scenario of the send-flood comparison: `pairs`
/// sender/receiver pairs offering `rate` messages per second in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OpenScenario {
    pub pairs: usize,
    pub rate: u64,
}

impl std::str::FromStr for OpenScenario {
    type Err = String;

    /// `PAIRSxRATE`, e.g. `64x640`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not PAIRSxRATE (e.g. 64x640)");
        let (pairs, rate) = s.split_once('x').ok_or_else(bad)?;
        Ok(OpenScenario {
            pairs: pairs.trim().parse().map_err(|_| bad())?,
            rate: rate.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// Parameters of the end-to-end benchmark (relay against Tidings).
#[derive(Debug, Clone, serde::Serialize)]
pub struct E2eParams {
    /// Closed-loop scenarios, each run against every target.
    pub closed: Vec<ClosedScenario>,
    /// Send phase of one closed-loop run.
    #[serde(with = "crate::e2e::json::millis")]
    pub closed_time: Duration,
    /// Sender/receiver pairs of the open-loop runs.
    pub open_pairs: usize,
    /// Offered loads of the open-loop runs, in messages per second in total.
    pub rates: Vec<u64>,
    /// Send phase of one open-loop run.
    #[serde(with = "crate::e2e::json::millis")]
    pub open_time: Duration,
    /// Most unacknowledged sends per sender connection in an open loop; a
    /// sender that hits it falls behind its schedule, which the latencies
    /// (measured from the schedule) show.
    pub open_max_in_flight: usize,
    /// An untimed closed-loop run against each target before the others.
    #[serde(with = "crate::e2e::json::millis")]
    pub warm_up: Duration,
    /// How long acks and deliveries are awaited once the senders stop.
    #[serde(with = "crate::e2e::json::millis")]
    pub drain_time: Duration,
    /// Messages each sender sends in one run, at most.
    pub max_messages: u64,
    /// Idle authenticated connections held open for the memory rows.
    pub idle: Vec<usize>,
    /// `fdatasync` calls of the disk baseline, at most, and their time limit.
    pub fsyncs: u32,
    #[serde(with = "crate::e2e::json::millis")]
    pub fsync_time: Duration,
    /// WebSocket handshakes in progress at once while connecting.
    pub connect_concurrency: usize,
    /// Garbage frames per second from one more connection during the
    /// garbage comparison; 0 leaves the comparison out.
    pub garbage_rate: u64,
    /// Closed-loop scenarios the garbage comparison runs on Tidings, each
    /// without and then with the flood.
    pub garbage_closed: Vec<ClosedScenario>,
    /// How long the flood runs before the measured load starts, so the load
    /// meets a server already under it rather than its first frames.
    #[serde(with = "crate::e2e::json::millis")]
    pub garbage_settle: Duration,
    /// Sends per second offered by one more connection, of a user of its
    /// own, during the send-flood comparison; 0 leaves the comparison out.
    pub flood_rate: u64,
    /// Closed-loop scenarios the send-flood comparison runs, each without
    /// and then with the flood, on a Tidings started with the send limits
    /// below.
    pub flood_closed: Vec<ClosedScenario>,
    /// Open-loop scenarios the send-flood comparison runs after the closed
    /// ones: senders at a chat user's pace, so that a limit far below the
    /// flood still lets every measured sender through.
    pub flood_open: Vec<OpenScenario>,
    /// `gateway.limits.{connection,user}_sends_per_sec` of that Tidings:
    /// above what one measured sender sends, far below the flood.
    pub flood_sends_per_sec: u32,
    /// `gateway.limits.{connection,user}_send_burst` of that Tidings.
    pub flood_send_burst: u32,
    /// How long the flood runs before the measured load starts: longer than
    /// the burst lasts, so the load meets a flooder already held to the
    /// rate.
    #[serde(with = "crate::e2e::json::millis")]
    pub flood_settle: Duration,
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
                closed: vec![
                    ClosedScenario {
                        pairs: 64,
                        window: 16,
                    },
                    ClosedScenario {
                        pairs: 64,
                        window: 1,
                    },
                    ClosedScenario {
                        pairs: 1,
                        window: 1,
                    },
                ],
                closed_time: Duration::from_secs(8),
                open_pairs: 64,
                rates: vec![500, 1_000, 2_000, 4_000, 8_000, 16_000],
                open_time: Duration::from_secs(5),
                open_max_in_flight: 64,
                warm_up: Duration::from_secs(2),
                drain_time: Duration::from_secs(10),
                max_messages: 2_000_000,
                idle: vec![1_000, 5_000, 15_000],
                fsyncs: 1_000,
                fsync_time: Duration::from_secs(3),
                connect_concurrency: 64,
                garbage_rate: 0,
                garbage_closed: vec![
                    ClosedScenario {
                        pairs: 1,
                        window: 1,
                    },
                    ClosedScenario {
                        pairs: 64,
                        window: 1,
                    },
                ],
                garbage_settle: Duration::from_secs(1),
                flood_rate: 0,
                flood_closed: vec![
                    ClosedScenario {
                        pairs: 1,
                        window: 1,
                    },
                    ClosedScenario {
                        pairs: 64,
                        window: 1,
                    },
                ],
                flood_open: Vec::new(),
                flood_sends_per_sec: 2_000,
                flood_send_burst: 4_000,
                flood_settle: Duration::from_secs(1),
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
                closed_time: Duration::from_millis(1_500),
                rates: vec![500, 2_000],
                open_time: Duration::from_millis(1_500),
                warm_up: Duration::from_millis(500),
                drain_time: Duration::from_secs(3),
                idle: vec![1_000],
                fsyncs: 100,
                fsync_time: Duration::from_millis(500),
                garbage_settle: Duration::from_millis(300),
                flood_settle: Duration::from_millis(300),
                ..Params::full().e2e
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
                closed: vec![
                    ClosedScenario {
                        pairs: 2,
                        window: 4,
                    },
                    ClosedScenario {
                        pairs: 1,
                        window: 1,
                    },
                ],
                closed_time: Duration::from_millis(300),
                open_pairs: 2,
                rates: vec![200],
                open_time: Duration::from_millis(300),
                open_max_in_flight: 16,
                warm_up: Duration::ZERO,
                drain_time: Duration::from_secs(5),
                max_messages: 50,
                idle: vec![20],
                fsyncs: 5,
                fsync_time: Duration::from_secs(1),
                connect_concurrency: 8,
                garbage_rate: 0,
                garbage_closed: vec![
                    ClosedScenario {
                        pairs: 1,
                        window: 1,
                    },
                    ClosedScenario {
                        pairs: 2,
                        window: 1,
                    },
                ],
                garbage_settle: Duration::from_millis(100),
                flood_rate: 0,
                flood_closed: vec![ClosedScenario {
                    pairs: 1,
                    window: 1,
                }],
                flood_open: Vec::new(),
                flood_sends_per_sec: 200,
                flood_send_burst: 400,
                flood_settle: Duration::from_millis(100),
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
        if e.closed.iter().any(|c| c.pairs == 0 || c.window == 0) {
            return Err(
                "closed-loop scenarios need at least 1 pair and a window of at least 1".into(),
            );
        }
        if e.open_pairs == 0 || e.rates.contains(&0) {
            return Err("open-loop pairs and every rate must be at least 1".into());
        }
        if e.max_messages == 0 || e.open_max_in_flight == 0 || e.connect_concurrency == 0 {
            return Err(
                "messages, open_max_in_flight and connect_concurrency must be at least 1".into(),
            );
        }
        if e.idle.contains(&0) {
            return Err("idle connection counts must be at least 1".into());
        }
        if e.garbage_rate > 0
            && (e.garbage_closed.is_empty()
                || e.garbage_closed
                    .iter()
                    .any(|c| c.pairs == 0 || c.window == 0))
        {
            return Err(
                "the garbage comparison needs closed-loop scenarios of at least 1 pair and a \
                 window of at least 1"
                    .into(),
            );
        }
        if e.flood_rate > 0
            && ((e.flood_closed.is_empty() && e.flood_open.is_empty())
                || e.flood_closed.iter().any(|c| c.pairs == 0 || c.window == 0)
                || e.flood_open.iter().any(|o| o.pairs == 0 || o.rate == 0))
        {
            return Err(
                "the send-flood comparison needs scenarios of at least 1 pair, with a window \
                 or a rate of at least 1"
                    .into(),
            );
        }
        if e.flood_rate > 0 && (e.flood_sends_per_sec == 0 || e.flood_send_burst == 0) {
            return Err(
                "the send-flood comparison needs a send limit and burst of at least 1".into(),
            );
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
