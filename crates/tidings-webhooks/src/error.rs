//! The crate's error type.

use std::time::Duration;

/// What went wrong storing or delivering a webhook event.
///
/// Receivers checking a signature get [`crate::signature::SignatureError`]
/// instead: that runs in the product's backend, not in Tidings, and needs
/// none of these cases.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebhookError {
    /// The outbox's disk did not answer (full, gone, flaky); a retry may
    /// succeed.
    #[error("outbox unavailable: {0}")]
    Unavailable(String),
    /// The outbox failed in a way a retry does not cure.
    #[error("outbox backend: {0}")]
    Backend(String),
    /// A stored row could not be decoded.
    #[error("corrupt outbox row: {0}")]
    Corrupt(String),
    /// An event refused before it was stored (e.g. an empty id).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// The endpoint did not answer within its timeout.
    #[error("webhook did not answer within {0:?}")]
    Timeout(Duration),
    /// Connecting or talking to the endpoint failed.
    #[error("webhook request failed: {0}")]
    Transport(String),
    /// The endpoint answered with a status other than 2xx.
    #[error("webhook answered status {0}")]
    Status(u16),
    /// The endpoint answered 2xx with a body that is not a valid answer.
    #[error("webhook answer not understood: {0}")]
    BadAnswer(String),
}

/// Wraps a fjall error: a failed disk read or write may answer again later
/// and is [`WebhookError::Unavailable`]; anything else is not cured by a
/// retry.
pub(crate) fn storage(action: &str, error: fjall::Error) -> WebhookError {
    let detail = format!("fjall {action}: {error}");
    match error {
        fjall::Error::Io(_) | fjall::Error::Storage(fjall::LsmError::Io(_)) => {
            WebhookError::Unavailable(detail)
        }
        _ => WebhookError::Backend(detail),
    }
}
