//! Edits, recalls, deletes and reactions over real WebSocket connections to
//! an all-in-one: every event is a timeline message naming its target, so a
//! recipient's online device (pushes), its device that pulls later, and
//! History all show the same state of every message; the rules (sender and
//! edit window, owner deletes, reaction limits) refuse with stable codes and
//! store nothing; a retried edit is stored once.

use std::time::Duration;

use tidings_client::proto::SendAck;
use tidings_client::{Device, EDIT_KIND};
use tidings_core::ErrorCode;
use tidings_core::events::is_event_kind;
use tidings_proto::common::v1::{Message, MessageRef, MessageState, ReactionCount};
use tidings_testkit::{TestServer, dm, server_code};

const WAIT: Duration = Duration::from_secs(10);

/// The message `ack` answered, as the sender's own copy would name it.
fn sent(ack: &SendAck) -> MessageRef {
    MessageRef {
        message_id: ack.message_id.clone(),
        conv_seq: ack.conv_seq,
    }
}

/// `(message id, body, state)` of each non-event message, oldest first.
type View = Vec<(String, Vec<u8>, Option<MessageState>)>;

fn view(messages: impl IntoIterator<Item = Message>) -> View {
    let mut view: Vec<(u64, String, Vec<u8>, Option<MessageState>)> = messages
        .into_iter()
        .filter(|m| !is_event_kind(&m.kind))
        .map(|m| (m.conv_seq, m.message_id, m.body, m.state))
        .collect();
    view.sort_by_key(|(seq, ..)| *seq);
    view.into_iter().map(|(_, id, b, s)| (id, b, s)).collect()
}

/// Every page of History of `conversation`, as `device`'s user reads it.
async fn history(device: &Device, conversation: &str) -> Vec<Message> {
    let mut all = Vec::new();
    let mut before = 0;
    loop {
        let page = device.history(conversation, before, 3).await.unwrap();
        before = page.messages.last().map_or(0, |m| m.conv_seq);
        all.extend(page.messages);
        if !page.has_more {
            return all;
        }
    }
}

/// Waits for pushes until `device` has applied `count` messages of
/// `conversation`.
async fn await_messages(device: &mut Device, conversation: &str, count: usize) {
    while device.messages_of(conversation).len() < count {
        device.next_push(WAIT).await.expect("a push");
    }
}

fn reaction(emoji: &str, count: u64, reacted_by_me: bool) -> ReactionCount {
    ReactionCount {
        emoji: emoji.into(),
        count,
        reacted_by_me,
    }
}

#[tokio::test]
async fn both_devices_and_history_show_the_same_state() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let mut phone = server.synced_device("bob", "phone").await;
    let conv = dm("alice", "bob");

    let typo = alice.send(&conv, "c1", "text", "helo").await.unwrap();
    let oops = alice.send(&conv, "c2", "text", "oops").await.unwrap();
    let gone = alice.send(&conv, "c3", "text", "bye").await.unwrap();
    let kept = alice.send(&conv, "c4", "text", "plain").await.unwrap();
    let link = alice.connection();
    link.edit_message(&conv, "e1", sent(&typo), b"hello".to_vec())
        .await
        .unwrap();
    link.react(&conv, "r1", sent(&typo), "👍", false)
        .await
        .unwrap();
    phone
        .connection()
        .react(&conv, "r2", sent(&typo), "👍", false)
        .await
        .unwrap();
    phone
        .connection()
        .react(&conv, "r3", sent(&typo), "🎉", false)
        .await
        .unwrap();
    phone
        .connection()
        .react(&conv, "r4", sent(&typo), "🎉", true)
        .await
        .unwrap();
    link.recall_message(&conv, "x1", sent(&oops)).await.unwrap();
    link.delete_message(&conv, "d1", sent(&gone)).await.unwrap();
    // Four messages and seven events, every one pushed to the online phone.
    await_messages(&mut phone, &conv, 11).await;

    let mut laptop = server.synced_device("bob", "laptop").await;
    let online = view(phone.current_messages_of(&conv));
    let later = view(laptop.current_messages_of(&conv));
    let roamed = view(history(&laptop, &conv).await);
    assert_eq!(
        online, later,
        "the online device and the one that pulled later"
    );
    assert_eq!(online, roamed, "devices and History");

    assert_eq!(online.len(), 4);
    let (id, body, state) = &online[0];
    assert_eq!((id, body.as_slice()), (&typo.message_id, &b"hello"[..]));
    let state = state.as_ref().expect("edited and reacted");
    assert!(state.edited && state.edited_at_ms >= typo.created_at_ms);
    assert_eq!(state.reactions, [reaction("👍", 2, true)]);
    let (_, body, state) = &online[1];
    let state = state.as_ref().unwrap();
    assert!(state.recalled && !state.deleted && body.is_empty());
    assert_eq!(state.removed_by, "alice");
    let (_, body, state) = &online[2];
    assert!(state.as_ref().unwrap().deleted && body.is_empty());
    assert_eq!(
        online[3],
        (kept.message_id.clone(), b"plain".to_vec(), None)
    );

    // Whether the reader reacted is the reader's own: alice did on 👍 only.
    let alice_view = view(history(&alice, &conv).await);
    let state = alice_view[0].2.as_ref().unwrap();
    assert_eq!(state.reactions, [reaction("👍", 2, true)]);
    laptop.pull_all().await.unwrap();
}

