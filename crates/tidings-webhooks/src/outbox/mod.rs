//! The durable outbox of asynchronous webhook events.
//!
//! An event is enqueued in the same round as the commit it describes, and
//! enqueue returns only once the event survives a crash; from then on the
//! dispatcher owns it until the endpoint has acknowledged it or its retry
//! policy gives it up. Events are keyed by their idempotency id, which the
//! endpoint sees on every attempt, so a retried commit that enqueues the same
//! event again leaves one event, and an endpoint that sees an id twice (after
//! a lost acknowledgement, a crash mid-request) can drop the second.

mod codec;
pub mod conformance;
pub mod embedded;

use std::time::Duration;

use async_trait::async_trait;

use crate::WebhookError;

/// Longest idempotency id accepted, in bytes; it travels in a header.
pub const MAX_EVENT_ID_BYTES: usize = 256;

/// The asynchronous events (before_send is synchronous and never queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    OfflinePush,
    MessageCommitted,
    MembershipChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [
        EventKind::OfflinePush,
        EventKind::MessageCommitted,
        EventKind::MembershipChanged,
    ];

    /// The name in config keys and in the `X-Tidings-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OfflinePush => "offline_push",
            EventKind::MessageCommitted => "message_committed",
            EventKind::MembershipChanged => "membership_changed",
        }
    }
}

/// One event to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Idempotency id, sent as `X-Tidings-Event-Id`; derive it from what the
    /// event is about (e.g. the message id and the recipient), so that
    /// enqueueing the same fact twice yields the same id.
    pub id: String,
    pub kind: EventKind,
    /// The request body, sent as is (JSON built by the caller).
    pub payload: Vec<u8>,
    /// When the event was enqueued (Unix ms); its age bounds the retries.
    pub created_at_ms: u64,
}

/// An event leased for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub event: OutboxEvent,
    /// Failed attempts so far.
    pub failed_attempts: u32,
}

/// A durable queue of webhook events, keyed by idempotency id.
///
/// Leases keep an event from being handed out twice at once; they are not
/// durable, and need not be: an event leased when its holder died is handed
/// out again (delivery is at least once), at the latest when the lease runs
/// out, and at once by a freshly opened outbox.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Stores `events`, due at once, and returns only once all of them
    /// survive a crash. An event whose id is already pending is left as it
    /// is (its attempts and due time kept); within one call the first event
    /// of an id wins. Fails without storing anything if an id is empty or
    /// longer than [`MAX_EVENT_ID_BYTES`].
    async fn enqueue(&self, events: Vec<OutboxEvent>) -> Result<(), WebhookError>;

    /// Leases at most `limit` events due at `now_ms`, earliest due first,
    /// skipping events under a lease that has not run out; each returned
    /// event is leased until `now_ms + lease_for`.
    async fn lease(
        &self,
        now_ms: u64,
        limit: usize,
        lease_for: Duration,
    ) -> Result<Vec<PendingEvent>, WebhookError>;

    /// Removes delivered events and their leases; unknown ids are ignored
    /// (an event delivered twice is settled twice).
    async fn delivered(&self, ids: &[String]) -> Result<(), WebhookError>;

    /// Counts one more failed attempt of event `id`, releases its lease and
    /// makes it due at `due_at_ms`. An unknown id is ignored.
    async fn retry_at(&self, id: &str, due_at_ms: u64) -> Result<(), WebhookError>;

    /// Removes event `id` from the pending events, keeping it among the dead
    /// letters (counting the attempt that just failed). An unknown id is
    /// ignored.
    async fn give_up(&self, id: &str) -> Result<(), WebhookError>;

    /// How many events are pending (leased or not).
    async fn pending_count(&self) -> Result<usize, WebhookError>;

    /// At most `limit` given-up events, by id.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<PendingEvent>, WebhookError>;
}

/// Refuses ids that could not travel in a header or would be ambiguous.
pub(crate) fn check_event_id(id: &str) -> Result<(), WebhookError> {
    if id.is_empty() {
        return Err(WebhookError::InvalidEvent("empty event id".into()));
    }
    if id.len() > MAX_EVENT_ID_BYTES {
        return Err(WebhookError::InvalidEvent(format!(
            "event id longer than {MAX_EVENT_ID_BYTES} bytes"
        )));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WebhookError::InvalidEvent(format!(
            "event id {id:?} has characters other than printable ASCII"
        )));
    }
    Ok(())
}
