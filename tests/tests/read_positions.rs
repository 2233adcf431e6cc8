//! Read positions and unread counts over real WebSocket connections: a
//! `ReadAck` only moves forward and never past the conversation's head, its
//! answer is the recorded position, every move reaches the user's other
//! devices under its own message id, a user's own messages are never unread,
//! and unread counts count messages, so the seq gaps that restarts leave
//! change nothing.

use prost::Message as _;
use tidings_client::proto::ConversationSummary;
use tidings_client::{Device, READ_KIND, dev_token};
use tidings_proto::common::v1::ReadPosition;
use tidings_testkit::{ProcessServer, TestServer, dm};

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The summary of `conversation` in `device`'s conversation list.
async fn summary(device: &Device, conversation: &str) -> ConversationSummary {
    device
        .connection()
        .conversation_list(0)
        .await
        .unwrap()
        .conversations
        .into_iter()
        .find(|c| c.conversation_id == conversation)
        .unwrap_or_else(|| panic!("{conversation} is not listed"))
}

/// `(message id, position)` of every read entry `device` has applied, in
/// the order applied.
fn read_entries(device: &Device) -> Vec<(String, ReadPosition)> {
    device
        .applied()
        .iter()
        .filter_map(|e| e.message.as_ref())
        .filter(|m| m.kind == READ_KIND)
        .map(|m| {
            let position = ReadPosition::decode(m.body.as_slice()).unwrap();
            (m.message_id.clone(), position)
        })
        .collect()
}

/// Sends `count` texts from `device` to `conversation`; returns their conv
/// seqs.
async fn send(device: &Device, conversation: &str, tag: &str, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for i in 0..count {
        let ack = device
            .send(
                conversation,
                &format!("{tag}-{i}"),
                "text",
                format!("{tag} {i}"),
            )
            .await
            .unwrap();
        seqs.push(ack.conv_seq);
    }
    seqs
}

#[tokio::test]
async fn a_backward_read_ack_keeps_and_answers_the_higher_position() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let phone = server.synced_device("bob", "phone").await;
    let mut laptop = server.synced_device("bob", "laptop").await;
    let conv = dm("alice", "bob");
    let seqs = send(&alice, &conv, "m", 5).await;

    let ack = phone.connection().read_ack(&conv, seqs[3]).await.unwrap();
    assert_eq!(ack.read_seq, seqs[3]);
    let ack = phone.connection().read_ack(&conv, seqs[1]).await.unwrap();
    assert_eq!(ack.read_seq, seqs[3], "the answer is the recorded position");
    let ack = laptop.connection().read_ack(&conv, seqs[3]).await.unwrap();
    assert_eq!(ack.read_seq, seqs[3], "a repeated ack moves nothing");

    let listed = summary(&laptop, &conv).await;
    assert_eq!(listed.read_seq, seqs[3]);
    assert_eq!(listed.unread, 1);
    // Only the one move was announced: the backward and the repeated ack
    // wrote no entry.
    laptop.pull_all().await.unwrap();
    let entries = read_entries(&laptop);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].1.read_seq, seqs[3]);
    assert_eq!(laptop.read_position(&conv), seqs[3]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_read_ack_above_the_head_records_the_head() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let bob = server.synced_device("bob", "b1").await;
    let conv = dm("alice", "bob");
    let seqs = send(&alice, &conv, "m", 3).await;
    let last = *seqs.last().unwrap();

    let ack = bob
        .connection()
        .read_ack(&conv, last + 1_000_000)
        .await
        .unwrap();
    assert_eq!(ack.read_seq, last);
    let listed = summary(&bob, &conv).await;
    assert_eq!((listed.read_seq, listed.unread), (last, 0));

    // The next messages are unread: the position did not run ahead of them.
    let more = send(&alice, &conv, "n", 2).await;
    let listed = summary(&bob, &conv).await;
    assert_eq!(listed.read_seq, last);
    assert_eq!(listed.unread, 2);
    let ack = bob.connection().read_ack(&conv, u64::MAX).await.unwrap();
    assert_eq!(ack.read_seq, more[1]);

    // Nothing sent yet: the head is 0, and so is the position.
    let empty = dm("bob", "carol");
    let ack = bob.connection().read_ack(&empty, 50).await.unwrap();
    assert_eq!(ack.read_seq, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_users_own_messages_are_never_unread_for_it() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let bob = server.synced_device("bob", "b1").await;
    let carol = server.synced_device("carol", "c1").await;
    let conv = dm("alice", "bob");

    send(&alice, &conv, "a", 3).await;
    assert_eq!(summary(&alice, &conv).await.unread, 0);
    assert_eq!(summary(&bob, &conv).await.unread, 3);
    send(&bob, &conv, "b", 2).await;
    send(&alice, &conv, "c", 1).await;
    assert_eq!(summary(&alice, &conv).await.unread, 2);
    assert_eq!(summary(&bob, &conv).await.unread, 4);

    // In a group, each member counts everyone's messages but its own.
    alice
        .connection()
        .create_group("club", "club", &["bob", "carol"])
        .await
        .unwrap();
    let group = "g:club";
    send(&alice, group, "g-a", 2).await;
    send(&carol, group, "g-c", 3).await;
    // The creation event is a message from alice.
    assert_eq!(summary(&alice, group).await.unread, 3);
    assert_eq!(summary(&carol, group).await.unread, 3);
    assert_eq!(summary(&bob, group).await.unread, 6);
    server.shutdown().await;
}

#[tokio::test]
async fn every_move_reaches_the_other_device_under_its_own_id() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let phone = server.synced_device("bob", "phone").await;
    let mut laptop = server.synced_device("bob", "laptop").await;
    let conv = dm("alice", "bob");
    let seqs = send(&alice, &conv, "m", 4).await;
    laptop.pull_all().await.unwrap();

    phone.connection().read_ack(&conv, seqs[1]).await.unwrap();
    // Online, the laptop gets the move pushed and applies it.
    while read_entries(&laptop).is_empty() {
        laptop.next_push(WAIT).await.unwrap();
    }
    assert_eq!(laptop.read_position(&conv), seqs[1]);

    phone.connection().read_ack(&conv, seqs[3]).await.unwrap();
    laptop.pull_all().await.unwrap();
    let entries = read_entries(&laptop);
    let positions: Vec<u64> = entries.iter().map(|(_, p)| p.read_seq).collect();
    assert_eq!(positions, [seqs[1], seqs[3]], "both moves applied");
    assert_ne!(entries[0].0, entries[1].0, "each move has its own id");
    assert_eq!(laptop.read_position(&conv), seqs[3]);

    // A device that joins later applies both moves too.
    let tablet = server.synced_device("bob", "tablet").await;
    let ids: Vec<String> = read_entries(&tablet)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [entries[0].0.clone(), entries[1].0.clone()]);
    assert_eq!(tablet.read_position(&conv), seqs[3]);
    assert_eq!(summary(&tablet, &conv).await.unread, 0);
    server.shutdown().await;
}

