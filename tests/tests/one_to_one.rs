//! 1:1 chat across devices, over real WebSocket connections to the all-in-one.

use std::time::Duration;

use tidings_client::proto::server_frame::Frame;
use tidings_client::{Device, PushOutcome};
use tidings_proto::sync::v1::{DeviceCheckpointsRequest, PullRequest};
use tidings_testkit::{TestServer, dm};

const WAIT: Duration = Duration::from_secs(10);

fn body(entry: &tidings_client::InboxEntry) -> String {
    String::from_utf8_lossy(&entry.message.as_ref().unwrap().body).into_owned()
}

/// Waits until `device` has applied `count` more entries, from pushes (and
/// the pulls a gap triggers).
async fn receive(device: &mut Device, count: usize) -> Vec<tidings_client::InboxEntry> {
    let mut got = Vec::new();
    while got.len() < count {
        got.extend(device.next_push(WAIT).await.expect("push arrives"));
    }
    got
}

#[tokio::test]
async fn send_ack_follows_store_and_inbox_and_push_applies_without_pull() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let mut bob = server.synced_device("bob", "b1").await;
    let conversation = dm("alice", "bob");

    let ack = alice
        .send(&conversation, "c-1", "text", "hello bob")
        .await
        .unwrap();
    assert!(!ack.duplicate);
    assert_eq!(ack.conversation_id, conversation);

    // By the time the ack arrived, the message was in the store timeline ...
    let stored = server.stored_messages(&conversation).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].conv_seq, ack.conv_seq);
    assert_eq!(stored[0].message_id, ack.message_id);
    assert_eq!(stored[0].sender_id, "alice");
    // ... and in bob's inbox, committed (visible below the head).
    let pulled = server
        .sync_client()
        .pull(PullRequest {
            user_id: "bob".into(),
            after: bob.checkpoint(),
            limit: 10,
            max_bytes: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pulled.entries.len(), 1);
    assert_eq!(pulled.head, pulled.entries[0].seq);
    let inbox_message = pulled.entries[0].message.as_ref().unwrap();
    assert_eq!(inbox_message.message_id, ack.message_id);

    // Bob's online device gets the push with seq == checkpoint + 1 and applies
    // it directly.
    let frame = bob.connection().next_push(WAIT).await.unwrap();
    let Some(Frame::Push(push)) = frame.frame else {
        panic!("expected a push, got {frame:?}");
    };
    let entry = push.entry.unwrap();
    assert_eq!(entry.seq, bob.checkpoint() + 1);
    assert_eq!(entry.conv_seq, ack.conv_seq);
    let checkpoint_before = bob.checkpoint();
    match bob.handle_push(entry) {
        PushOutcome::Applied(applied) => {
            assert_eq!(applied.len(), 1);
            assert_eq!(body(&applied[0]), "hello bob");
        }
        other => panic!("push should apply without a pull, got {other:?}"),
    }
    assert_eq!(bob.checkpoint(), checkpoint_before + 1);
    server.shutdown().await;
}

