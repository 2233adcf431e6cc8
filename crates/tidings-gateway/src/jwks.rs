//! The public keys of JWT authentication, from a JWKS file or an
//! (in-cluster) JWKS URL, and how they stay fresh: a file is read again when
//! it changes and whenever a token names an unknown key id; a URL is fetched
//! again every few minutes and on an unknown key id, at most once every few
//! seconds, so tokens with made-up key ids cannot make the gateway hammer
//! the key server. A reload that fails keeps the keys held so far.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// How often a JWKS file is looked at for changes.
const FILE_POLL: Duration = Duration::from_secs(1);
/// How often a JWKS URL is fetched again on its own.
const URL_REFRESH: Duration = Duration::from_secs(300);
/// Fewest seconds between two fetches of a JWKS URL for unknown key ids.
const URL_MIN_INTERVAL: Duration = Duration::from_secs(5);
/// Deadline of one fetch of a JWKS URL.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// One verification key.
#[derive(Debug)]
pub(crate) struct Key {
    /// The JWK's `kid`, if it has one.
    pub(crate) kid: Option<String>,
    /// The JWK's `alg`, if it names one: then only that algorithm.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl Key {
    /// Whether a token signed with `alg` may be checked with this key: the
    /// algorithm must be of the key's kind (never an HS token against an
    /// RSA key, or the other way round) and the one the JWK names, if any.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        alg.family() == self.key.family() && self.alg.is_none_or(|only| only == alg)
    }

    /// The kind of key, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        family_name(self.key.family())
    }
}

pub(crate) fn family_name(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "EdDSA",
    }
}

/// Where the keys come from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Url(http::Uri),
}

/// A set of keys that can be reloaded from its source.
pub(crate) struct Jwks {
    source: Source,
    keys: RwLock<Arc<Vec<Arc<Key>>>>,
    /// When the keys were last loaded for an unknown key id; held during the
    /// reload so that concurrent hellos wait for one reload.
    last_reload: Mutex<Option<Instant>>,
}

impl Jwks {
    /// Reads the JWKS file at `path`; fails if it cannot be read or holds no
    /// usable key.
    pub(crate) async fn open_file(path: &str) -> Result<Self, String> {
        let jwks = Jwks::new(Source::File(PathBuf::from(path)));
        let count = jwks
            .reload()
            .await
            .map_err(|e| format!("gateway.auth.jwt.jwks_file: {e}"))?;
        tracing::info!(path, keys = count, "jwks file loaded");
        Ok(jwks)
    }

    /// Fetches the JWKS at `url`. An unreachable key server does not stop
    /// the gateway: it starts without keys and fetches again on the first
    /// token (and every few minutes).
    pub(crate) async fn open_url(url: &str) -> Result<Self, String> {
        let uri = http::Uri::from_str(url)
            .map_err(|e| format!("gateway.auth.jwt.jwks_url: {url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!(
                "gateway.auth.jwt.jwks_url: {url:?} is not an http:// URL with a host"
            ));
        }
        let jwks = Jwks::new(Source::Url(uri));
        match jwks.reload().await {
            Ok(count) => tracing::info!(url, keys = count, "jwks fetched"),
            Err(e) => {
                tracing::warn!(url, error = %e, "jwks fetch failed; starting without keys")
            }
        }
        *jwks.last_reload.lock().await = Some(Instant::now());
        Ok(jwks)
    }

    fn new(source: Source) -> Self {
        Jwks {
            source,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_reload: Mutex::new(None),
        }
    }

    fn current(&self) -> Arc<Vec<Arc<Key>>> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The key with id `kid`.
    pub(crate) fn find(&self, kid: &str) -> Option<Arc<Key>> {
        self.current()
            .iter()
            .find(|key| key.kid.as_deref() == Some(kid))
            .cloned()
    }

    /// Every key that may check a token signed with `alg`.
    pub(crate) fn allowing(&self, alg: Algorithm) -> Vec<Arc<Key>> {
        self.current()
            .iter()
            .filter(|key| key.allows(alg))
            .cloned()
            .collect()
    }

    /// A token named a key id no key has: the keys may have been rotated.
    /// A file is read again; a URL is fetched again unless it was less than
    /// a few seconds ago.
    pub(crate) async fn reload_for_unknown_kid(&self) {
        let mut last = self.last_reload.lock().await;
        if let (Source::Url(_), Some(at)) = (&self.source, *last)
            && at.elapsed() < URL_MIN_INTERVAL
        {
            return;
        }
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "jwks reload failed; keeping the keys held");
        }
        *last = Some(Instant::now());
    }

    /// Loads the keys from the source; on failure keeps the current ones.
    async fn reload(&self) -> Result<usize, String> {
        let document = match &self.source {
            Source::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?,
            Source::Url(uri) => tokio::time::timeout(FETCH_TIMEOUT, fetch(uri))
                .await
                .map_err(|_| format!("{uri}: no answer within {FETCH_TIMEOUT:?}"))??
                .to_vec(),
        };
        let keys = parse(&document)?;
        let count = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(count)
    }

    /// Keeps the keys fresh until the task is aborted: a file is read again
    /// when its modification time or size changes, a URL is fetched again
    /// every few minutes.
    pub(crate) fn spawn_refresh(self: &Arc<Self>) -> JoinHandle<()> {
        let jwks = Arc::clone(self);
        tokio::spawn(async move {
            match jwks.source.clone() {
                Source::File(path) => {
                    let mut seen = stamp(&path).await;
                    loop {
                        tokio::time::sleep(FILE_POLL).await;
                        let now = stamp(&path).await;
                        if now == seen {
                            continue;
                        }
                        seen = now;
                        match jwks.reload().await {
                            Ok(count) => {
                                tracing::info!(path = %path.display(), keys = count, "jwks file reloaded")
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "jwks file reload failed; keeping the keys held")
                            }
                        }
                    }
                }
                Source::Url(uri) => loop {
                    tokio::time::sleep(URL_REFRESH).await;
                    let _held = jwks.last_reload.lock().await;
                    if let Err(e) = jwks.reload().await {
                        tracing::warn!(url = %uri, error = %e, "jwks fetch failed; keeping the keys held");
                    }
                },
            }
        })
    }
}

