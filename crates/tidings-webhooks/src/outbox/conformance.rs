//! The conformance suite every [`Outbox`] passes, written once.
//!
//! Each body is a public async function taking a fresh, empty outbox;
//! [`outbox_conformance_tests!`](crate::outbox_conformance_tests) turns them
//! into `#[tokio::test]`s for one implementation. Time is passed in
//! explicitly (`now_ms`), so nothing here sleeps. Bodies panic on failure,
//! like any test.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::WebhookError;
use crate::outbox::{EventKind, Outbox, OutboxEvent};

/// Generates one `#[tokio::test]` per conformance body. The argument is an
/// expression evaluating to a future that yields `(outbox, guard)`: a fresh
/// empty outbox and whatever must live while the test runs (a temporary
/// directory). The calling crate needs tokio's `macros` and `rt-multi-thread`.
#[macro_export]
macro_rules! outbox_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::outbox_conformance_tests!(@each $factory;
            enqueued_events_are_leased_once,
            leases_honour_limit_and_due_order,
            enqueue_is_idempotent_by_id,
            a_lease_runs_out,
            events_are_not_due_before_their_time,
            retry_counts_attempts_and_waits,
            delivered_events_are_gone,
            given_up_events_become_dead_letters,
            invalid_ids_store_nothing,
            settling_unknown_ids_changes_nothing,
            concurrent_enqueues_all_land,
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (outbox, _guard) = $factory.await;
                $crate::outbox::conformance::$name(&outbox).await;
            }
        )*
    };
}

const NOW: u64 = 1_000_000;
const LEASE: Duration = Duration::from_secs(60);

/// An event of `kind` message_committed enqueued at `created_at_ms`.
pub fn event(id: &str, created_at_ms: u64) -> OutboxEvent {
    OutboxEvent {
        id: id.to_owned(),
        kind: EventKind::MessageCommitted,
        payload: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
        created_at_ms,
    }
}

fn ids(events: &[crate::outbox::PendingEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.id.as_str()).collect()
}

pub async fn enqueued_events_are_leased_once(outbox: &impl Outbox) {
    let events = vec![
        event("a", NOW - 3),
        event("b", NOW - 2),
        event("c", NOW - 1),
    ];
    outbox.enqueue(events.clone()).await.unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 3);
    let leased = outbox.lease(NOW, 10, LEASE).await.unwrap();
    assert_eq!(ids(&leased), ["a", "b", "c"]);
    for (pending, original) in leased.iter().zip(&events) {
        assert_eq!(&pending.event, original, "every field round-trips");
        assert_eq!(pending.failed_attempts, 0);
    }
    assert!(outbox.lease(NOW, 10, LEASE).await.unwrap().is_empty());
    assert_eq!(
        outbox.pending_count().await.unwrap(),
        3,
        "leased is still pending"
    );
}

pub async fn leases_honour_limit_and_due_order(outbox: &impl Outbox) {
    let events = vec![
        event("late", NOW - 10),
        event("early", NOW - 30),
        event("mid", NOW - 20),
    ];
    outbox.enqueue(events).await.unwrap();
    assert_eq!(
        ids(&outbox.lease(NOW, 2, LEASE).await.unwrap()),
        ["early", "mid"]
    );
    assert_eq!(ids(&outbox.lease(NOW, 2, LEASE).await.unwrap()), ["late"]);
    assert!(outbox.lease(NOW, 0, LEASE).await.unwrap().is_empty());
}

pub async fn enqueue_is_idempotent_by_id(outbox: &impl Outbox) {
    let mut first = event("a", NOW);
    first.payload = b"first".to_vec();
    let mut second = event("a", NOW);
    second.payload = b"second".to_vec();
    outbox
        .enqueue(vec![first.clone(), second.clone()])
        .await
        .unwrap();
    outbox.enqueue(vec![second, event("b", NOW)]).await.unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 2);
    let leased = outbox.lease(NOW, 10, LEASE).await.unwrap();
    assert_eq!(ids(&leased), ["a", "b"]);
    assert_eq!(leased[0].event.payload, b"first", "the first enqueue wins");

    // A pending event keeps its attempts and due time when enqueued again.
    outbox.retry_at("a", NOW + 1_000).await.unwrap();
    outbox.enqueue(vec![event("a", NOW)]).await.unwrap();
    assert!(ids(&outbox.lease(NOW + 999, 10, LEASE).await.unwrap()).is_empty());
    let leased = outbox.lease(NOW + 1_000, 10, LEASE).await.unwrap();
    assert_eq!(ids(&leased), ["a"]);
    assert_eq!(leased[0].failed_attempts, 1);
}

pub async fn a_lease_runs_out(outbox: &impl Outbox) {
    outbox.enqueue(vec![event("a", NOW)]).await.unwrap();
    let lease = Duration::from_millis(1_000);
    assert_eq!(ids(&outbox.lease(NOW, 10, lease).await.unwrap()), ["a"]);
    assert!(outbox.lease(NOW + 999, 10, lease).await.unwrap().is_empty());
    assert_eq!(
        ids(&outbox.lease(NOW + 1_000, 10, lease).await.unwrap()),
        ["a"]
    );
}

