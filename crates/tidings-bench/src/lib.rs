//! Benchmarks of Tidings, run by `make bench`:
//! - end-to-end 1:1 messages over real WebSocket connections, Tidings (the
//!   all-in-one, or the distributed shape) against a bare relay that speaks
//!   the same protocol subset, both as processes of their own driven by the
//!   same load generator: delivered msg/s, send-to-deliver latency in closed
//!   and open loops, server CPU per message, idle memory per connection, and
//!   the disk's `fdatasync` time as the durability floor; and, with
//!   `--garbage`, the same latencies beside one client flooding garbage, and
//!   with `--flood`, beside one client flooding valid sends on a server with
//!   send limits on;
//! - allocations per second of the sequence allocator (in process on the
//!   embedded store, and over gRPC);
//! - operations per second and latency of the storage traits on the
//!   embedded and CQL backends;
//! - what telemetry costs, and the cost of group messages against group size.
//!
//! The machines are shared and noisy, so every figure is printed beside its
//! ratio to a baseline measured in the same run: the relay for messages, an
//! in-memory counter for allocation, the embedded store for the CQL backend.
//! Every loop is bounded by a count and a time. This crate must never gate
//! CI on a figure, never fail because no CQL node runs, and never talk to
//! anything but loopback addresses.

pub mod alloc;
pub mod cli;
pub mod e2e;
pub mod groups;
pub mod latency;
pub mod limits;
pub mod load;
pub mod params;
pub mod relay;
pub mod report;
pub mod storage;
pub mod table;
pub mod telemetry;
pub mod wire;

use cli::Command;
use e2e::E2eOptions;
use params::Params;

/// Runs `command` with `params`, printing each section as soon as it is done.
pub async fn run(
    command: Command,
    params: &Params,
    options: &E2eOptions,
    workers: usize,
) -> anyhow::Result<()> {
    if let Command::Relay { listen } = command {
        return relay::serve_until_signal(listen).await;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{}", report::header(command.name(), params, cores, workers));
    if matches!(command, Command::Alloc | Command::All) {
        let alloc = alloc::run(&params.alloc).await?;
        println!("{}", report::alloc(&params.alloc, &alloc));
    }
    if matches!(command, Command::E2e | Command::All) {
        let report = e2e::run(&params.e2e, options).await?;
        println!("{}", e2e::report::markdown(&report));
        let written = e2e::write(&report, &options.out)?;
        println!(
            "written: {}, {}, {}",
            written.markdown.display(),
            written.json.display(),
            written.svg.display()
        );
    }
    if matches!(command, Command::Storage | Command::All) {
        let storage = storage::run(&params.storage).await?;
        println!("{}", report::storage(&params.storage, &storage));
    }
    if matches!(command, Command::Telemetry | Command::All) {
        let report = telemetry::run(&params.e2e).await?;
        println!("{}", telemetry::render(&params.e2e, &report));
    }
    if matches!(command, Command::Groups | Command::All) {
        let groups_params = groups::GroupsParams::for_run(params.quick);
        let groups = groups::run(&groups_params).await?;
        println!("{}", groups::render(&groups_params, &groups));
    }
    Ok(())
}
