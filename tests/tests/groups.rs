//! Groups over real WebSocket connections: membership checked on every send,
//! pull and history read; membership changes as timeline events; hybrid
//! write/read diffusion, including a threshold crossing under concurrent
//! sends; the conversation list with unread counts and read positions synced
//! across a user's devices.

use std::collections::BTreeSet;
use std::time::Duration;

use prost::Message as _;
use tidings_client::{Device, READ_KIND};
use tidings_core::ErrorCode;
use tidings_proto::common::v1::membership_event::Action;
use tidings_proto::common::v1::{MembershipEvent, Message, ReadPosition};
use tidings_testkit::{TestServer, server_code};

const WAIT: Duration = Duration::from_secs(10);

fn texts(messages: &[&Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.kind == "text")
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

fn events(messages: &[&Message]) -> Vec<(i32, Vec<String>)> {
    messages
        .iter()
        .filter(|m| m.kind == "tidings.members")
        .map(|m| {
            let e = MembershipEvent::decode(m.body.as_slice()).unwrap();
            (e.action, e.user_ids)
        })
        .collect()
}

/// Keeps pulling until `device` holds `count` text messages of `conversation`.
async fn wait_for_texts(device: &mut Device, conversation: &str, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        device.pull_all().await.unwrap();
        let got = texts(&device.messages_of(conversation));
        if got.len() >= count || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn strictly_increasing(messages: &[&Message]) -> bool {
    messages.windows(2).all(|w| w[0].conv_seq < w[1].conv_seq)
}

#[tokio::test]
async fn membership_is_checked_and_changes_are_timeline_events() {
    let server = TestServer::start().await;
    let mut alice = server.synced_device("alice", "a1").await;
    let mut bob = server.synced_device("bob", "b1").await;
    let carol = server.synced_device("carol", "c1").await;

    let group = alice
        .connection()
        .create_group("team", "The team", &["bob"])
        .await
        .unwrap();
    assert_eq!(group.conversation_id, "g:team");
    assert_eq!(group.member_count, 2);
    assert!(!group.large);
    assert_eq!(
        server_code(alice.connection().create_group("team", "again", &[]).await),
        ErrorCode::AlreadyExists
    );

    // Carol is not a member: no send, no pull, no history, no member list.
    assert_eq!(
        server_code(carol.send("g:team", "c-1", "text", "hi").await),
        ErrorCode::NotMember
    );
    assert_eq!(
        server_code(carol.connection().pull_conversation("g:team", 0, 10).await),
        ErrorCode::NotMember
    );
    assert_eq!(
        server_code(carol.history("g:team", 0, 10).await),
        ErrorCode::NotMember
    );
    assert_eq!(
        server_code(carol.connection().list_members("team", "", 10).await),
        ErrorCode::NotMember
    );
    assert_eq!(
        server_code(carol.send("g:nope", "c-2", "text", "hi").await),
        ErrorCode::UnknownGroup
    );
    // Only the owner removes others.
    assert_eq!(
        server_code(bob.connection().remove_members("team", &["alice"]).await),
        ErrorCode::Forbidden
    );

    alice.send("g:team", "a-1", "text", "one").await.unwrap();
    bob.connection()
        .add_members("team", &["carol"])
        .await
        .unwrap();
    let mut carol = carol;
    bob.send("g:team", "b-1", "text", "two").await.unwrap();
    alice
        .connection()
        .remove_members("team", &["bob"])
        .await
        .unwrap();
    assert_eq!(
        server_code(bob.send("g:team", "b-2", "text", "gone").await),
        ErrorCode::NotMember
    );
    alice.send("g:team", "a-2", "text", "three").await.unwrap();

    let members = alice
        .connection()
        .list_members("team", "", 10)
        .await
        .unwrap();
    let ids: Vec<&str> = members.members.iter().map(|m| m.user_id.as_str()).collect();
    assert_eq!(ids, ["alice", "carol"]);
    assert_eq!(
        alice.connection().list_groups().await.unwrap().groups.len(),
        1
    );

    // Alice saw everything, events included, in order.
    assert_eq!(
        wait_for_texts(&mut alice, "g:team", 3).await,
        ["one", "two", "three"]
    );
    let seen = alice.messages_of("g:team");
    assert!(strictly_increasing(&seen));
    let created = Action::Created as i32;
    let added = Action::Added as i32;
    let removed = Action::Removed as i32;
    assert_eq!(
        events(&seen),
        vec![
            (created, vec!["alice".to_string(), "bob".to_string()]),
            (added, vec!["carol".to_string()]),
            (removed, vec!["bob".to_string()]),
        ]
    );
    // Bob saw up to his removal, and the removal itself.
    bob.pull_all().await.unwrap();
    let bob_seen = bob.messages_of("g:team");
    assert_eq!(texts(&bob_seen), ["one", "two"]);
    assert_eq!(events(&bob_seen).last().unwrap().0, removed);
    // Carol saw from her joining on.
    assert_eq!(
        wait_for_texts(&mut carol, "g:team", 2).await,
        ["two", "three"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_user_in_a_small_and_a_large_group_gets_both_in_order() {
    let server = TestServer::start_with(|c| c.logic.large_group_threshold = 3).await;
    let owner = server.synced_device("owner", "o1").await;
    owner
        .connection()
        .create_group("small", "small", &["dana"])
        .await
        .unwrap();
    let large = owner
        .connection()
        .create_group("large", "large", &["dana", "u1", "u2", "u3"])
        .await
        .unwrap();
    assert!(large.large, "5 members > threshold 3");

    let mut online = server.synced_device("dana", "online").await;
    for i in 0..5 {
        owner
            .send("g:small", &format!("s{i}"), "text", format!("small {i}"))
            .await
            .unwrap();
        owner
            .send("g:large", &format!("l{i}"), "text", format!("large {i}"))
            .await
            .unwrap();
    }
    // The online device: inbox pushes for the small group, conversation
    // pushes (no inbox entry) for the large one.
    let deadline = tokio::time::Instant::now() + WAIT;
    while (texts(&online.messages_of("g:small")).len() < 5
        || texts(&online.messages_of("g:large")).len() < 5)
        && tokio::time::Instant::now() < deadline
    {
        let _ = online.next_push(Duration::from_millis(500)).await;
    }
    // A device that was offline pulls: inbox for the small group, the large
    // group's store timeline from the head the pull reports.
    let (mut offline, _) = server.device("dana", "offline", 0).await;
    offline.pull_all().await.unwrap();
    for device in [&online, &offline] {
        for (conversation, prefix) in [("g:small", "small"), ("g:large", "large")] {
            let seen = device.messages_of(conversation);
            let expected: Vec<String> = (0..5).map(|i| format!("{prefix} {i}")).collect();
            assert_eq!(
                texts(&seen),
                expected,
                "{conversation} on {}",
                device.device_id()
            );
            assert!(strictly_increasing(&seen));
        }
    }
    // The large group wrote nothing to dana's inbox.
    assert!(
        offline
            .applied()
            .iter()
            .all(|e| e.conversation_id != "g:large"),
        "read diffusion writes no inbox entries"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn crossing_the_threshold_under_concurrent_sends_loses_and_reorders_nothing() {
    let server = TestServer::start_with(|c| c.logic.large_group_threshold = 4).await;
    let admin = server.synced_device("admin", "a").await;
    admin
        .connection()
        .create_group("edge", "edge", &["m1", "m2"])
        .await
        .unwrap();
    let url = server.url();
    let mut senders = tokio::task::JoinSet::new();
    for sender in ["m1", "m2"] {
        let url = url.clone();
        senders.spawn(async move {
            let (device, _) = Device::connect(&url, &format!("dev:{sender}"), "send", 0)
                .await
                .unwrap();
            let mut sent = Vec::new();
            for i in 0..30 {
                let id = format!("{sender}-{i}");
                loop {
                    match device.send("g:edge", &id, "text", id.clone()).await {
                        Ok(_) => break,
                        Err(e) if e.code() == Some(ErrorCode::Retry) => continue,
                        Err(e) => panic!("send {id}: {e:?}"),
                    }
                }
                sent.push(id);
            }
            sent
        });
    }
    // Meanwhile the group grows past the threshold and shrinks back, twice.
    for _ in 0..2 {
        admin
            .connection()
            .add_members("edge", &["x1", "x2", "x3"])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        admin
            .connection()
            .remove_members("edge", &["x1", "x2", "x3"])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut sent = BTreeSet::new();
    while let Some(result) = senders.join_next().await {
        sent.extend(result.unwrap());
    }
    assert_eq!(sent.len(), 60);

    // Every member that stayed throughout has every message, each
    // conversation in conv seq order.
    for member in ["admin", "m1", "m2"] {
        let mut device = server.synced_device(member, "check").await;
        let got = wait_for_texts(&mut device, "g:edge", 60).await;
        let got_set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got_set, sent, "{member} is missing messages");
        assert_eq!(got.len(), 60, "{member} applied a message twice");
        assert!(
            strictly_increasing(&device.messages_of("g:edge")),
            "{member}: out of order"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn conversation_list_shows_unread_and_read_positions_sync_across_devices() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let mut phone = server.synced_device("bob", "phone").await;
    let mut laptop = server.synced_device("bob", "laptop").await;
    let dm = tidings_testkit::dm("alice", "bob");
    alice
        .connection()
        .create_group("club", "club", &["bob"])
        .await
        .unwrap();
    for i in 0..3 {
        alice
            .send(&dm, &format!("d{i}"), "text", format!("dm {i}"))
            .await
            .unwrap();
    }
    alice.send("g:club", "c0", "text", "club 0").await.unwrap();

    phone.pull_all().await.unwrap();
    let list = phone.connection().conversation_list(2).await.unwrap();
    let ids: Vec<&str> = list
        .conversations
        .iter()
        .map(|c| c.conversation_id.as_str())
        .collect();
    assert_eq!(ids, ["g:club", dm.as_str()], "most recent first");
    let dm_summary = &list.conversations[1];
    assert_eq!(dm_summary.unread, 3);
    assert_eq!(dm_summary.latest.len(), 2);
    assert_eq!(dm_summary.latest[0].body, b"dm 2");

    // Reading on the phone moves the position for every device.
    let last = dm_summary.last_conv_seq;
    phone.connection().read_ack(&dm, last - 1).await.unwrap();
    let list = laptop.connection().conversation_list(0).await.unwrap();
    let dm_summary = list
        .conversations
        .iter()
        .find(|c| c.conversation_id == dm)
        .unwrap();
    assert_eq!(dm_summary.read_seq, last - 1);
    assert_eq!(dm_summary.unread, 1);
    // The laptop learns it through its inbox.
    laptop.pull_all().await.unwrap();
    let read = laptop
        .applied()
        .iter()
        .filter_map(|e| e.message.as_ref())
        .filter(|m| m.kind == READ_KIND)
        .map(|m| ReadPosition::decode(m.body.as_slice()).unwrap())
        .next_back()
        .expect("a read position entry");
    assert_eq!(
        (read.conversation_id.as_str(), read.read_seq),
        (dm.as_str(), last - 1)
    );
    // Read positions never move back.
    phone.connection().read_ack(&dm, 1).await.unwrap();
    let list = phone.connection().conversation_list(0).await.unwrap();
    let dm_summary = list
        .conversations
        .iter()
        .find(|c| c.conversation_id == dm)
        .unwrap();
    assert_eq!(dm_summary.read_seq, last - 1);
    // Bad input changes nothing.
    assert_eq!(
        server_code(phone.connection().read_ack("g:nope", 1).await),
        ErrorCode::UnknownGroup
    );
    assert_eq!(
        server_code(phone.connection().read_ack("dm:carol:dave", 1).await),
        ErrorCode::NotMember
    );
    server.shutdown().await;
}
