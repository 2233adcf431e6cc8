//! Typing and presence, ephemeral and never stored, over real WebSockets:
//! typing reaches the other members' online devices only, once per
//! throttle interval; presence changes reach the connections that watch,
//! within the wait below; the watch list of a connection is capped; bad
//! input gets a clear code and the connection stays.
//!
//! The single-process tests use the all-in-one; the cross-gateway test runs
//! every service as its own process on a CQL node and Redis (`make test`
//! starts both; `scripts/cassandra.sh start`, `scripts/redis.sh start`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings_client::proto::{PresenceEvent, TypingEvent, server_frame};
use tidings_client::{ClientError, Connection, dev_token};
use tidings_core::ErrorCode;
use tidings_testkit::{Cluster, TestServer, dm, server_code};

/// How long an event that must come may take: generous, so a loaded machine
/// does not fail the test; the design aims at well under a second.
const WAIT: Duration = Duration::from_secs(5);
/// How long a connection that must get nothing is watched after a barrier.
const QUIET: Duration = Duration::from_millis(300);

async fn connect(url: &str, user: &str, device: &str) -> Connection {
    let connection = Connection::connect(url).await.expect("connects");
    connection
        .hello(&dev_token(user), device, 0)
        .await
        .expect("hello accepted");
    connection
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn expect_typing(connection: &Connection, conversation: &str, user: &str) -> TypingEvent {
    let event = connection
        .next_typing(WAIT)
        .await
        .unwrap_or_else(|e| panic!("no typing event of {user} in {conversation}: {e}"));
    assert_eq!(
        (event.conversation_id.as_str(), event.user_id.as_str()),
        (conversation, user)
    );
    assert!(event.expires_at_ms > now_ms(), "expires in the future");
    event
}

async fn expect_presence(connection: &Connection, user: &str, online: bool) -> PresenceEvent {
    let event = connection
        .next_presence(WAIT)
        .await
        .unwrap_or_else(|e| panic!("no presence event of {user} (online {online}): {e}"));
    assert_eq!((event.user_id.as_str(), event.online), (user, online));
    event
}

/// Nothing is waiting for `connection`: a ping answered after every frame
/// queued for it so far, then a short wait, found no server-initiated frame.
async fn expect_nothing(connection: &Connection) {
    assert_eq!(connection.ping(7).await.expect("ping"), 7);
    match connection.next_push(QUIET).await {
        Err(ClientError::Timeout { .. }) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

/// The typing events waiting for `connection`, counted until it is quiet.
async fn count_typing(connection: &Connection) -> usize {
    assert_eq!(connection.ping(8).await.expect("ping"), 8);
    let mut count = 0;
    loop {
        match connection.next_push(QUIET).await {
            Ok(frame) => {
                if let Some(server_frame::Frame::TypingEvent(_)) = frame.frame {
                    count += 1;
                }
            }
            Err(ClientError::Timeout { .. }) => return count,
            Err(e) => panic!("connection failed: {e}"),
        }
    }
}

#[tokio::test]
async fn typing_reaches_the_other_members_online_devices_only() {
    let server = TestServer::start().await;
    let url = server.url();
    let alice_phone = connect(&url, "alice", "phone").await;
    let alice_laptop = connect(&url, "alice", "laptop").await;
    let bob_phone = connect(&url, "bob", "phone").await;
    let bob_tablet = connect(&url, "bob", "tablet").await;
    let carol = connect(&url, "carol", "phone").await;
    let dave = connect(&url, "dave", "phone").await;
    let group = alice_phone
        .create_group("book-club", "Books", &["bob", "carol", "erin"])
        .await
        .unwrap();
    let heads_before = [
        server.inbox_head("alice").await,
        server.inbox_head("bob").await,
        server.inbox_head("erin").await,
    ];
    // Let the membership pushes of the group's creation arrive first.
    for connection in [&alice_phone, &alice_laptop, &bob_phone, &bob_tablet, &carol] {
        assert_eq!(connection.ping(1).await.unwrap(), 1);
        while connection.next_push(QUIET).await.is_ok() {}
    }

    // 1:1: both of bob's devices, none of alice's, nobody else.
    let answer = alice_phone.typing(&dm("alice", "bob")).await.unwrap();
    assert!(answer.forwarded);
    assert_eq!(answer.conversation_id, dm("alice", "bob"));
    for device in [&bob_phone, &bob_tablet] {
        expect_typing(device, &dm("alice", "bob"), "alice").await;
    }
    for connection in [&alice_phone, &alice_laptop, &carol, &dave] {
        expect_nothing(connection).await;
    }

    // A group: its online members other than the typist (erin is offline).
    let answer = alice_laptop.typing(&group.conversation_id).await.unwrap();
    assert!(answer.forwarded);
    for device in [&bob_phone, &bob_tablet, &carol] {
        expect_typing(device, &group.conversation_id, "alice").await;
    }
    for connection in [&alice_phone, &alice_laptop, &dave] {
        expect_nothing(connection).await;
    }

    // An offline member gets nothing later either: typing is not stored.
    let erin = connect(&url, "erin", "phone").await;
    expect_nothing(&erin).await;
    let heads_after = [
        server.inbox_head("alice").await,
        server.inbox_head("bob").await,
        server.inbox_head("erin").await,
    ];
    assert_eq!(heads_before, heads_after, "typing never moves an inbox");

    // A non-member is refused, as for a send, and nobody hears of it.
    let not_member = server_code(dave.typing(&dm("alice", "bob")).await);
    assert_eq!(not_member, ErrorCode::NotMember);
    let not_member = server_code(dave.typing(&group.conversation_id).await);
    assert_eq!(not_member, ErrorCode::NotMember);
    // Refusals are not throttled away: the same one is refused again.
    let again = server_code(dave.typing(&group.conversation_id).await);
    assert_eq!(again, ErrorCode::NotMember);
    // Unknown conversations.
    let malformed = server_code(dave.typing("not-a-conversation").await);
    assert_eq!(malformed, ErrorCode::UnknownConversation);
    let empty = server_code(dave.typing("").await);
    assert_eq!(empty, ErrorCode::UnknownConversation);
    let no_group = server_code(dave.typing("g:no-such-group").await);
    assert_eq!(no_group, ErrorCode::UnknownGroup);
    for connection in [&alice_phone, &bob_phone, &bob_tablet, &carol, &erin] {
        expect_nothing(connection).await;
    }
    // The refused connection is still served.
    assert_eq!(dave.ping(9).await.unwrap(), 9);
}

#[tokio::test]
async fn typing_is_throttled_per_connection_and_conversation() {
    let server = TestServer::start_with(|config| config.gateway.typing_interval_ms = 1_500).await;
    let url = server.url();
    let alice_phone = connect(&url, "alice", "phone").await;
    let alice_laptop = connect(&url, "alice", "laptop").await;
    let bob = connect(&url, "bob", "phone").await;
    let conversation = dm("alice", "bob");

    // A burst of 20 from one connection: one forwarded.
    let mut forwarded = 0;
    for _ in 0..20 {
        if alice_phone.typing(&conversation).await.unwrap().forwarded {
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 1, "one of a burst is forwarded");
    // Another connection of the same user has its own slot.
    assert!(alice_laptop.typing(&conversation).await.unwrap().forwarded);
    assert!(!alice_laptop.typing(&conversation).await.unwrap().forwarded);
    assert_eq!(count_typing(&bob).await, 2);

    // After the interval the next one goes through again.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let mut forwarded = 0;
    for _ in 0..10 {
        if alice_phone.typing(&conversation).await.unwrap().forwarded {
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 1);
    assert_eq!(count_typing(&bob).await, 1);
}

#[tokio::test]
async fn presence_changes_reach_the_watchers() {
    let server = TestServer::start().await;
    let url = server.url();
    let watcher = connect(&url, "walt", "phone").await;
    let bystander = connect(&url, "vera", "phone").await;

    // The current state right after the subscribe: bob was never seen.
    let result = watcher.presence_subscribe(&["bob"]).await.unwrap();
    assert_eq!(result.watching, 1);
    let first = expect_presence(&watcher, "bob", false).await;
    assert_eq!(first.last_seen_ms, 0);

    // First device: online. A second device changes nothing.
    let bob_phone = connect(&url, "bob", "phone").await;
    assert_eq!(expect_presence(&watcher, "bob", true).await.last_seen_ms, 0);
    let bob_laptop = connect(&url, "bob", "laptop").await;
    expect_nothing(&watcher).await;

    // One of two leaves: still online. The last leaves: offline, last seen.
    bob_laptop.close().await.unwrap();
    expect_nothing(&watcher).await;
    let before_close = now_ms();
    bob_phone.close().await.unwrap();
    let offline = expect_presence(&watcher, "bob", false).await;
    assert!(
        offline.last_seen_ms >= before_close - 1_000 && offline.last_seen_ms <= now_ms(),
        "last seen {} around the close at {before_close}",
        offline.last_seen_ms
    );

    // A new watcher gets the last-seen moment with the current state.
    let late = connect(&url, "lena", "phone").await;
    late.presence_subscribe(&["bob", "walt"]).await.unwrap();
    let mut got = [
        late.next_presence(WAIT).await.unwrap(),
        late.next_presence(WAIT).await.unwrap(),
    ];
    got.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!((got[0].user_id.as_str(), got[0].online), ("bob", false));
    assert_eq!(got[0].last_seen_ms, offline.last_seen_ms);
    assert_eq!((got[1].user_id.as_str(), got[1].online), ("walt", true));

    // After an unsubscribe, changes no longer arrive; nobody else got any.
    assert_eq!(watcher.presence_unsubscribe(&[]).await.unwrap().watching, 0);
    let bob_again = connect(&url, "bob", "phone").await;
    expect_presence(&late, "bob", true).await;
    expect_nothing(&watcher).await;
    expect_nothing(&bystander).await;
    drop(bob_again);
}

#[tokio::test]
async fn the_watch_list_is_capped_and_bad_input_refused() {
    let server = TestServer::start_with(|config| {
        config.gateway.presence_max_subscriptions = 3;
        config.gateway.presence_max_ids_per_frame = 5;
    })
    .await;
    let url = server.url();
    let watcher = connect(&url, "walt", "phone").await;

    assert_eq!(
        watcher
            .presence_subscribe(&["ann", "ben"])
            .await
            .unwrap()
            .watching,
        2
    );
    // Past the cap: refused whole, with a stable code; the connection and
    // its watches stay.
    let over = server_code(watcher.presence_subscribe(&["cat", "dan"]).await);
    assert_eq!(over, ErrorCode::RateLimited);
    assert_eq!(watcher.ping(3).await.unwrap(), 3);
    // Ids already watched do not count twice.
    let result = watcher.presence_subscribe(&["ann", "cat"]).await.unwrap();
    assert_eq!(result.watching, 3);
    let over = server_code(watcher.presence_subscribe(&["dan"]).await);
    assert_eq!(over, ErrorCode::RateLimited);
    let mut initial: Vec<String> = Vec::new();
    for _ in 0..3 {
        let event = watcher.next_presence(WAIT).await.unwrap();
        assert!(!event.online);
        initial.push(event.user_id);
    }
    initial.sort();
    assert_eq!(initial, ["ann", "ben", "cat"]);
    expect_nothing(&watcher).await;
    // The watches held before the refusal still deliver.
    let _ben = connect(&url, "ben", "phone").await;
    expect_presence(&watcher, "ben", true).await;
    let _dan = connect(&url, "dan", "phone").await;
    expect_nothing(&watcher).await;

    // Bad input: empty, too many ids in one frame, a malformed id.
    let empty = server_code(watcher.presence_subscribe(&[]).await);
    assert_eq!(empty, ErrorCode::InvalidArgument);
    let many = server_code(
        watcher
            .presence_subscribe(&["a1", "a2", "a3", "a4", "a5", "a6"])
            .await,
    );
    assert_eq!(many, ErrorCode::InvalidArgument);
    let malformed = server_code(watcher.presence_subscribe(&["no spaces"]).await);
    assert_eq!(malformed, ErrorCode::InvalidArgument);
    let malformed = server_code(watcher.presence_unsubscribe(&[""]).await);
    assert_eq!(malformed, ErrorCode::InvalidArgument);

    // Unsubscribing frees room under the cap.
    assert_eq!(
        watcher
            .presence_unsubscribe(&["ann"])
            .await
            .unwrap()
            .watching,
        2
    );
    assert_eq!(
        watcher.presence_subscribe(&["dan"]).await.unwrap().watching,
        3
    );
    expect_presence(&watcher, "dan", true).await;
}

#[tokio::test]
async fn presence_and_typing_cross_gateways() {
    let cluster = Cluster::start("presence", &[]).unwrap();
    let gw1 = cluster.gateway().unwrap();
    let gw2 = cluster.gateway().unwrap();

    // The watcher on gateway 1; the watched user comes and goes on 2.
    let watcher = connect(&gw1.ws_url(), "walt", "phone").await;
    watcher.presence_subscribe(&["bob"]).await.unwrap();
    expect_presence(&watcher, "bob", false).await;
    let bob = connect(&gw2.ws_url(), "bob", "phone").await;
    expect_presence(&watcher, "bob", true).await;

    // A second device on gateway 1 and the first leaving: still online.
    let bob_laptop = connect(&gw1.ws_url(), "bob", "laptop").await;
    bob.close().await.unwrap();
    expect_nothing(&watcher).await;
    bob_laptop.close().await.unwrap();
    let offline = expect_presence(&watcher, "bob", false).await;
    assert!(offline.last_seen_ms > 0);

    // Typing from gateway 2 reaches a member on gateway 1.
    let ann = connect(&gw2.ws_url(), "ann", "phone").await;
    assert!(ann.typing(&dm("ann", "walt")).await.unwrap().forwarded);
    expect_typing(&watcher, &dm("ann", "walt"), "ann").await;
    expect_nothing(&ann).await;
}
