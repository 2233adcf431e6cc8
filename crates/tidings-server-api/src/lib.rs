//! The public server API, `tidings.server.v1.ServerApi`: what a product's
//! own backend calls to send as a user or a system sender, manage groups,
//! disconnect devices, see who is online, read history and mint client
//! tokens (DESIGN §10). The same handlers answer gRPC and JSON over HTTP
//! (`POST /api/v1/<Method>`), with the same stable error codes.
//!
//! Every call is authenticated by an API key with scopes ([`keys`]); keys
//! are configured as SHA-256 hashes only. With no key configured every call
//! is refused.
//!
//! This crate holds no business rules of its own: sends, groups and
//! membership checks are logic's, history is store's, presence is the
//! registry's, connections are the gateways'. It validates input, checks
//! the key's scope, and calls those services through their `tidings-rpc`
//! handles. It must never open a table.

mod api;
pub mod config;
mod grpc;
mod http_json;
mod json;
pub mod keys;
mod serve;
mod token;

pub use api::{Gateways, PublicApi, PublicApiBackends};
pub use config::ServerApiConfig;
pub use keys::{ApiKeys, Scope, hash_key};
pub use serve::router;
pub use token::TokenMinter;
