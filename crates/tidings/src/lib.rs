//! The all-in-one shape of Tidings: the five services in one process, each on
//! its own loopback port, calling each other over gRPC exactly as when they
//! run apart, with the embedded store and the in-process registry.
//!
//! This crate only wires services together; it holds no service logic.

pub mod all_in_one;
pub mod config;
pub mod serve;
pub mod telemetry;

pub use all_in_one::{Addresses, AllInOne};
pub use config::TidingsConfig;
