//! The all-in-one shape of Tidings: the five services in one process, each on
//! its own loopback port, calling each other through the same gRPC clients
//! and handlers as when they run apart (in process by default), with the
//! embedded store and the in-process registry.
//!
//! The same builders (`services`) also start one service per process, the
//! distributed shape (`run`, the `tidings-<service>` binaries).
//!
//! This crate only wires services together; it holds no service logic.

pub mod all_in_one;
pub mod backends;
pub mod cli;
pub mod config;
pub mod grpc_tls;
pub mod health;
pub mod run;
pub mod serve;
pub mod server_api;
pub mod server_set;
pub mod services;

pub use all_in_one::{Addresses, AllInOne};

/// Every Tidings binary allocates through mimalloc (see `tidings_alloc`).
#[global_allocator]
static ALLOCATOR: tidings_alloc::MiMalloc = tidings_alloc::MiMalloc;

pub use config::TidingsConfig;
pub use tidings_gateway::AuthScheme;