#[tokio::test]
async fn edits_and_recalls_after_the_window_are_refused() {
    let server = TestServer::start_with(|config| config.logic.edit_window_secs = 1).await;
    let alice = server.synced_device("alice", "a1").await;
    let conv = dm("alice", "bob");
    let old = alice.send(&conv, "c1", "text", "old").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh = alice.send(&conv, "c2", "text", "new").await.unwrap();
    let link = alice.connection();

    let recall = link.recall_message(&conv, "x1", sent(&old)).await;
    assert_eq!(server_code(recall), ErrorCode::EditWindowPassed);
    let edit = link
        .edit_message(&conv, "e1", sent(&old), b"x".to_vec())
        .await;
    assert_eq!(server_code(edit), ErrorCode::EditWindowPassed);
    // Deleting one's own message in a 1:1 has no window.
    link.delete_message(&conv, "d1", sent(&old)).await.unwrap();
    link.recall_message(&conv, "x2", sent(&fresh))
        .await
        .unwrap();
    let kinds: Vec<String> = server
        .stored_messages(&conv)
        .await
        .into_iter()
        .map(|m| m.kind)
        .collect();
    assert_eq!(kinds, ["text", "text", "tidings.delete", "tidings.recall"]);
}

#[tokio::test]
async fn only_a_groups_owner_deletes_and_only_the_sender_edits() {
    let server = TestServer::start().await;
    let carol = server.synced_device("carol", "c1").await;
    let group = carol
        .connection()
        .create_group("events-owner", "team", &["alice", "bob"])
        .await
        .unwrap();
    let conv = group.conversation_id;
    let alice = server.synced_device("alice", "a1").await;
    let bob = server.synced_device("bob", "b1").await;
    let said = alice.send(&conv, "m1", "text", "hi").await.unwrap();
    let stored = server.stored_messages(&conv).await.len();

    let by_member = bob
        .connection()
        .delete_message(&conv, "d1", sent(&said))
        .await;
    assert_eq!(server_code(by_member), ErrorCode::Forbidden);
    let by_sender = alice
        .connection()
        .delete_message(&conv, "d2", sent(&said))
        .await;
    assert_eq!(
        server_code(by_sender),
        ErrorCode::Forbidden,
        "not the owner"
    );
    let edit = bob
        .connection()
        .edit_message(&conv, "e1", sent(&said), b"mine".to_vec())
        .await;
    assert_eq!(server_code(edit), ErrorCode::Forbidden);
    let recall = carol
        .connection()
        .recall_message(&conv, "x1", sent(&said))
        .await;
    assert_eq!(server_code(recall), ErrorCode::Forbidden);
    assert_eq!(
        server.stored_messages(&conv).await.len(),
        stored,
        "nothing stored"
    );

    carol
        .connection()
        .delete_message(&conv, "d3", sent(&said))
        .await
        .unwrap();
    let react = bob
        .connection()
        .react(&conv, "r1", sent(&said), "👍", false)
        .await;
    assert_eq!(server_code(react), ErrorCode::MessageRemoved);
    let page = bob.history(&conv, 0, 10).await.unwrap();
    let target = page
        .messages
        .iter()
        .find(|m| m.message_id == said.message_id);
    let state = target.and_then(|m| m.state.clone()).unwrap();
    assert!(state.deleted && state.removed_by == "carol");
}

