//! Command line: which benchmark to run and how big.

use clap::{Parser, Subcommand};

use crate::params::Params;

/// Benchmarks of Tidings: seq allocation, end-to-end 1:1 messaging and the
/// storage backends, each figure beside its ratio to a baseline measured in
/// the same run.
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
    /// Sender/receiver pair counts of the end-to-end scenarios (e.g. 1,8,32).
    #[arg(long, global = true, value_delimiter = ',')]
    pub pairs: Option<Vec<usize>>,
    /// Messages each sender sends, at most.
    #[arg(long, global = true)]
    pub messages: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Allocations/s of the sequence allocator, in process and over gRPC.
    Alloc,
    /// 1:1 messages/s and send-to-push latency over WebSocket.
    E2e,
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
        if let Some(pairs) = &self.pairs {
            params.e2e.pairs = pairs.clone();
        }
        if let Some(messages) = self.messages {
            params.e2e.messages = messages;
        }
        params.validate()?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_to_the_preset() {
        let cli = Cli::parse_from(["tidings-bench", "all", "--quick", "--pairs", "2,3"]);
        assert_eq!(cli.command, Command::All);
        let params = cli.params().unwrap();
        assert!(params.quick);
        assert_eq!(params.e2e.pairs, vec![2, 3]);
        let storage = Cli::parse_from(["tidings-bench", "storage", "--quick"]);
        assert_eq!(storage.command, Command::Storage);
        assert!(storage.params().unwrap().quick);
        let bad = Cli::parse_from(["tidings-bench", "alloc", "--keys", "10"]);
        assert!(bad.params().is_err(), "batches of 64 need at least 64 keys");
    }
}
