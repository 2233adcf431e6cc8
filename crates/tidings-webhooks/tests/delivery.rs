//! The dispatcher against a real HTTP endpoint: signed deliveries, an
//! endpoint that is down for a while, retries that run out, and events that
//! outlive the dispatcher and the process holding the outbox.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{Recorded, Reply, SECRET, TestServer, dead_url, wait_until};
use tidings_webhooks::config::{DeliveryConfig, DispatcherConfig, RetryPolicy, SigningSecret};
use tidings_webhooks::{
    Dispatcher, DispatcherHandle, EventKind, FjallOutbox, Outbox, OutboxEvent, WebhookClient,
    WebhooksConfig, now_ms,
};

/// Every wait is bounded by this; none of them is expected to come close.
const PATIENCE: Duration = Duration::from_secs(60);
/// Set in the child process of the crash test: the outbox directory.
const CHILD_DIR_VAR: &str = "TIDINGS_WEBHOOKS_TEST_CHILD_DIR";
const CHILD_URL_VAR: &str = "TIDINGS_WEBHOOKS_TEST_CHILD_URL";
const CHILD_READY: &str = "child: events enqueued";

/// Short backoffs, so that a test of many retries stays short.
fn config(url: &str, max_attempts: u32) -> WebhooksConfig {
    WebhooksConfig {
        message_committed: Some(DeliveryConfig {
            url: url.to_owned(),
            secret: SigningSecret::new(SECRET),
            timeout_ms: 2_000,
            retry: RetryPolicy {
                max_attempts,
                initial_backoff_ms: 20,
                max_backoff_ms: 200,
                give_up_after_secs: 3_600,
            },
        }),
        dispatcher: DispatcherConfig {
            max_in_flight: 8,
            poll_interval_ms: 20,
            lease_ms: 10_000,
        },
        ..WebhooksConfig::default()
    }
}

fn start(outbox: &FjallOutbox, url: &str, max_attempts: u32) -> DispatcherHandle {
    let outbox: Arc<dyn Outbox> = Arc::new(outbox.clone());
    Dispatcher::new(outbox, &config(url, max_attempts), WebhookClient::new())
        .unwrap()
        .spawn()
}