#[tokio::test]
async fn bad_targets_and_reactions_are_refused_and_nothing_is_stored() {
    let server = TestServer::start_with(|config| config.logic.max_distinct_reactions = 2).await;
    let alice = server.synced_device("alice", "a1").await;
    let conv = dm("alice", "bob");
    let elsewhere = dm("alice", "carol");
    let said = alice.send(&conv, "m1", "text", "hi").await.unwrap();
    let other = alice.send(&elsewhere, "m2", "text", "hey").await.unwrap();
    let link = alice.connection();
    link.react(&conv, "r1", sent(&said), "👍", false)
        .await
        .unwrap();
    let event = link
        .react(&conv, "r2", sent(&said), "🎉", false)
        .await
        .unwrap();
    let stored = server.stored_messages(&conv).await.len();

    let unknown = MessageRef {
        message_id: "no-such-message".into(),
        conv_seq: said.conv_seq,
    };
    let wrong_seq = MessageRef {
        conv_seq: said.conv_seq + 100,
        ..sent(&said)
    };
    for (target, why) in [
        (unknown, "unknown id"),
        (wrong_seq, "wrong conv_seq"),
        (sent(&other), "another conversation's message"),
        (sent(&event), "an event"),
    ] {
        let edit = link
            .edit_message(&conv, "e1", target.clone(), b"x".to_vec())
            .await;
        assert_eq!(server_code(edit), ErrorCode::UnknownMessage, "{why}");
        let react = link.react(&conv, "r3", target, "👀", false).await;
        assert_eq!(server_code(react), ErrorCode::UnknownMessage, "{why}");
    }
    for emoji in ["", &"😀".repeat(9)] {
        let react = link.react(&conv, "r4", sent(&said), emoji, false).await;
        assert_eq!(server_code(react), ErrorCode::InvalidArgument, "{emoji:?}");
    }
    let third = link.react(&conv, "r5", sent(&said), "👀", false).await;
    assert_eq!(server_code(third), ErrorCode::TooManyReactions);
    let no_target = link
        .send_message(
            &conv,
            "raw",
            EDIT_KIND,
            b"not a protobuf edit \xff".to_vec(),
        )
        .await;
    assert_eq!(server_code(no_target), ErrorCode::InvalidArgument);
    assert_eq!(
        server.stored_messages(&conv).await.len(),
        stored,
        "nothing stored"
    );

    // One of the emoji already there still counts up; removing one frees a slot.
    let bob = server.synced_device("bob", "b1").await;
    bob.connection()
        .react(&conv, "r1", sent(&said), "🎉", false)
        .await
        .unwrap();
    link.react(&conv, "r6", sent(&said), "👍", true)
        .await
        .unwrap();
    link.react(&conv, "r7", sent(&said), "👀", false)
        .await
        .unwrap();
    let page = bob.history(&conv, 0, 10).await.unwrap();
    let target = page
        .messages
        .iter()
        .find(|m| m.message_id == said.message_id);
    let reactions = target.and_then(|m| m.state.clone()).unwrap().reactions;
    assert_eq!(
        reactions,
        [reaction("🎉", 2, true), reaction("👀", 1, false)],
        "emoji in byte order"
    );
}

#[tokio::test]
async fn a_retried_edit_is_stored_once() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let mut bob = server.synced_device("bob", "b1").await;
    let conv = dm("alice", "bob");
    let said = alice.send(&conv, "m1", "text", "draft").await.unwrap();
    let link = alice.connection();
    let first = link
        .edit_message(&conv, "e1", sent(&said), b"final".to_vec())
        .await
        .unwrap();
    let again = link
        .edit_message(&conv, "e1", sent(&said), b"final".to_vec())
        .await
        .unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(
        (again.message_id.as_str(), again.conv_seq),
        (first.message_id.as_str(), first.conv_seq)
    );
    let edits = server
        .stored_messages(&conv)
        .await
        .into_iter()
        .filter(|m| m.kind == EDIT_KIND)
        .count();
    assert_eq!(edits, 1);
    bob.pull_all().await.unwrap();
    let current = bob.current_messages_of(&conv);
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].body, b"final");
    let applied_edits = bob
        .messages_of(&conv)
        .iter()
        .filter(|m| m.kind == EDIT_KIND)
        .count();
    assert_eq!(applied_edits, 1, "delivered once");
}

#[tokio::test]
async fn the_server_api_deletes_any_message() {
    use prost::Message as _;
    use tidings_proto::common::v1::MessageRemoval;
    use tidings_proto::server::v1::{self as api, server_api_client::ServerApiClient};
    use tidings_server_api::config::ApiKeyConfig;
    use tidings_server_api::{Scope, hash_key};

    const KEY: &str = "key-moderation-0123456789";
    let server = TestServer::start_with(|config| {
        config.server_api.keys = vec![ApiKeyConfig {
            name: "moderation".into(),
            sha256: hash_key(KEY),
            scopes: vec![Scope::Send],
        }];
    })
    .await;
    let carol = server.synced_device("carol", "c1").await;
    let group = carol
        .connection()
        .create_group("events-moderated", "team", &["alice"])
        .await
        .unwrap();
    let conv = group.conversation_id;
    let mut alice = server.synced_device("alice", "a1").await;
    let said = alice.send(&conv, "m1", "text", "spam").await.unwrap();

    let mut client = ServerApiClient::connect(format!("http://{}", server.addresses.server_api))
        .await
        .unwrap();
    let mut request = tonic::Request::new(api::SendMessageRequest {
        sender: Some(api::send_message_request::Sender::System(
            "moderation".into(),
        )),
        conversation_id: conv.clone(),
        idempotency_key: "delete-1".into(),
        kind: tidings_client::DELETE_KIND.into(),
        body: MessageRemoval {
            target: Some(sent(&said)),
        }
        .encode_to_vec(),
        sender_device: String::new(),
    });
    let bearer = format!("Bearer {KEY}").parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    client.send_message(request).await.unwrap();

    await_messages(&mut alice, &conv, 3).await;
    let current = alice.current_messages_of(&conv);
    let spam = current.iter().find(|m| m.message_id == said.message_id);
    let state = spam.and_then(|m| m.state.clone()).expect("deleted");
    assert!(state.deleted && state.removed_by == "system.moderation");
    let page = carol.history(&conv, 0, 10).await.unwrap();
    let spam = page
        .messages
        .iter()
        .find(|m| m.message_id == said.message_id);
    assert!(spam.unwrap().body.is_empty());
}
