//! The registry lost (Redis flushed, or restarted empty): gateways notice
//! within `gateway.registry_check_ms` and register their connections again,
//! so pushes reach online devices within a couple of seconds instead of at
//! the next heartbeat (a third of the 60 s ttl). The distributed shape, on a
//! Redis of the test's own.

use std::time::{Duration, Instant};

use tidings_client::Device;
use tidings_testkit::{Cluster, RedisServer, dm, synced_device};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long after the loss a push must reach an online device again.
const RECOVERY: Duration = Duration::from_secs(3);

/// Sends a message every 200 ms until `bob` gets a push of one of them;
/// returns how long that took from `since`.
async fn first_push_after(
    alice: &Device,
    bob: &mut Device,
    label: &str,
    since: Instant,
) -> Duration {
    let conversation = dm("alice", "bob");
    for i in 0.. {
        if since.elapsed() > Duration::from_secs(30) {
            break;
        }
        let id = format!("{label}-{i}");
        // While Redis is away logic may not find bob at all; sends still
        // succeed, pushes do not, and that is what is measured.
        let _ = alice.send(&conversation, &id, "text", id.clone()).await;
        // Only this phase's messages count: a late push of an earlier one
        // says nothing about the registry now.
        if let Ok(entries) = bob.next_push(Duration::from_millis(200)).await
            && entries.iter().any(|entry| {
                let message = entry.message.as_ref();
                message.is_some_and(|m| m.client_msg_id.starts_with(label))
            })
        {
            return since.elapsed();
        }
    }
    panic!("{label}: no push reached bob within 30 s");
}

/// `FLUSHALL` on the Redis at `port`.
async fn flush_all(port: &str) {
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    stream.write_all(b"FLUSHALL\r\n").await.unwrap();
    let mut answer = [0u8; 5];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"+OK\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_resume_at_once_after_the_registry_is_lost() {
    let mut redis = RedisServer::start().unwrap();
    let url = redis.url();
    let port = url.rsplit(':').next().unwrap().to_string();
    let cluster = Cluster::start_on("registry_loss", &url, &[]).unwrap();
    let gw1 = cluster.gateway().unwrap();
    let gw2 = cluster.gateway().unwrap();
    let alice = synced_device(&gw1.ws_url(), "alice", "a1").await;
    let mut bob = synced_device(&gw2.ws_url(), "bob", "b1").await;
    let before = first_push_after(&alice, &mut bob, "before", Instant::now()).await;
    println!(
        "push across gateways before any loss: {} ms",
        before.as_millis()
    );

    // Flushed under the running services: no connection notices anything.
    let flushed = Instant::now();
    flush_all(&port).await;
    let after_flush = first_push_after(&alice, &mut bob, "flushed", flushed).await;
    println!(
        "registry flushed: first push reached bob {} ms later",
        after_flush.as_millis()
    );
    assert!(after_flush < RECOVERY, "{after_flush:?} after the flush");

    // Killed and restarted empty: every service reconnects.
    redis.restart_empty().unwrap();
    let restarted = Instant::now();
    let after_restart = first_push_after(&alice, &mut bob, "restarted", restarted).await;
    println!(
        "redis restarted empty: first push reached bob {} ms after it answered again",
        after_restart.as_millis()
    );
    assert!(
        after_restart < RECOVERY,
        "{after_restart:?} after the restart"
    );
}