/// Restarts skip conv seqs by a whole allocation step; unread counts must
/// not notice.
#[tokio::test]
async fn unread_counts_stay_exact_across_restarts() {
    const ENV: &[(&str, &str)] = &[("TIDINGS__SEQUENCE__COMMIT_DEADLINE_MS", "500")];
    let dir = tempfile::tempdir().unwrap();
    let conv = dm("alice", "bob");
    let connect = |server: &ProcessServer, user: &str| {
        let url = server.ws_url.clone();
        let token = dev_token(user);
        let device = format!("{user}-1");
        async move { Device::connect(&url, &token, &device, 0).await.unwrap().0 }
    };

    let server = ProcessServer::start(dir.path(), ENV).unwrap();
    let alice = connect(&server, "alice").await;
    let before = send(&alice, &conv, "first", 3).await;
    drop(alice);
    assert!(server.terminate().unwrap().success(), "clean shutdown");

    let server = ProcessServer::start(dir.path(), ENV).unwrap();
    let alice = connect(&server, "alice").await;
    let bob = connect(&server, "bob").await;
    let after = send(&alice, &conv, "second", 4).await;
    assert!(
        after[0] > before[2] + 1,
        "the restart left a gap in conv seqs: {before:?} then {after:?}"
    );
    let listed = summary(&bob, &conv).await;
    assert_eq!(listed.last_conv_seq, after[3]);
    assert_eq!(listed.unread, 7);
    assert_eq!(summary(&alice, &conv).await.unread, 0);
    // Reading across the gap leaves exactly the later messages unread.
    bob.connection().read_ack(&conv, before[1]).await.unwrap();
    assert_eq!(summary(&bob, &conv).await.unread, 5);
    drop((alice, bob));
    server.kill();

    let server = ProcessServer::start(dir.path(), ENV).unwrap();
    let alice = connect(&server, "alice").await;
    let bob = connect(&server, "bob").await;
    send(&alice, &conv, "third", 2).await;
    let listed = summary(&bob, &conv).await;
    assert_eq!((listed.read_seq, listed.unread), (before[1], 7));
    assert!(server.terminate().unwrap().success(), "clean shutdown");
}
