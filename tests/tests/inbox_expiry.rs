//! Inbox entries expire after the TTL; a device offline for longer is told
//! `truncated` and recovers every message through roaming.

use std::time::Duration;

use tidings_testkit::{TestServer, dm, send_texts};

#[tokio::test]
async fn a_device_offline_past_the_ttl_is_told_truncated_and_recovers_by_history() {
    let server = TestServer::start_with(|c| c.sync.inbox_ttl_secs = 1).await;
    let conversation = dm("alice", "bob");
    let alice = server.synced_device("alice", "a1").await;
    let mut bob = server.synced_device("bob", "b1").await;
    let checkpoint = bob.checkpoint();
    bob.close().await.unwrap();

    let sent = send_texts(&alice, &conversation, "old", 3).await;
    // Longer than the TTL (and its bookkeeping window).
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    bob.reconnect().await.unwrap();
    let outcome = bob.pull_all().await.unwrap();
    assert!(
        outcome.truncated,
        "entries after checkpoint {checkpoint} expired"
    );
    assert!(
        outcome.applied.is_empty(),
        "expired entries are not returned"
    );

    // Roaming recovers every message.
    let page = bob.history(&conversation, 0, 50).await.unwrap();
    let mut recovered: Vec<String> = page.messages.iter().map(|m| m.message_id.clone()).collect();
    recovered.reverse();
    assert_eq!(recovered, sent);

    // Having moved past the expired range, the device syncs normally again.
    let ack = alice
        .send(&conversation, "new", "text", "new")
        .await
        .unwrap();
    let outcome = bob.pull_all().await.unwrap();
    assert!(!outcome.truncated);
    let got: Vec<String> = outcome
        .applied
        .iter()
        .map(|e| e.message.as_ref().unwrap().message_id.clone())
        .collect();
    assert_eq!(got, [ack.message_id]);
    server.shutdown().await;
}