/// What tells a file changed: its modification time and size.
async fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let metadata = tokio::fs::metadata(path).await.ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The usable keys of a JWKS document: keys for encryption (`use` "enc") or
/// of a kind the gateway cannot check are skipped.
pub(crate) fn parse(document: &[u8]) -> Result<Vec<Arc<Key>>, String> {
    let set: JwkSet =
        serde_json::from_slice(document).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone();
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(named) => match Algorithm::from_str(&named.to_string()) {
                Ok(alg) => Some(alg),
                Err(_) => {
                    tracing::warn!(kid = ?kid, alg = %named, "jwks key skipped: algorithm not supported");
                    continue;
                }
            },
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => keys.push(Arc::new(Key { kid, alg, key })),
            Err(e) => tracing::warn!(kid = ?kid, error = %e, "jwks key skipped"),
        }
    }
    if keys.is_empty() {
        return Err("the JWKS holds no usable key".into());
    }
    Ok(keys)
}

/// GETs `uri` over plain HTTP/1.1 (an in-cluster key server).
async fn fetch(uri: &http::Uri) -> Result<Bytes, String> {
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
    let connection = tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("{uri}: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("{uri}: answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        Ok(body.to_bytes())
    }
    .await;
    connection.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_JWKS: &str = r#"{"keys":[
        {"kty":"OKP","crv":"Ed25519","kid":"ed-1","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty":"OKP","crv":"Ed25519","kid":"enc","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty":"oct","kid":"hs-1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    ]}"#;

    #[test]
    fn keys_allow_only_their_kind_and_their_alg() {
        let keys = parse(ED_JWKS.as_bytes()).unwrap();
        assert_eq!(keys.len(), 2, "the encryption key is skipped");
        let ed = &keys[0];
        assert!(ed.allows(Algorithm::EdDSA));
        assert!(!ed.allows(Algorithm::HS256));
        assert!(!ed.allows(Algorithm::RS256));
        let hs = &keys[1];
        assert!(hs.allows(Algorithm::HS512), "no alg named: any of its kind");
        assert!(!hs.allows(Algorithm::EdDSA));
        assert!(parse(b"{\"keys\":[]}").is_err());
        assert!(parse(b"not json").is_err());
    }

    #[tokio::test]
    async fn a_jwks_url_is_fetched_and_not_again_within_seconds() {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { ED_JWKS }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let jwks = Jwks::open_url(&format!("http://{address}/jwks"))
            .await
            .unwrap();
        assert!(jwks.find("ed-1").is_some());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        jwks.reload_for_unknown_kid().await;
        jwks.reload_for_unknown_kid().await;
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "rate-limited"
        );
        server.abort();
    }
}
