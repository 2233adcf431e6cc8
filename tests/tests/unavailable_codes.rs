//! Outages between services reach the client as `unavailable` (retry with
//! the same `client_msg_id`), never `internal` (a bug, which a client
//! following the docs gives up on), on the distributed shape: a store that
//! stops answering fails a send at the call deadline, a store killed while a
//! send waits on it fails that send, and a store that is gone refuses at
//! once. Once it is back, the same `client_msg_id`s are acknowledged and
//! stored exactly once.

use std::time::{Duration, Instant};

use tidings_client::{Device, dev_token, proto::SendAck};
use tidings_core::ErrorCode;
use tidings_testkit::{Cluster, Service, dm, server_code, stored_messages, synced_device};

/// How long a client following the docs keeps retrying `unavailable`.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Sends until acknowledged, retrying what the docs say to retry; any other
/// answer fails the test.
async fn send_until_acked(device: &Device, conversation: &str, key: &str) -> SendAck {
    let started = Instant::now();
    loop {
        match device.send(conversation, key, "text", key).await {
            Ok(ack) => return ack,
            Err(e) if started.elapsed() < RETRY_FOR => match e.code() {
                Some(ErrorCode::Unavailable | ErrorCode::Retry) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                _ => panic!("{key}: only unavailable or retry may precede the ack, got {e:?}"),
            },
            Err(e) => panic!("{key}: not acknowledged within {RETRY_FOR:?}: {e:?}"),
        }
    }
}

#[tokio::test]
async fn outages_between_services_are_unavailable_and_retries_store_once() {
    let mut cluster = Cluster::start(
        "unavailable_codes",
        &[
            // A short deadline, so a stuck store fails a send well before the
            // client's own 10 s request timeout.
            ("TIDINGS__GRPC__CALL_TIMEOUT_MS", "2000"),
            ("TIDINGS__SEQUENCE__COMMIT_DEADLINE_MS", "1000"),
        ],
    )
    .unwrap();
    let gateway = cluster.gateway().unwrap();
    let conversation = dm("alice", "bob");
    let alice = synced_device(&gateway.ws_url(), "alice", "a1").await;
    alice
        .send(&conversation, "before", "text", "before")
        .await
        .expect("a send while every service is up");

    // A hung store: its sockets stay open, nothing answers.
    cluster.store.pause().unwrap();
    let started = Instant::now();
    let stuck = alice.send(&conversation, "stuck", "text", "stuck").await;
    assert_eq!(
        server_code(stuck),
        ErrorCode::Unavailable,
        "a send waiting on a hung store fails as unavailable"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the call deadline ended the send, after {:?}",
        started.elapsed()
    );

    // The store killed while a send waits on it: the connection logic holds
    // to it breaks mid-request.
    let (killed, ()) = tokio::join!(
        alice.send(&conversation, "killed", "text", "killed"),
        async {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            cluster.kill(Service::Store);
        }
    );
    assert_eq!(
        server_code(killed),
        ErrorCode::Unavailable,
        "a send whose store was killed mid-request fails as unavailable"
    );

    // No store at all: the connection is refused.
    let refused = alice.send(&conversation, "killed", "text", "killed").await;
    assert_eq!(server_code(refused), ErrorCode::Unavailable);

    cluster.restart(Service::Store).unwrap();
    let stuck = send_until_acked(&alice, &conversation, "stuck").await;
    let killed = send_until_acked(&alice, &conversation, "killed").await;
    for (key, ack) in [("stuck", &stuck), ("killed", &killed)] {
        let again = alice
            .send(&conversation, key, "text", key)
            .await
            .expect("a resend of an acknowledged message");
        assert!(
            again.duplicate,
            "{key}: a resend answers with the original ack"
        );
        assert_eq!(again.message_id, ack.message_id);
    }

    let history = stored_messages(&cluster.store.addr("store"), &conversation).await;
    let mut stored: Vec<&str> = history.iter().map(|m| m.client_msg_id.as_str()).collect();
    stored.sort_unstable();
    assert_eq!(
        stored,
        ["before", "killed", "stuck"],
        "History holds each message once"
    );
    let (mut bob, _) = Device::connect(&gateway.ws_url(), &dev_token("bob"), "b1", 0)
        .await
        .expect("bob connects");
    let inbox = bob.pull_all().await.expect("bob pulls").applied;
    let mut delivered: Vec<&str> = inbox
        .iter()
        .map(|e| e.message.as_ref().unwrap().client_msg_id.as_str())
        .collect();
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        ["before", "killed", "stuck"],
        "bob's inbox holds each message once"
    );
}
