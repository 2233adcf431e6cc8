//! The HTTP client of webhooks: signed JSON POSTs under a deadline.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::WebhookError;
use crate::config::SigningSecret;
use crate::signature::{ATTEMPT_HEADER, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, sign};

/// Idle connections are kept this long, so that a busy endpoint is not
/// reconnected for every event, while one that went quiet is let go.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// One configured endpoint, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub uri: Uri,
    pub secret: SigningSecret,
    pub timeout: Duration,
}

impl Endpoint {
    /// Parses a configured endpoint; `key` names its config section in the
    /// error.
    pub(crate) fn parse(
        url: &str,
        secret: &SigningSecret,
        timeout_ms: u64,
        key: &str,
    ) -> Result<Self, String> {
        Ok(Endpoint {
            uri: crate::config::parse_url(url, key)?,
            secret: secret.clone(),
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// What the endpoint answered.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// A pooled HTTP/1.1 client for webhook endpoints. Cheap to clone; clones
/// share connections.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for WebhookClient {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookClient {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        // Webhook requests are small and latency-bound (before_send sits in
        // the send path).
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        WebhookClient { client }
    }

    /// POSTs `body` to `endpoint`, signed now, and reads at most
    /// `max_answer_bytes` of the answer, all within the endpoint's timeout
    /// (connecting included).
    pub(crate) async fn post(
        &self,
        endpoint: &Endpoint,
        event: &str,
        event_id: &str,
        attempt: u32,
        body: Bytes,
        max_answer_bytes: usize,
    ) -> Result<Answer, WebhookError> {
        let signature = sign(endpoint.secret.as_bytes(), crate::now_ms(), &body);
        let request = Request::builder()
            .method(Method::POST)
            .uri(endpoint.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("tidings-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header(EVENT_HEADER, event)
            .header(EVENT_ID_HEADER, event_id)
            .header(ATTEMPT_HEADER, attempt)
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(body))
            .map_err(|e| WebhookError::Transport(format!("build request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| WebhookError::Transport(describe(&e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), max_answer_bytes)
                .collect()
                .await
                .map_err(|e| WebhookError::BadAnswer(format!("read answer: {e}")))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(endpoint.timeout, exchange)
            .await
            .map_err(|_| WebhookError::Timeout(endpoint.timeout))?
    }
}

/// The client's error with its causes (hyper-util's own text is only
/// "client error (Connect)").
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
