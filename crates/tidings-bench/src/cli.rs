//! Command line: which benchmark to run and how big.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::e2e::{DeploymentShape, E2eOptions};
use crate::params::{ClosedScenario, OpenScenario, Params};

/// Benchmarks of Tidings: end-to-end 1:1 messaging against a bare relay,
/// seq allocation, the storage backends, telemetry cost and group fan-out,
/// each figure beside its ratio to a baseline measured in the same run.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// A short smoke run (a few seconds per benchmark); figures are not for reporting.
    #[arg(long, global = true)]
    pub quick: bool,
    /// Distinct keys the allocation calls cycle through.
    #[arg(long, global = true)]
    pub keys: Option<usize>,
    /// Concurrent tasks of the concurrent allocation rows.
    #[arg(long, global = true)]
    pub tasks: Option<usize>,
    /// Closed-loop end-to-end scenarios as PAIRSxWINDOW (e.g. 64x16,64x1,1x1).
    #[arg(long, global = true, value_delimiter = ',')]
    pub closed: Option<Vec<ClosedScenario>>,
    /// Offered loads of the open-loop end-to-end runs, msg/s in total (e.g. 500,1000).
    #[arg(long, global = true, value_delimiter = ',')]
    pub rates: Option<Vec<u64>>,
    /// Sender/receiver pairs of the open-loop runs.
    #[arg(long, global = true)]
    pub open_pairs: Option<usize>,
    /// Idle connection counts of the memory rows (e.g. 1000,5000,15000); 0 skips them.
    #[arg(long, global = true, value_delimiter = ',')]
    pub idle: Option<Vec<usize>>,
    /// Messages each sender sends in one run, at most.
    #[arg(long, global = true)]
    pub messages: Option<u64>,
    /// Garbage frames per second from one more connection: runs the 1-pair
    /// and 64-pair W=1 closed loops on Tidings without and then with it; 0
    /// leaves the comparison out.
    #[arg(long, global = true, value_name = "FRAMES_PER_SECOND")]
    pub garbage: Option<u64>,
    /// Valid sends per second from one more connection of a user of its
    /// own: runs the 1-pair and 64-pair W=1 closed loops on a Tidings with
    /// send limits on, without and then with it; 0 leaves the comparison out.
    #[arg(long, global = true, value_name = "SENDS_PER_SECOND")]
    pub flood: Option<u64>,
    /// The send limit of the send-flood comparison's Tidings, per connection
    /// and per user (the burst is twice it); default 2000.
    #[arg(long, global = true, value_name = "SENDS_PER_SECOND")]
    pub flood_limit: Option<u32>,
    /// The send-flood comparison's scenarios, closed loops as PAIRSxWINDOW
    /// (default 1x1,64x1).
    #[arg(long, global = true, value_delimiter = ',')]
    pub flood_closed: Option<Vec<ClosedScenario>>,
    /// Open-loop scenarios of the send-flood comparison as PAIRSxRATE (msg/s
    /// in total); e.g. 1x20,64x640 for senders at 20 and 10 msg/s, with a
    /// `--flood-limit` far below the flood. They replace its closed loops
    /// unless `--flood-closed` is given too.
    #[arg(long, global = true, value_delimiter = ',')]
    pub flood_open: Option<Vec<OpenScenario>>,
    /// Where the Tidings side of the end-to-end comparison runs.
    #[arg(long, global = true, value_enum, default_value_t = DeploymentShape::AllInOne)]
    pub shape: DeploymentShape,
    /// Directory of the end-to-end markdown, JSON and SVG files.
    #[arg(long, global = true, default_value = "target/bench")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Allocations/s of the sequence allocator, in process and over gRPC.
    Alloc,
    /// 1:1 messages over WebSocket, Tidings against a bare relay: delivered
    /// msg/s, send-to-deliver latency, server CPU per message, idle memory
    /// per connection (the `tidings` binaries must be built).
    E2e,
    /// The bare relay the end-to-end benchmark compares with, as a server.
    Relay {
        /// Address to listen on; port 0 picks one (printed on stdout).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Ops/s and latency of the storage traits, CQL against embedded.
    Storage,
    /// Cost of one group message against group size: write diffusion
    /// below the large-group threshold, read diffusion above it.
    Groups,
    /// Cost of telemetry: the 1:1 load with telemetry off, metrics on,
    /// and metrics plus OTLP traces (the `tidings` binary must be built).
    Telemetry,
    /// All of the above.
    All,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Alloc => "alloc",
            Command::E2e => "e2e",
            Command::Relay { .. } => "relay",
            Command::Storage => "storage",
            Command::Groups => "groups",
            Command::Telemetry => "telemetry",
            Command::All => "all",
        }
    }
}

