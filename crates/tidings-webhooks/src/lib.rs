//! Webhooks for Tidings: the machinery the logic service uses to tell the
//! product's own backend what happens, and to let it veto or rewrite a send.
//!
//! - [`config`]: one endpoint per event (URL, signing secret, timeout, retry
//!   policy), validated with errors that name the key.
//! - [`signature`]: the `X-Tidings-Signature` header, and [`signature::verify`]
//!   for receivers.
//! - [`outbox`]: the durable queue of asynchronous events ([`Outbox`]), its
//!   fjall implementation and the conformance suite every implementation
//!   passes.
//! - [`dispatcher`]: the task that delivers due events at least once, with
//!   capped exponential backoff, bounded concurrency and a clean shutdown.
//! - [`before_send`]: the synchronous hook of the send path.
//!
//! This crate never decides anything about messages by itself and opens no
//! table of a Tidings service (DESIGN §8): the caller builds the payloads,
//! enqueues them in the same round as the commit they describe, and acts on
//! a before_send outcome. A webhook that is down never loses an event and
//! never blocks the send path for longer than before_send's timeout.

pub mod before_send;
pub mod config;
pub mod dispatcher;
mod error;
mod http;
pub mod outbox;
pub mod signature;

pub use before_send::{BeforeSendHook, BeforeSendOutcome};
pub use config::WebhooksConfig;
pub use dispatcher::{Dispatcher, DispatcherHandle};
pub use error::WebhookError;
pub use http::WebhookClient;
pub use outbox::{EventKind, Outbox, OutboxEvent, PendingEvent, embedded::FjallOutbox};

/// Milliseconds since the Unix epoch, the clock of signatures and of the
/// outbox's due times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
