//! `tidings-bench`: wiring only (open-file limit, arguments, runtime, run).

use clap::Parser;
use tidings_bench::cli::Cli;

fn main() -> anyhow::Result<()> {
    // Before anything opens a socket, and before any server process is
    // started: they inherit the limit.
    tidings_bench::limits::raise_open_files();
    let cli = Cli::parse();
    let params = cli.params().map_err(anyhow::Error::msg)?;
    let options = cli.e2e_options();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(tidings_bench::run(cli.command, &params, &options, workers))
}
