//! `tidings-bench`: wiring only (arguments, runtime, run).

use clap::Parser;
use tidings_bench::cli::Cli;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let params = cli.params().map_err(anyhow::Error::msg)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(tidings_bench::run(cli.command, &params, workers))
}