fn events(prefix: &str, count: usize) -> Vec<OutboxEvent> {
    (0..count)
        .map(|i| OutboxEvent {
            id: format!("{prefix}-{i}"),
            kind: EventKind::MessageCommitted,
            payload: format!(r#"{{"message_id":"{prefix}-{i}"}}"#).into_bytes(),
            created_at_ms: now_ms(),
        })
        .collect()
}

async fn wait_for_empty_outbox(outbox: &FjallOutbox) {
    wait_until(PATIENCE, "an empty outbox", || async {
        outbox.pending_count().await.unwrap() == 0
    })
    .await;
}

/// Checks that every event reached the endpoint with a 2xx answer, signed,
/// with its own payload.
fn assert_all_delivered(recorded: &[Recorded], sent: &[OutboxEvent]) {
    assert!(
        recorded.iter().all(|r| r.signature_ok),
        "every request is signed"
    );
    let delivered: HashSet<&str> = recorded
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.event_id.as_str())
        .collect();
    for event in sent {
        assert!(
            delivered.contains(event.id.as_str()),
            "{} never delivered",
            event.id
        );
        let request = recorded.iter().find(|r| r.event_id == event.id).unwrap();
        assert_eq!(request.body, event.payload);
        assert_eq!(request.event, "message_committed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_delivered_signed_with_its_id() {
    let server = TestServer::start(Reply::Status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = FjallOutbox::open(dir.path()).unwrap();
    let dispatcher = start(&outbox, &server.url(), 10);
    let sent = events("one", 1);
    outbox.enqueue(sent.clone()).await.unwrap();
    dispatcher.wake();
    wait_for_empty_outbox(&outbox).await;
    let recorded = server.recorded();
    assert_all_delivered(&recorded, &sent);
    assert_eq!(recorded[0].attempt, 1);
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_then_back_gets_every_event() {
    let (addr, url) = dead_url().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = FjallOutbox::open(dir.path()).unwrap();
    let dispatcher = start(&outbox, &url, 1_000);
    let sent = events("down", 40);
    outbox.enqueue(sent.clone()).await.unwrap();
    dispatcher.wake();

    // Refused connections for a while, then a server that answers 503:
    // nothing may be settled by either.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(outbox.pending_count().await.unwrap(), sent.len());
    let server = TestServer::start_on(addr, Reply::Status(503)).await;
    wait_until(PATIENCE, "retries answered 503", || async {
        server.recorded().len() >= 2 * sent.len()
    })
    .await;
    assert_eq!(outbox.pending_count().await.unwrap(), sent.len());

    server.set_reply(Reply::Status(200));
    wait_for_empty_outbox(&outbox).await;
    let recorded = server.recorded();
    assert_all_delivered(&recorded, &sent);
    assert!(
        recorded.iter().any(|r| r.status == 200 && r.attempt > 2),
        "the deliveries that succeeded were retries"
    );
    assert!(outbox.dead_letters(10).await.unwrap().is_empty());
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_that_run_out_make_dead_letters() {
    let server = TestServer::start(Reply::Status(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = FjallOutbox::open(dir.path()).unwrap();
    let dispatcher = start(&outbox, &server.url(), 3);
    let sent = events("doomed", 3);
    outbox.enqueue(sent.clone()).await.unwrap();
    wait_for_empty_outbox(&outbox).await;
    let dead = outbox.dead_letters(10).await.unwrap();
    let dead_ids: BTreeSet<_> = dead.iter().map(|e| e.event.id.clone()).collect();
    let sent_ids: BTreeSet<_> = sent.iter().map(|e| e.id.clone()).collect();
    assert_eq!(dead_ids, sent_ids);
    assert!(dead.iter().all(|e| e.failed_attempts == 3));
    assert_eq!(
        server.recorded().len(),
        9,
        "three attempts per event, no more"
    );
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_outlive_the_dispatcher_and_the_outbox() {
    let (addr, url) = dead_url().await;
    let dir = tempfile::tempdir().unwrap();
    let sent = events("restart", 20);
    {
        let outbox = FjallOutbox::open(dir.path()).unwrap();
        let dispatcher = start(&outbox, &url, 1_000);
        outbox.enqueue(sent.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // In-flight attempts are dropped, not waited for.
        dispatcher.shutdown(Duration::ZERO).await;
    }
    let server = TestServer::start_on(addr, Reply::Status(200)).await;
    let outbox = FjallOutbox::open(dir.path()).unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), sent.len());
    let dispatcher = start(&outbox, &url, 1_000);
    wait_for_empty_outbox(&outbox).await;
    assert_all_delivered(&server.recorded(), &sent);
    dispatcher.shutdown(Duration::from_secs(5)).await;
}

/// The child side of the crash test below: holds the outbox, enqueues,
/// says so, and waits to be killed. Without the variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_holds_the_outbox_until_killed() {
    let (Ok(dir), Ok(url)) = (std::env::var(CHILD_DIR_VAR), std::env::var(CHILD_URL_VAR)) else {
        return;
    };
    let outbox = FjallOutbox::open(Path::new(&dir)).unwrap();
    let _dispatcher = start(&outbox, &url, 1_000);
    outbox.enqueue(events("crash", 30)).await.unwrap();
    println!("{CHILD_READY}");
    tokio::time::sleep(PATIENCE).await;
    panic!("the child was not killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_kill_of_the_process_holding_the_outbox() {
    let (addr, url) = dead_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holds_the_outbox_until_killed",
            "--nocapture",
        ])
        .env(CHILD_DIR_VAR, dir.path())
        .env(CHILD_URL_VAR, &url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == CHILD_READY)
    });
    let ready = tokio::time::timeout(PATIENCE, ready)
        .await
        .unwrap()
        .unwrap();
    assert!(ready, "the child ended before enqueueing");
    // SIGKILL: no destructor, no flush; only what enqueue synced survives.
    child.kill().unwrap();
    child.wait().unwrap();

    let server = TestServer::start_on(addr, Reply::Status(200)).await;
    let outbox = FjallOutbox::open(dir.path()).unwrap();
    let sent = events("crash", 30);
    assert_eq!(outbox.pending_count().await.unwrap(), sent.len());
    let dispatcher = start(&outbox, &url, 1_000);
    wait_for_empty_outbox(&outbox).await;
    let recorded = server.recorded();
    // The payloads carry no time, so the events rebuilt here equal the
    // child's.
    assert_all_delivered(&recorded, &sent);
    dispatcher.shutdown(Duration::from_secs(5)).await;
}
