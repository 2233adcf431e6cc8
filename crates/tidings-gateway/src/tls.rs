//! `wss://` at the gateway (`[gateway.tls]`): TLS on the WebSocket port with
//! rustls (the `ring` provider), from PEM files that are read again when they
//! change, so that a rotated certificate (cert-manager writing a new Secret)
//! is served to new connections without a restart. Connections already open
//! keep the session they have.
//!
//! The files are looked at on a handshake, at most every
//! `gateway.tls.reload_check_ms`; they are loaded when their content
//! differs from what was last seen. A new pair that does not load (a bad
//! PEM, a key that does not match the certificate, a half-written pair) is
//! logged and the old certificate stays in use until a good pair appears.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

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
/// reloaded when they change.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::new(
        tls.cert_file.as_ref(),
        tls.key_file.as_ref(),
        tls.reload_check(),
        provider.clone(),
    )?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("gateway.tls: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Ok(Arc::new(config))
}

/// The certificate in use, swapped when its files change.
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    check_every: Duration,
    provider: Arc<CryptoProvider>,
    state: Mutex<CertState>,
}

struct CertState {
    current: Arc<CertifiedKey>,
    /// The files' content as last read (loaded or not): a pair that failed
    /// is not tried (and logged) again until it changes.
    seen: (Vec<u8>, Vec<u8>),
    checked: Instant,
}

impl ReloadingCert {
    /// Loads the pair now; fails (naming the file) when it does not load.
    pub fn new(
        cert_file: &Path,
        key_file: &Path,
        check_every: Duration,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let seen = read_pair(cert_file, key_file)?;
        let current = certified_key(&seen, &provider)
            .map_err(|e| format!("gateway.tls: {}: {e}", cert_file.display()))?;
        Ok(ReloadingCert {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            check_every,
            provider,
            state: Mutex::new(CertState {
                current,
                seen,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to serve, after a look at the files if the last one
    /// is older than `check_every`.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= self.check_every {
            state.checked = Instant::now();
            self.reload(&mut state);
        }
        state.current.clone()
    }

    fn reload(&self, state: &mut CertState) {
        let pair = match read_pair(&self.cert_file, &self.key_file) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::error!(%error, "cannot read the new TLS certificate; keeping the old one");
                return;
            }
        };
        if pair == state.seen {
            return;
        }
        match certified_key(&pair, &self.provider) {
            Ok(key) => {
                state.current = key;
                tracing::info!(cert_file = %self.cert_file.display(), "loaded a new TLS certificate");
            }
            Err(error) => tracing::error!(
                cert_file = %self.cert_file.display(),
                key_file = %self.key_file.display(),
                %error,
                "the new TLS certificate does not load; keeping the old one"
            ),
        }
        state.seen = pair;
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

fn read_pair(cert_file: &Path, key_file: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("gateway.tls: cannot read {}: {e}", path.display()))
    };
    Ok((read(cert_file)?, read(key_file)?))
}

/// Parses a PEM certificate chain and key, and checks that they match.
fn certified_key(
    (cert, key): &(Vec<u8>, Vec<u8>),
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the certificate file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("bad key PEM: {e}"))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unusable private key: {e}"))?;
    let certified = CertifiedKey::new(chain, key);
    certified
        .keys_match()
        .map_err(|e| format!("the key does not match the certificate: {e}"))?;
    Ok(Arc::new(certified))
}

/// How long a client gets for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS connections of a TCP listener, for `axum::serve`. Handshakes run in
/// their own tasks, so that a slow client does not hold up the others; a
/// failed one is dropped (logged at debug). Accepted sockets get
/// TCP_NODELAY. Dropping it closes the port.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` with `config`; must be called inside a tokio
    /// runtime.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (tx, handshaken) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let acceptor = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_error(e).await;
                        continue;
                    }
                };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                let tls = tls.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            handshaken,
            local_addr,
            acceptor,
        })
    }
}

/// As axum's own listener does: connection errors are the peer's; others
/// (too many open files) are logged and retried after a pause.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "websocket accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accepting task only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
