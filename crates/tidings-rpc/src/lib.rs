//! Handles on Tidings' internal services, one type per service
//! ([`LogicApi`], [`SyncApi`], [`StoreApi`], [`SequenceApi`],
//! [`GatewayApi`]). A handle reaches its service one of two ways, and its
//! callers cannot tell which:
//!
//! - **over gRPC** ([`SyncApi::grpc`]): a tonic client on a
//!   [`TracedChannel`], a socket to another process or, for tests, an
//!   in-process tonic service;
//! - **directly** ([`SyncApi::direct`]): the service's handler called as a
//!   Rust function, for the all-in-one process where caller and handler
//!   share it. Requests and answers stay Rust values: no protobuf encoding,
//!   no HTTP request, no header parsing. The handler code is the same one
//!   the gRPC server runs, and a direct call keeps what the server layer
//!   adds to a call: the deadline, a span and the per-RPC metrics.
//!
//! Why not tonic's in-process transport alone: measured on the batched send
//! path, encoding every message into protobuf and back at each of its hops
//! (and building an HTTP request per call) was the largest cost left that
//! was not the work itself (docs/benchmarks.md, "In-process hops").

mod direct;
mod handles;

pub use handles::{GatewayApi, LogicApi, SequenceApi, StoreApi, SyncApi};
pub use tidings_telemetry::TracedChannel;