#[tokio::test]
async fn every_device_syncs_independently_including_the_senders_other_device() {
    let server = TestServer::start().await;
    let a1 = server.synced_device("alice", "a1").await;
    let mut a2 = server.synced_device("alice", "a2").await;
    let mut b1 = server.synced_device("bob", "b1").await;
    let conversation = dm("alice", "bob");

    for i in 1..=2 {
        a1.send(&conversation, &format!("m{i}"), "text", format!("msg {i}"))
            .await
            .unwrap();
    }
    let b1_got = receive(&mut b1, 2).await;
    assert_eq!(
        b1_got.iter().map(body).collect::<Vec<_>>(),
        ["msg 1", "msg 2"]
    );
    b1.ack().await.unwrap();
    let b1_checkpoint = b1.checkpoint();

    a1.send(&conversation, "m3", "text", "msg 3").await.unwrap();

    // B2 connects later from checkpoint 0 and pulls everything, in order.
    let (mut b2, _) = server.device("bob", "b2", 0).await;
    let outcome = b2.pull_all().await.unwrap();
    let bodies: Vec<String> = outcome.applied.iter().map(body).collect();
    assert_eq!(bodies, ["msg 1", "msg 2", "msg 3"]);
    let seqs: Vec<u64> = outcome.applied.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "inbox seqs increase: {seqs:?}"
    );
    assert!(!outcome.truncated);

    // Checkpoints are per device: b1 acked after two messages, b2 after three.
    let b1_third = receive(&mut b1, 1).await;
    assert_eq!(body(&b1_third[0]), "msg 3");
    assert!(b2.checkpoint() > b1_checkpoint);
    let recorded = server
        .sync_client()
        .device_checkpoints(DeviceCheckpointsRequest {
            user_id: "bob".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .devices;
    let of = |device: &str| {
        recorded
            .iter()
            .find(|d| d.device_id == device)
            .map(|d| d.checkpoint)
    };
    assert_eq!(of("b1"), Some(b1_checkpoint));
    assert_eq!(of("b2"), Some(b2.checkpoint()));

    // Alice's other device received what alice sent, in order.
    let a2_got = receive(&mut a2, 3).await;
    assert_eq!(
        a2_got.iter().map(body).collect::<Vec<_>>(),
        ["msg 1", "msg 2", "msg 3"]
    );
    assert!(
        a2_got
            .iter()
            .all(|e| e.message.as_ref().unwrap().sender_id == "alice")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn reconnecting_device_pulls_exactly_what_it_missed() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let mut bob = server.synced_device("bob", "b1").await;
    let conversation = dm("alice", "bob");
    alice
        .send(&conversation, "before", "text", "seen")
        .await
        .unwrap();
    receive(&mut bob, 1).await;

    bob.close().await.unwrap();
    let mut acks = Vec::new();
    for i in 1..=3 {
        acks.push(
            alice
                .send(
                    &conversation,
                    &format!("offline-{i}"),
                    "text",
                    format!("missed {i}"),
                )
                .await
                .unwrap(),
        );
    }
    bob.reconnect().await.unwrap();
    let outcome = bob.pull_all().await.unwrap();
    let got: Vec<String> = outcome
        .applied
        .iter()
        .map(|e| e.message.as_ref().unwrap().message_id.clone())
        .collect();
    let sent: Vec<String> = acks.iter().map(|a| a.message_id.clone()).collect();
    assert_eq!(got, sent, "exactly the three missed messages, in order");
    assert_eq!(bob.applied().len(), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn fresh_device_roams_history_newest_first_down_to_the_first_message() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let conversation = dm("alice", "bob");
    for i in 1..=7 {
        alice
            .send(
                &conversation,
                &format!("h{i}"),
                "text",
                format!("history {i}"),
            )
            .await
            .unwrap();
    }
    let (fresh, _) = server.device("bob", "new-phone", 0).await;
    let mut before = 0;
    let mut pages = Vec::new();
    loop {
        let page = fresh.history(&conversation, before, 3).await.unwrap();
        let bodies: Vec<String> = page
            .messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect();
        pages.push(bodies);
        if !page.has_more {
            break;
        }
        before = page.messages.last().unwrap().conv_seq;
    }
    assert_eq!(
        pages,
        vec![
            vec!["history 7", "history 6", "history 5"],
            vec!["history 4", "history 3", "history 2"],
            vec!["history 1"],
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn resending_a_client_msg_id_stores_once_even_across_reconnects() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.device("alice", "a1", 0).await;
    let conversation = dm("alice", "bob");
    let first = alice
        .send(&conversation, "same-id", "text", "once")
        .await
        .unwrap();
    let second = alice
        .send(&conversation, "same-id", "text", "once")
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    alice.reconnect().await.unwrap();
    let third = alice
        .send(&conversation, "same-id", "text", "once")
        .await
        .unwrap();
    for ack in [&second, &third] {
        assert_eq!(ack.conv_seq, first.conv_seq);
        assert_eq!(ack.message_id, first.message_id);
    }
    assert_eq!(server.stored_messages(&conversation).await.len(), 1);
    let bob = server.synced_device("bob", "b1").await;
    assert_eq!(bob.applied().len(), 1, "one inbox entry for bob");
    server.shutdown().await;
}

/// The all-in-one's services reach each other three ways
/// (`all_in_one.calls`); each runs the same handlers, so each must give the
/// same chat: a message acked, pushed, in History, and its retry a duplicate.
#[tokio::test]
async fn every_call_mode_of_the_all_in_one_serves_the_same_chat() {
    use tidings::config::CallMode;
    for mode in [
        CallMode::Direct,
        CallMode::InProcessGrpc,
        CallMode::Loopback,
    ] {
        let server = TestServer::start_with(|config| config.all_in_one.calls = mode).await;
        let alice = server.synced_device("alice", "a1").await;
        let mut bob = server.synced_device("bob", "b1").await;
        let conversation = dm("alice", "bob");
        let ack = alice
            .send(&conversation, "m-1", "text", "over every path")
            .await
            .unwrap();
        assert!(!ack.duplicate, "{mode:?}");
        let got = receive(&mut bob, 1).await;
        assert_eq!(body(&got[0]), "over every path", "{mode:?}");
        let again = alice
            .send(&conversation, "m-1", "text", "over every path")
            .await
            .unwrap();
        assert!(again.duplicate, "{mode:?}: the retry is recognised");
        assert_eq!(again.message_id, ack.message_id, "{mode:?}");
        let page = bob.history(&conversation, 0, 10).await.unwrap();
        assert_eq!(page.messages.len(), 1, "{mode:?}: one message in History");
        // Bad input is refused the same way on every path.
        let refused = alice
            .send(&conversation, "", "text", "no client_msg_id")
            .await
            .unwrap_err();
        assert!(refused.code().is_some(), "{mode:?}: {refused}");
    }
}
