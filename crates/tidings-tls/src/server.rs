//! The rustls config of a TLS port: its certificate (reloaded from files)
//! and, for mutual TLS, the CA its callers' certificates must chain to.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;

use crate::pem::read_roots;
use crate::reload::ReloadingCert;

/// What a TLS port serves and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerTlsOptions<'a> {
    /// The certificate served (its files are looked at again on handshakes).
    pub cert: Arc<ReloadingCert>,
    /// When set, a caller must present a certificate signed by a CA of this
    /// PEM bundle; one without, or with another CA's, is refused in the
    /// handshake. Read once, here.
    pub client_ca_file: Option<&'a Path>,
    /// ALPN protocols offered, most preferred first; empty: no ALPN.
    pub alpn: &'a [&'a [u8]],
}

/// A server config as `options` say. Fails, naming the file, when the CA
/// bundle does not load.
pub fn server_config(options: &ServerTlsOptions<'_>) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = crate::provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match options.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let roots = read_roots(ca_file)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("{}: {e}", ca_file.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(options.cert.clone());
    config.alpn_protocols = options.alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
