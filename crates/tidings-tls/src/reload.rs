//! A certificate read again when its files change, so that a rotated
//! certificate (cert-manager writing a new Secret) is used for new
//! connections without a restart. Connections already open keep the session
//! they have.
//!
//! The files are looked at on a handshake, at most every `check_every`;
//! they are loaded when their content differs from what was last seen. A
//! new pair that does not load (a bad PEM, a key that does not match the
//! certificate, a half-written pair) is logged and the old certificate stays
//! in use until a good pair appears.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::pem::{certified_key, read};

/// The certificate in use, swapped when its files change. Serves as a
/// server's certificate and as a client's (mTLS), often both in one process.
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
        let current =
            certified_key(&seen, &provider).map_err(|e| format!("{}: {e}", cert_file.display()))?;
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

    /// The certificate to use, after a look at the files if the last one
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

impl ResolvesClientCert for ReloadingCert {
    /// The same certificate whatever CA the server names: services share
    /// one CA, and a server that wants another refuses it in the handshake.
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
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
    Ok((read(cert_file)?, read(key_file)?))
}
