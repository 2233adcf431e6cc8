//! The dispatcher: delivers the outbox's due events, at least once.
//!
//! One task leases due events (never more than `max_in_flight` at once) and
//! runs one delivery per event. A 2xx answer settles the event; anything
//! else (a refused connection, a timeout, a 5xx or 4xx) makes it due again
//! after a capped exponential backoff with jitter, until its policy's
//! attempts or age run out and it becomes a dead letter. Events are POSTed
//! as stored, with the signature and the idempotency id in headers, so a
//! receiver drops what it has seen: a crash between the endpoint's answer
//! and the settlement, or a lost settlement, sends an event again.
//!
//! Shutdown stops leasing, gives in-flight deliveries a grace period, then
//! drops them; their events are still pending and go out after the restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::config::{DispatcherConfig, RetryPolicy, WebhooksConfig};
use crate::http::Endpoint;
use crate::outbox::{EventKind, Outbox, PendingEvent};
use crate::{WebhookClient, WebhookError, now_ms};

/// Answers of asynchronous endpoints are read only to keep connections
/// reusable; nothing in them matters beyond the status.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A dispatcher ready to start.
pub struct Dispatcher {
    shared: Arc<Shared>,
    config: DispatcherConfig,
}

/// Controls a running dispatcher. Dropping it stops the dispatcher as
/// [`DispatcherHandle::shutdown`] with no grace would.
pub struct DispatcherHandle {
    wake: Arc<Notify>,
    stop: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

/// Wakes a dispatcher, e.g. right after an enqueue, instead of letting the
/// events wait for the next poll. Cheap to clone.
#[derive(Clone)]
pub struct DispatchWaker(Arc<Notify>);

impl DispatchWaker {
    pub fn wake(&self) {
        // A stored permit: a wake while the dispatcher is busy is not lost.
        self.0.notify_one();
    }
}

struct Route {
    endpoint: Endpoint,
    retry: RetryPolicy,
}

struct Shared {
    outbox: Arc<dyn Outbox>,
    client: WebhookClient,
    routes: HashMap<EventKind, Route>,
}

impl Dispatcher {
    /// Checks `config` and prepares delivery of every configured event kind
    /// from `outbox`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        config: &WebhooksConfig,
        client: WebhookClient,
    ) -> Result<Self, String> {
        config.validate()?;
        let mut routes = HashMap::new();
        for kind in EventKind::ALL {
            let Some(delivery) = config.delivery(kind) else {
                continue;
            };
            let key = format!("webhooks.{}", kind.as_str());
            let endpoint =
                Endpoint::parse(&delivery.url, &delivery.secret, delivery.timeout_ms, &key)?;
            let retry = delivery.retry.clone();
            routes.insert(kind, Route { endpoint, retry });
        }
        Ok(Dispatcher {
            shared: Arc::new(Shared {
                outbox,
                client,
                routes,
            }),
            config: config.dispatcher.clone(),
        })
    }

    /// Starts delivering on the current tokio runtime.
    pub fn spawn(self) -> DispatcherHandle {
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(run(self.shared, self.config, wake.clone(), stopped));
        DispatcherHandle { wake, stop, task }
    }
}

impl DispatcherHandle {
    /// Looks for due events now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn waker(&self) -> DispatchWaker {
        DispatchWaker(self.wake.clone())
    }

    /// Stops leasing, waits at most `grace` for deliveries in flight, drops
    /// the rest (their events stay pending) and returns once the dispatcher
    /// has let go of the outbox.
    pub async fn shutdown(self, grace: Duration) {
        // An error means the task has already ended.
        let _ = self.stop.send(Some(grace));
        if let Err(error) = self.task.await {
            report_task(error);
        }
    }
}

async fn run(
    shared: Arc<Shared>,
    config: DispatcherConfig,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<Option<Duration>>,
) {
    let lease_for = Duration::from_millis(config.lease_ms);
    let poll = Duration::from_millis(config.poll_interval_ms);
    let mut in_flight = JoinSet::new();
    let grace = loop {
        let free = config.max_in_flight.saturating_sub(in_flight.len());
        if free > 0 {
            match shared.outbox.lease(now_ms(), free, lease_for).await {
                Ok(due) => {
                    for pending in due {
                        in_flight.spawn(deliver(shared.clone(), pending));
                    }
                }
                Err(error) => tracing::warn!(%error, "webhook outbox lease failed"),
            }
        }
        tokio::select! {
            changed = stopped.changed() => {
                // A dropped handle stops at once.
                let grace = match changed {
                    Ok(()) => stopped.borrow().unwrap_or_default(),
                    Err(_) => Duration::ZERO,
                };
                break grace;
            }
            () = wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(error) = joined {
                    report_task(error);
                }
            }
        }
    };
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = in_flight.join_next().await {
            if let Err(error) = joined {
                report_task(error);
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            dropped = in_flight.len(),
            "webhook deliveries still in flight at shutdown are left pending"
        );
    }
    in_flight.shutdown().await;
}

/// One attempt at one event, and its settlement.
async fn deliver(shared: Arc<Shared>, pending: PendingEvent) {
    let PendingEvent {
        event,
        failed_attempts,
    } = pending;
    let kind = event.kind.as_str();
    let outbox = &shared.outbox;
    let Some(route) = shared.routes.get(&event.kind) else {
        // Enqueued under a config that had this endpoint; keeping it would
        // hold it forever.
        tracing::warn!(event_id = %event.id, event = kind, "webhook event of an unconfigured kind given up");
        settle(outbox.give_up(&event.id).await, &event.id);
        return;
    };
    let attempt = failed_attempts.saturating_add(1);
    let answer = shared
        .client
        .post(
            &route.endpoint,
            kind,
            &event.id,
            attempt,
            Bytes::from(event.payload),
            MAX_ANSWER_BYTES,
        )
        .await;
    let failure = match answer {
        Ok(answer) if answer.status.is_success() => {
            tracing::debug!(event_id = %event.id, event = kind, attempt, "webhook delivered");
            settle(
                outbox.delivered(std::slice::from_ref(&event.id)).await,
                &event.id,
            );
            return;
        }
        Ok(answer) => WebhookError::Status(answer.status.as_u16()),
        Err(error) => error,
    };
    let now = now_ms();
    let age = Duration::from_millis(now.saturating_sub(event.created_at_ms));
    let too_old = age >= Duration::from_secs(route.retry.give_up_after_secs);
    if attempt >= route.retry.max_attempts || too_old {
        tracing::warn!(
            event_id = %event.id, event = kind, attempt, age_ms = age.as_millis() as u64,
            error = %failure, "webhook event given up"
        );
        settle(outbox.give_up(&event.id).await, &event.id);
        return;
    }
    let delay = route.retry.backoff(attempt, rand::random::<f64>());
    tracing::debug!(
        event_id = %event.id, event = kind, attempt, delay_ms = delay.as_millis() as u64,
        error = %failure, "webhook attempt failed"
    );
    let due_at_ms = now.saturating_add(delay.as_millis() as u64);
    settle(outbox.retry_at(&event.id, due_at_ms).await, &event.id);
}

/// A settlement that fails leaves the event leased; it is delivered again
/// once the lease runs out, which at-least-once allows.
fn settle(result: Result<(), WebhookError>, event_id: &str) {
    if let Err(error) = result {
        tracing::warn!(event_id, %error, "webhook event not settled; it will be sent again");
    }
}

fn report_task(error: JoinError) {
    if error.is_panic() {
        tracing::error!(%error, "webhook delivery task panicked");
    }
}
