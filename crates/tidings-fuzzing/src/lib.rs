//! The bodies of the client-protocol fuzz targets, shared by the cargo-fuzz
//! crate (`fuzz/`, nightly) and by the corpus replay and property tests of
//! this crate (plain `cargo test`, stable), so that both run the same code:
//!
//! - [`frame_decode::check`]: arbitrary bytes decoded as a `ClientFrame` by
//!   the gateway's own decoder and through the field checks applied where
//!   a frame's data enters;
//! - [`connection::run`]: a [`script::Script`] of frames of every type,
//!   garbage, text, oversize and control frames played over a real
//!   WebSocket against an all-in-one server started once per process,
//!   checking that every request gets exactly one answer of its own type
//!   (or the connection is closed after an error with a stable code), the
//!   hello-first rule, that no server thread panics, and that a fresh
//!   connection still works afterwards.
//!
//! This crate only drives Tidings from outside, as a client would: it must
//! never reach into a service's internals to decide what is right.

pub mod connection;
pub mod corpus;
pub mod frame_decode;
mod harness;
pub mod oracle;
pub mod plan;
pub mod script;
pub mod seeds;
