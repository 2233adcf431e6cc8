//! The outbox conformance suite against the fjall outbox, one temporary
//! directory per test, plus what only an on-disk outbox can show: events
//! survive closing and reopening the directory, and leases do not.

use std::time::Duration;

use tempfile::TempDir;
use tidings_webhooks::outbox::conformance::event;
use tidings_webhooks::{FjallOutbox, Outbox};

async fn fresh_outbox() -> (FjallOutbox, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = FjallOutbox::open(dir.path()).expect("open outbox");
    (outbox, dir)
}

tidings_webhooks::outbox_conformance_tests!(fresh_outbox());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_reopening_and_leases_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let lease = Duration::from_secs(3600);
    {
        let outbox = FjallOutbox::open(dir.path()).unwrap();
        outbox
            .enqueue(vec![event("a", 10), event("b", 20), event("c", 30)])
            .await
            .unwrap();
        outbox.lease(100, 10, lease).await.unwrap();
        outbox.retry_at("b", 200).await.unwrap();
        outbox.delivered(&["c".to_owned()]).await.unwrap();
    }
    let outbox = FjallOutbox::open(dir.path()).unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 2);
    // "a" was leased for an hour by the closed outbox: nobody holds it now.
    let leased = outbox.lease(100, 10, lease).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].event, event("a", 10));
    let leased = outbox.lease(200, 10, lease).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].event, event("b", 20));
    assert_eq!(leased[0].failed_attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_opener_of_the_directory_is_refused() {
    let (_outbox, dir) = fresh_outbox().await;
    assert!(FjallOutbox::open(dir.path()).is_err());
}
