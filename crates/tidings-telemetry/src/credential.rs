//! The service credential: a shared secret (`grpc.service_token`) that every
//! call one service makes to another over a socket carries as
//! `authorization: Bearer <token>`, and that every internal gRPC server
//! checks before any handler runs ([`RequireServiceTokenLayer`]). Calls
//! inside one process (direct or in-process gRPC) carry none: nothing
//! outside the process can make them.
//!
//! The check is one tower layer in the server stack, so mutual TLS between
//! services (the peer's certificate checked instead of a header) can replace
//! it without touching a handler. The gRPC health service stays open:
//! kubelet probes carry no credential, and health says nothing about users.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rand::Rng as _;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

/// Paths served without the credential: `grpc.health.v1.Health/*`.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// Length of a generated token: 43 alphanumeric characters, about 256 bits.
const GENERATED_LEN: usize = 43;

/// Shortest token accepted from configuration.
pub const MIN_TOKEN_LEN: usize = 16;

/// The shared secret of the services of one deployment. Its `Debug` output
/// never shows it.
#[derive(Clone)]
pub struct ServiceToken {
    /// `Bearer <token>`, as sent and as compared.
    bearer: Arc<str>,
}

impl ServiceToken {
    /// A token from configuration: at least [`MIN_TOKEN_LEN`] characters,
    /// each visible ASCII (it travels in an HTTP/2 header). The error says
    /// what is wrong, not what the token is.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "must be at least {MIN_TOKEN_LEN} characters (got {})",
                token.len()
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters only (no spaces)".into());
        }
        Ok(ServiceToken {
            bearer: format!("Bearer {token}").into(),
        })
    }

    /// A random token (from the operating system's CSPRNG through `rand`),
    /// for a process whose services only call each other.
    pub fn generate() -> Self {
        let token: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(GENERATED_LEN)
            .map(char::from)
            .collect();
        ServiceToken::new(&token).expect("a generated token is valid")
    }

    /// The token itself, e.g. to hand to a tool or a child process. Never log
    /// it.
    pub fn reveal(&self) -> &str {
        &self.bearer["Bearer ".len()..]
    }

    /// Adds `authorization: Bearer <token>` to `metadata`, marked sensitive
    /// (HTTP/2 never indexes it in its header tables).
    pub fn insert_into(&self, metadata: &mut MetadataMap) {
        let mut value = AsciiMetadataValue::try_from(&*self.bearer)
            .expect("a validated token is a valid header value");
        value.set_sensitive(true);
        metadata.insert("authorization", value);
    }

    /// Whether `header` (an `authorization` value) carries this token. Takes
    /// the same time wherever the first differing byte is.
    fn accepts(&self, header: &[u8]) -> bool {
        constant_time_eq(header, self.bearer.as_bytes())
    }
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceToken(<redacted>)")
    }
}

/// Compares in time that depends only on the lengths (a token's length is
/// not the secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Refuses, with `UNAUTHENTICATED`, every call but health checks that does
/// not carry the service token; the handler never sees a refused call. Put
/// it inside [`crate::GrpcTelemetryLayer`] so refused calls are counted.
#[derive(Debug, Clone)]
pub struct RequireServiceTokenLayer {
    token: ServiceToken,
}

impl RequireServiceTokenLayer {
    pub fn new(token: ServiceToken) -> Self {
        RequireServiceTokenLayer { token }
    }
}

impl<S> tower::Layer<S> for RequireServiceTokenLayer {
    type Service = RequireServiceToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireServiceToken {
            inner,
            token: self.token.clone(),
        }
    }
}

/// See [`RequireServiceTokenLayer`].
#[derive(Debug, Clone)]
pub struct RequireServiceToken<S> {
    inner: S,
    token: ServiceToken,
}

