//! The all-in-one shape of Tidings: the five services in one process, each on
//! its own loopback port, calling each other over gRPC exactly as when they
//! run apart, with the embedded store and the in-process registry.
//!
//! The same builders (`services`) also start one service per process, the
//! distributed shape (`run`, the `tidings-<service>` binaries).
//!
//! This crate only wires services together; it holds no service logic.

pub mod all_in_one;
pub mod backends;
pub mod cli;
pub mod config;
pub mod run;
pub mod serve;
pub mod server_set;
pub mod services;

pub use all_in_one::{Addresses, AllInOne};
pub use config::TidingsConfig;