impl Cli {
    /// The preset chosen by `--quick`, with the overrides applied and checked.
    pub fn params(&self) -> Result<Params, String> {
        let mut params = if self.quick {
            Params::quick()
        } else {
            Params::full()
        };
        if let Some(keys) = self.keys {
            params.alloc.keys = keys;
        }
        if let Some(tasks) = self.tasks {
            params.alloc.tasks = tasks;
        }
        if let Some(closed) = &self.closed {
            params.e2e.closed = closed.clone();
        }
        if let Some(rates) = &self.rates {
            params.e2e.rates = rates.clone();
        }
        if let Some(pairs) = self.open_pairs {
            params.e2e.open_pairs = pairs;
        }
        if let Some(idle) = &self.idle {
            params.e2e.idle = idle.iter().copied().filter(|&n| n > 0).collect();
        }
        if let Some(messages) = self.messages {
            params.e2e.max_messages = messages;
        }
        if let Some(garbage) = self.garbage {
            params.e2e.garbage_rate = garbage;
        }
        if let Some(flood) = self.flood {
            params.e2e.flood_rate = flood;
        }
        if let Some(open) = &self.flood_open {
            params.e2e.flood_open = open.clone();
            params.e2e.flood_closed.clear();
        }
        if let Some(closed) = &self.flood_closed {
            params.e2e.flood_closed = closed.clone();
        }
        if let Some(limit) = self.flood_limit {
            params.e2e.flood_sends_per_sec = limit;
            params.e2e.flood_send_burst = limit.saturating_mul(2);
        }
        params.validate()?;
        Ok(params)
    }

    /// Shape and output directory of the end-to-end comparison.
    pub fn e2e_options(&self) -> E2eOptions {
        E2eOptions {
            shape: self.shape,
            out: self.out.clone(),
            quick: self.quick,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_to_the_preset() {
        let cli = Cli::parse_from([
            "tidings-bench",
            "all",
            "--quick",
            "--closed",
            "2x4,1x1",
            "--rates",
            "100,200",
            "--idle",
            "0",
        ]);
        assert_eq!(cli.command, Command::All);
        let params = cli.params().unwrap();
        assert!(params.quick);
        assert_eq!(
            params.e2e.closed,
            vec![
                ClosedScenario {
                    pairs: 2,
                    window: 4
                },
                ClosedScenario {
                    pairs: 1,
                    window: 1
                }
            ]
        );
        assert_eq!(params.e2e.rates, vec![100, 200]);
        assert!(params.e2e.idle.is_empty());
        assert_eq!(
            params.e2e.garbage_rate, 0,
            "the garbage comparison is off by default"
        );
        let garbage = Cli::parse_from(["tidings-bench", "e2e", "--garbage", "10000"]);
        assert_eq!(garbage.params().unwrap().e2e.garbage_rate, 10_000);
        assert_eq!(params.e2e.flood_rate, 0, "the send flood is off by default");
        let flood = Cli::parse_from(["tidings-bench", "e2e", "--flood", "20000"]);
        let flood = flood.params().unwrap().e2e;
        assert_eq!(flood.flood_rate, 20_000);
        assert_eq!(
            (flood.flood_sends_per_sec, flood.flood_send_burst),
            (2_000, 4_000)
        );
        let limit = Cli::parse_from([
            "tidings-bench",
            "e2e",
            "--flood",
            "9",
            "--flood-limit",
            "500",
        ]);
        let limit = limit.params().unwrap().e2e;
        assert_eq!(
            (limit.flood_sends_per_sec, limit.flood_send_burst),
            (500, 1_000)
        );
        let open = Cli::parse_from([
            "tidings-bench",
            "e2e",
            "--flood",
            "9",
            "--flood-closed",
            "2x1",
            "--flood-open",
            "1x20,64x640",
        ]);
        let open = open.params().unwrap().e2e;
        assert_eq!(
            open.flood_closed,
            [ClosedScenario {
                pairs: 2,
                window: 1
            }]
        );
        assert_eq!(
            open.flood_open,
            [
                OpenScenario { pairs: 1, rate: 20 },
                OpenScenario {
                    pairs: 64,
                    rate: 640
                }
            ]
        );
        assert!("64-640".parse::<OpenScenario>().is_err());
        let only_open = Cli::parse_from([
            "tidings-bench",
            "e2e",
            "--flood",
            "9",
            "--flood-open",
            "1x20",
        ]);
        let only_open = only_open.params().unwrap().e2e;
        assert!(only_open.flood_closed.is_empty());
        assert_eq!(only_open.flood_open, [OpenScenario { pairs: 1, rate: 20 }]);
        assert_eq!(cli.e2e_options().shape, DeploymentShape::AllInOne);
        let relay = Cli::parse_from(["tidings-bench", "relay", "--listen", "127.0.0.1:9"]);
        assert_eq!(
            relay.command,
            Command::Relay {
                listen: "127.0.0.1:9".parse().unwrap()
            }
        );
        let distributed = Cli::parse_from(["tidings-bench", "e2e", "--shape", "distributed"]);
        assert_eq!(
            distributed.e2e_options().shape,
            DeploymentShape::Distributed
        );
        assert!(Cli::try_parse_from(["tidings-bench", "e2e", "--closed", "64"]).is_err());
        let storage = Cli::parse_from(["tidings-bench", "storage", "--quick"]);
        assert_eq!(storage.command, Command::Storage);
        assert!(storage.params().unwrap().quick);
        let bad = Cli::parse_from(["tidings-bench", "alloc", "--keys", "10"]);
        assert!(bad.params().is_err(), "batches of 64 need at least 64 keys");
    }
}
