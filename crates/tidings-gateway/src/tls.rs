//! `wss://` at the gateway (`[gateway.tls]`): TLS on the WebSocket port with
//! rustls (the `ring` provider), from PEM files that are read again when they
//! change, so that a rotated certificate (cert-manager writing a new Secret)
//! is served to new connections without a restart. Connections already open
//! keep the session they have. The reloading certificate and the TLS
//! listener are `tidings_tls`'s, shared with internal gRPC and the server
//! API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
pub use tidings_tls::{ReloadingCert, TlsListener};

use crate::state::Gateway;

/// TLS of the WebSocket port (`[gateway.tls]`). Empty strings mean unset;
/// both files set turn TLS on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    pub key_file: String,
    /// How often (milliseconds) at most the files are looked at again for
    /// a new certificate.
    pub reload_check_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            reload_check_ms: 5_000,
        }
    }
}

impl TlsConfig {
    /// Whether the WebSocket port speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    /// Checks the values, naming the offending key. The files are read (and
    /// so checked) when the gateway starts serving.
    pub fn validate(&self) -> Result<(), String> {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            return Err(
                "gateway.tls.cert_file and gateway.tls.key_file must be set together".into(),
            );
        }
        if !(100..=3_600_000).contains(&self.reload_check_ms) {
            return Err("gateway.tls.reload_check_ms must be between 100 and 3600000".into());
        }
        Ok(())
    }

    fn reload_check(&self) -> Duration {
        Duration::from_millis(self.reload_check_ms)
    }
}

impl Gateway {
    /// The rustls server config of the WebSocket port, or `None` when
    /// `gateway.tls` is off. Fails when the files do not load.
    pub fn ws_tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let tls = &self.config.tls;
        if !tls.enabled() {
            return Ok(None);
        }
        server_config(tls).map(Some)
    }
}

/// A rustls server config serving the certificate of `tls`'s files,
/// reloaded when they change. Errors name `gateway.tls`.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let cert = ReloadingCert::new(
        Path::new(&tls.cert_file),
        Path::new(&tls.key_file),
        tls.reload_check(),
        tidings_tls::provider(),
    )
    .map_err(|e| format!("gateway.tls: {e}"))?;
    tidings_tls::server_config(&tidings_tls::ServerTlsOptions {
        cert: Arc::new(cert),
        client_ca_file: None,
        // WebSocket upgrades are HTTP/1.1; no ALPN, as before the move.
        alpn: &[],
    })
    .map_err(|e| format!("gateway.tls: {e}"))
}
