//! Benchmarks of Tidings, run by `make bench`: allocations per second of the
//! sequence allocator (in process on the embedded store, and over gRPC),
//! end-to-end 1:1 messages per second with send-to-ack and send-to-push
//! latency over real WebSocket connections to the all-in-one, and operations
//! per second and latency of the storage traits on the embedded and CQL
//! backends.
//!
//! The machines are shared and noisy, so every figure is printed beside its
//! ratio to a baseline measured in the same run: an in-memory counter for
//! allocation, a Ping/Pong round trip for messages, the embedded store for
//! the CQL backend. Every loop is bounded by a count and a time. This crate
//! must never gate CI on a figure, never fail because no CQL node runs, and
//! never talk to anything but loopback addresses.

pub mod alloc;
pub mod cli;
pub mod e2e;
pub mod groups;
pub mod latency;
pub mod params;
pub mod report;
pub mod storage;
pub mod table;
pub mod telemetry;

use cli::Command;
use params::Params;

/// Runs `command` with `params`, printing each section as soon as it is done.
pub async fn run(command: Command, params: &Params, workers: usize) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{}", report::header(command.name(), params, cores, workers));
    if matches!(command, Command::Alloc | Command::All) {
        let alloc = alloc::run(&params.alloc).await?;
        println!("{}", report::alloc(&params.alloc, &alloc));
    }
    if matches!(command, Command::E2e | Command::All) {
        let e2e = e2e::run(&params.e2e).await?;
        println!("{}", report::e2e(&params.e2e, &e2e));
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