pub async fn events_are_not_due_before_their_time(outbox: &impl Outbox) {
    outbox
        .enqueue(vec![event("future", NOW + 500)])
        .await
        .unwrap();
    assert!(outbox.lease(NOW, 10, LEASE).await.unwrap().is_empty());
    assert_eq!(
        ids(&outbox.lease(NOW + 500, 10, LEASE).await.unwrap()),
        ["future"]
    );
}

pub async fn retry_counts_attempts_and_waits(outbox: &impl Outbox) {
    outbox.enqueue(vec![event("a", NOW)]).await.unwrap();
    outbox.lease(NOW, 10, LEASE).await.unwrap();
    outbox.retry_at("a", NOW + 5_000).await.unwrap();
    assert!(
        outbox
            .lease(NOW + 4_999, 10, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "not due before the retry time, lease released or not"
    );
    let leased = outbox.lease(NOW + 5_000, 10, LEASE).await.unwrap();
    assert_eq!(ids(&leased), ["a"], "the retry releases the lease");
    assert_eq!(leased[0].failed_attempts, 1);
    outbox.retry_at("a", NOW + 6_000).await.unwrap();
    let leased = outbox.lease(NOW + 6_000, 10, LEASE).await.unwrap();
    assert_eq!(leased[0].failed_attempts, 2);
    assert_eq!(
        leased[0].event,
        event("a", NOW),
        "the event itself is unchanged"
    );
}

pub async fn delivered_events_are_gone(outbox: &impl Outbox) {
    outbox
        .enqueue(vec![event("a", NOW), event("b", NOW)])
        .await
        .unwrap();
    outbox.lease(NOW, 10, LEASE).await.unwrap();
    outbox.delivered(&["a".to_owned()]).await.unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 1);
    let later = NOW + LEASE.as_millis() as u64 + 1;
    assert_eq!(ids(&outbox.lease(later, 10, LEASE).await.unwrap()), ["b"]);
    outbox
        .delivered(&["a".to_owned(), "b".to_owned()])
        .await
        .unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 0);
    assert!(
        outbox
            .lease(u64::MAX / 2, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(outbox.dead_letters(10).await.unwrap().is_empty());
}

pub async fn given_up_events_become_dead_letters(outbox: &impl Outbox) {
    outbox
        .enqueue(vec![event("a", NOW), event("b", NOW)])
        .await
        .unwrap();
    outbox.lease(NOW, 10, LEASE).await.unwrap();
    outbox.retry_at("a", NOW).await.unwrap();
    outbox.give_up("a").await.unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 1);
    let dead = outbox.dead_letters(10).await.unwrap();
    assert_eq!(ids(&dead), ["a"]);
    assert_eq!(
        dead[0].failed_attempts, 2,
        "the retry and the final failure"
    );
    assert_eq!(dead[0].event, event("a", NOW));
    assert!(
        outbox
            .lease(u64::MAX / 2, 10, LEASE)
            .await
            .unwrap()
            .iter()
            .all(|e| e.event.id == "b")
    );
}

pub async fn invalid_ids_store_nothing(outbox: &impl Outbox) {
    let long = "x".repeat(crate::outbox::MAX_EVENT_ID_BYTES + 1);
    for bad in ["", "has space", "new\nline", long.as_str()] {
        let result = outbox
            .enqueue(vec![event("good", NOW), event(bad, NOW)])
            .await;
        assert!(
            matches!(result, Err(WebhookError::InvalidEvent(_))),
            "{bad:?} should be refused, got {result:?}"
        );
    }
    assert_eq!(outbox.pending_count().await.unwrap(), 0);
    outbox.enqueue(Vec::new()).await.unwrap();
}

pub async fn settling_unknown_ids_changes_nothing(outbox: &impl Outbox) {
    outbox.enqueue(vec![event("a", NOW)]).await.unwrap();
    outbox.delivered(&["nope".to_owned()]).await.unwrap();
    outbox.retry_at("nope", NOW).await.unwrap();
    outbox.give_up("nope").await.unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 1);
    assert!(outbox.dead_letters(10).await.unwrap().is_empty());
    let leased = outbox.lease(NOW, 10, LEASE).await.unwrap();
    assert_eq!(ids(&leased), ["a"]);
    assert_eq!(leased[0].failed_attempts, 0);
}

pub async fn concurrent_enqueues_all_land<O: Outbox + Clone>(outbox: &O) {
    let outbox = Arc::new(outbox.clone());
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                for batch in 0..5 {
                    let events = (0..5)
                        .map(|i| event(&format!("w{writer}-b{batch}-{i}"), NOW))
                        .collect();
                    outbox.enqueue(events).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(outbox.pending_count().await.unwrap(), 200);
    let leased = outbox.lease(NOW, 1_000, LEASE).await.unwrap();
    let distinct: HashSet<_> = leased.iter().map(|e| e.event.id.clone()).collect();
    assert_eq!(distinct.len(), 200);
}
