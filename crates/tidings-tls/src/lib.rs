//! TLS for every Tidings port that speaks it: `wss://` at the gateway
//! (`[gateway.tls]`), TLS and mutual TLS between services (`[grpc.tls]`),
//! and the public server API (`[server_api.tls]`).
//!
//! - [`ReloadingCert`]: a certificate and key read from PEM files and read
//!   again when they change (cert-manager renewing a mounted Secret), served
//!   by servers and presented by clients;
//! - [`server_config`]: a rustls server config, optionally requiring client
//!   certificates signed by a CA file (mTLS);
//! - [`TlsListener`]: TLS connections of a TCP listener, for `axum::serve`
//!   or, through [`TlsListener::incoming`], for tonic;
//! - [`ClientTls`]: trust of a CA file, a client certificate, and a tonic
//!   channel that connects through them.
//!
//! One crypto provider everywhere: rustls' `ring` (aws-lc needs cmake and
//! builds slowly). This crate knows nothing of configuration keys: callers
//! name them in the errors they pass on.

mod client;
mod listener;
mod pem;
mod reload;
mod server;

use std::sync::Arc;

pub use client::{ClientTls, ClientTlsOptions};
pub use listener::{TlsIncoming, TlsIo, TlsListener};
pub use pem::read_roots;
pub use reload::ReloadingCert;
pub use rustls;
pub use server::{ServerTlsOptions, server_config};

/// The ALPN protocol of gRPC: HTTP/2. gRPC clients (grpc-go, and so
/// grpcurl) refuse a TLS server that does not agree on it.
pub const ALPN_H2: &[u8] = b"h2";
/// The ALPN protocol of HTTP/1.1, for ports that also serve JSON.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider of every config built here.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