/// Why a call was refused; the message is what the caller reads.
fn refusal(headers: &http::HeaderMap, token: &ServiceToken) -> Option<&'static str> {
    match headers.get(http::header::AUTHORIZATION) {
        None => Some(
            "missing service credential: internal gRPC calls need \
             `authorization: Bearer <grpc.service_token>`",
        ),
        Some(value) if !token.accepts(value.as_bytes()) => Some(
            "invalid service credential: `authorization` does not carry this \
             deployment's grpc.service_token",
        ),
        Some(_) => None,
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for RequireServiceToken<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if !request.uri().path().starts_with(OPEN_PREFIX) {
            if let Some(message) = refusal(request.headers(), &self.token) {
                tracing::debug!(path = request.uri().path(), "refused a call: {message}");
                let response = tonic::Status::unauthenticated(message).into_http::<R>();
                return Box::pin(std::future::ready(Ok(response)));
            }
            // Handlers have no use for the secret; keep it out of anything
            // that records metadata.
            request.headers_mut().remove(http::header::AUTHORIZATION);
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer as _, Service as _, ServiceExt as _};

    use super::*;

    /// Answers OK and counts the calls that reached it.
    fn handler(
        calls: Arc<std::sync::atomic::AtomicUsize>,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone {
        tower::service_fn(move |request: http::Request<()>| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert!(
                request.headers().get("authorization").is_none(),
                "the handler sees no credential"
            );
            async { Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty())) }
        })
    }

    /// The gRPC status of calling `path` with `authorization` (if any), and
    /// whether the handler ran.
    async fn call(path: &str, authorization: Option<&str>) -> (tonic::Code, String, bool) {
        let token = ServiceToken::new("s3cret-token-0123456789").unwrap();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut service = RequireServiceTokenLayer::new(token).layer(handler(calls.clone()));
        let mut request = http::Request::builder().uri(path);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request.body(()).unwrap())
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(response.headers());
        let (code, message) = status
            .map(|s| (s.code(), s.message().to_owned()))
            .unwrap_or((tonic::Code::Ok, String::new()));
        let ran = calls.load(std::sync::atomic::Ordering::SeqCst) == 1;
        (code, message, ran)
    }

    const SEND: &str = "/tidings.logic.v1.LogicService/Send";

    #[tokio::test]
    async fn a_call_without_the_credential_is_refused_before_the_handler() {
        let (code, message, ran) = call(SEND, None).await;
        assert_eq!(code, tonic::Code::Unauthenticated);
        assert!(message.contains("missing service credential"), "{message}");
        assert!(!ran);
    }

    #[tokio::test]
    async fn a_wrong_credential_is_refused() {
        for wrong in [
            "Bearer s3cret-token-0123456780",
            "Bearer s3cret-token",
            "s3cret-token-0123456789",
            "Basic s3cret-token-0123456789",
        ] {
            let (code, message, ran) = call(SEND, Some(wrong)).await;
            assert_eq!(code, tonic::Code::Unauthenticated, "{wrong}");
            assert!(message.contains("invalid service credential"), "{message}");
            assert!(!ran, "{wrong}");
        }
    }

    #[tokio::test]
    async fn the_right_credential_is_served() {
        let (code, _, ran) = call(SEND, Some("Bearer s3cret-token-0123456789")).await;
        assert_eq!(code, tonic::Code::Ok);
        assert!(ran);
    }

    #[tokio::test]
    async fn health_is_open_and_reflection_is_not() {
        let (code, _, ran) = call("/grpc.health.v1.Health/Check", None).await;
        assert_eq!((code, ran), (tonic::Code::Ok, true));
        let reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        let (code, _, ran) = call(reflection, None).await;
        assert_eq!((code, ran), (tonic::Code::Unauthenticated, false));
        // Only the exact service name is open.
        let (code, _, _) = call("/grpc.health.v1.HealthX/Check", None).await;
        assert_eq!(code, tonic::Code::Unauthenticated);
    }

    #[test]
    fn tokens_are_validated_generated_and_never_printed() {
        assert!(ServiceToken::new("short").is_err());
        assert!(ServiceToken::new("has a space in it here").is_err());
        assert!(ServiceToken::new("").is_err());
        let generated = ServiceToken::generate();
        assert_eq!(generated.reveal().len(), GENERATED_LEN);
        assert_ne!(generated.reveal(), ServiceToken::generate().reveal());
        let printed = format!("{generated:?}");
        assert!(!printed.contains(generated.reveal()), "{printed}");
        let mut metadata = MetadataMap::new();
        generated.insert_into(&mut metadata);
        let sent = metadata.get("authorization").unwrap();
        assert_eq!(
            sent.to_str().unwrap(),
            format!("Bearer {}", generated.reveal())
        );
        assert!(sent.is_sensitive());
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
