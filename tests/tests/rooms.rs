//! Live rooms: a connection joins (or switches) rooms, room messages reach
//! exactly the connections in the room, once each, on every gateway holding
//! some of them, and nothing is stored. A switch under load never lets a
//! message of the old room through after the switch's answer.
//!
//! The single-process tests use the all-in-one; the cross-gateway test runs
//! every service as its own process on a CQL node and Redis (`make test`
//! starts both; `scripts/cassandra.sh start`, `scripts/redis.sh start`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tidings_client::proto::{
    ClientFrame, RoomJoin, RoomMessage, ServerFrame, client_frame, server_frame,
};
use tidings_client::{ClientError, Connection, dev_token};
use tidings_core::ErrorCode;
use tidings_proto::logic::v1::RoomSendRequest;
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_registry::{RedisRegistry, Registry};
use tidings_testkit::{Cluster, ServiceChannel, TestServer, server_code, service_channel};

const WAIT: Duration = Duration::from_secs(15);
/// How long a connection that must get nothing is watched after a barrier.
const QUIET: Duration = Duration::from_millis(200);

async fn connect(url: &str, user: &str, device: &str) -> Connection {
    let connection = Connection::connect(url).await.expect("connects");
    connection
        .hello(&dev_token(user), device, 0)
        .await
        .expect("hello accepted");
    connection
}

async fn join(connection: &Connection, room: &str) {
    let result = connection.room_join(room).await.expect("room join");
    assert_eq!(result.room_id, room);
}

/// The next room message, which must be `body` in `room` from `sender`.
async fn expect_message(connection: &Connection, room: &str, sender: &str, body: &str) {
    let message = connection
        .next_room_message(WAIT)
        .await
        .unwrap_or_else(|e| panic!("no room message {body:?} in {room}: {e}"));
    assert_eq!(
        (message.room_id.as_str(), message.sender_id.as_str()),
        (room, sender)
    );
    assert_eq!(message.body, body.as_bytes());
    assert!(message.sent_at_ms > 0);
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

/// Every user's inbox head: room messages must never move one.
async fn inbox_heads(server: &TestServer, users: &[&str]) -> Vec<u64> {
    let mut heads = Vec::new();
    for user in users {
        heads.push(server.inbox_head(user).await);
    }
    heads
}

#[tokio::test]
async fn room_messages_reach_exactly_the_members_and_are_not_stored() {
    let server = TestServer::start().await;
    let url = server.url();
    let users = ["alice", "bob", "carol", "dave"];
    let heads_before = inbox_heads(&server, &users).await;

    let alice = connect(&url, "alice", "a1").await;
    let alice_tablet = connect(&url, "alice", "a2").await;
    let bob = connect(&url, "bob", "b1").await;
    let carol = connect(&url, "carol", "c1").await;
    let dave = connect(&url, "dave", "d1").await;

    // Not in any room yet: sending is refused, leaving is a no-op.
    assert_eq!(
        server_code(alice.room_send("lobby", "text", "too early").await),
        ErrorCode::NotMember
    );
    assert_eq!(alice.room_leave().await.unwrap().room_id, "");

    join(&alice, "lobby").await;
    join(&bob, "lobby").await;
    join(&alice_tablet, "stage").await;
    join(&carol, "stage").await;
    // Joining the room one is in again changes nothing.
    join(&bob, "lobby").await;

    // A lobby message reaches the lobby (the sender's connection too), and
    // neither the sender's other connection (in the stage) nor anyone else.
    let sent = alice.room_send("lobby", "text", "hello lobby").await;
    assert_eq!(sent.unwrap().room_id, "lobby");
    expect_message(&alice, "lobby", "alice", "hello lobby").await;
    expect_message(&bob, "lobby", "alice", "hello lobby").await;
    for other in [&alice_tablet, &carol, &dave] {
        expect_nothing(other).await;
    }
    expect_nothing(&alice).await;
    expect_nothing(&bob).await;

    carol
        .room_send("stage", "text", "hello stage")
        .await
        .unwrap();
    expect_message(&alice_tablet, "stage", "carol", "hello stage").await;
    expect_message(&carol, "stage", "carol", "hello stage").await;
    for other in [&alice, &bob, &dave] {
        expect_nothing(other).await;
    }

    // Messages of one sender arrive in the order they were sent.
    for i in 0..20 {
        bob.room_send("lobby", "text", format!("m{i}"))
            .await
            .unwrap();
    }
    for i in 0..20 {
        expect_message(&alice, "lobby", "bob", &format!("m{i}")).await;
        expect_message(&bob, "lobby", "bob", &format!("m{i}")).await;
    }

    // Bob leaves: he gets nothing more and may not send to the room.
    assert_eq!(bob.room_leave().await.unwrap().room_id, "");
    alice.room_send("lobby", "text", "bob left").await.unwrap();
    expect_message(&alice, "lobby", "alice", "bob left").await;
    expect_nothing(&bob).await;
    assert_eq!(
        server_code(bob.room_send("lobby", "text", "let me in").await),
        ErrorCode::NotMember
    );

    // Bad input gets stable codes and changes no membership.
    let long_room = "r".repeat(65);
    for bad in ["", "no spaces", "a/b", long_room.as_str()] {
        assert_eq!(
            server_code(alice.room_join(bad).await),
            ErrorCode::InvalidArgument,
            "join {bad:?}"
        );
        assert_eq!(
            server_code(alice.room_send(bad, "text", "x").await),
            ErrorCode::InvalidArgument,
            "send to {bad:?}"
        );
    }
    // A room one is not in, even one others are in: not_member.
    assert_eq!(
        server_code(alice.room_send("stage", "text", "wrong room").await),
        ErrorCode::NotMember
    );
    assert_eq!(
        server_code(dave.room_send("lobby", "text", "never joined").await),
        ErrorCode::NotMember
    );
    assert_eq!(
        server_code(alice.room_send("lobby", &"k".repeat(65), "x").await),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        server_code(alice.room_send("lobby", "text", vec![0u8; 40 * 1024]).await),
        ErrorCode::BodyTooLarge
    );
    for other in [&alice, &alice_tablet, &bob, &carol, &dave] {
        expect_nothing(other).await;
    }
    alice.room_send("lobby", "text", "still in").await.unwrap();
    expect_message(&alice, "lobby", "alice", "still in").await;

    // Room frames before hello are refused like any other.
    let anonymous = Connection::connect(&url).await.unwrap();
    assert_eq!(
        server_code(anonymous.room_join("lobby").await),
        ErrorCode::Unauthenticated
    );

    // A closed connection is out of its room; the others keep working.
    carol.close().await.unwrap();
    alice_tablet
        .room_send("stage", "text", "carol gone")
        .await
        .unwrap();
    expect_message(&alice_tablet, "stage", "alice", "carol gone").await;

    // Nothing was stored: no inbox moved, nobody has anything to pull and
    // nobody has a conversation.
    assert_eq!(inbox_heads(&server, &users).await, heads_before);
    for connection in [&alice, &bob, &dave] {
        let page = connection.pull(0, 100).await.unwrap();
        assert!(
            page.entries.is_empty(),
            "room messages in an inbox: {page:?}"
        );
        let list = connection.conversation_list(5).await.unwrap();
        assert!(
            list.conversations.is_empty(),
            "room messages in a conversation: {list:?}"
        );
    }
    server.shutdown().await;
}

/// Sends a RoomJoin under `request_id` and reads frames in arrival order up
/// to its answer. Room messages before the answer may be of either room.
async fn switch_to(receiver: &Connection, room: &str, request_id: u64) {
    receiver
        .send_frame(&ClientFrame {
            request_id,
            frame: Some(client_frame::Frame::RoomJoin(RoomJoin {
                room_id: room.into(),
            })),
        })
        .await
        .unwrap();
    loop {
        let frame = receiver.next_frame(WAIT).await.expect("the switch answer");
        match frame.frame {
            Some(server_frame::Frame::RoomResult(result)) if frame.request_id == request_id => {
                assert_eq!(result.room_id, room);
                return;
            }
            Some(server_frame::Frame::RoomMessage(_)) => {}
            other => panic!("unexpected frame before the switch answer: {other:?}"),
        }
    }
}

/// Room messages a receiver read after a switch's answer.
#[derive(Default)]
struct AfterSwitch {
    /// Messages of the room it switched to.
    current: Vec<RoomMessage>,
    /// Messages of any other room: each one breaks the guarantee.
    stray: Vec<RoomMessage>,
}

impl AfterSwitch {
    fn record(&mut self, room: &str, frame: ServerFrame) {
        match frame.frame {
            Some(server_frame::Frame::RoomMessage(message)) if message.room_id == room => {
                self.current.push(message);
            }
            Some(server_frame::Frame::RoomMessage(message)) => self.stray.push(message),
            other => panic!("unexpected frame after a switch: {other:?}"),
        }
    }

    /// Reads until `count` messages of `room` arrived (or `done` says stop).
    async fn read(&mut self, receiver: &Connection, room: &str, count: usize, done: &AtomicBool) {
        let deadline = Instant::now() + WAIT;
        while self.current.len() < count && !done.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "too few {room} messages after a switch"
            );
            match receiver.next_frame(Duration::from_millis(100)).await {
                Ok(frame) => self.record(room, frame),
                Err(ClientError::Timeout { .. }) => {}
                Err(e) => panic!("receiver failed: {e}"),
            }
        }
    }
}

/// The number in a body such as `a2-17` or `b5`.
fn body_index(message: &RoomMessage) -> usize {
    let body = std::str::from_utf8(&message.body).unwrap();
    let digits = body.rsplit(['-', 'a', 'b']).next().unwrap();
    digits.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_switch_no_message_of_the_old_room_arrives() {
    const FLOODERS: usize = 3;
    const FLOOD: usize = 2_000;
    const ROUNDS: u64 = 5;
    // The flooders send as fast as the server takes it: no rate limits.
    let server =
        TestServer::start_with(|c| c.gateway.limits = tidings_gateway::LimitsConfig::off()).await;
    let url = server.url();

    let mut flooders = Vec::new();
    for k in 0..FLOODERS {
        let flooder = Arc::new(connect(&url, &format!("flooder{k}"), "f1").await);
        join(&flooder, "room-a").await;
        flooders.push(flooder);
    }
    let chatter = Arc::new(connect(&url, "chatter", "c1").await);
    join(&chatter, "room-b").await;
    let receiver = connect(&url, "receiver", "r1").await;
    join(&receiver, "room-a").await;

    // The flooders send FLOOD messages to room A between them, as fast as
    // the server takes them, within a time bound; the chatter keeps talking
    // in room B until told to stop.
    let sent_a = Arc::new(AtomicUsize::new(0));
    let flood_over = Arc::new(AtomicBool::new(false));
    let mut floods = Vec::new();
    for (k, flooder) in flooders.iter().enumerate() {
        let (flooder, sent_a) = (Arc::clone(flooder), Arc::clone(&sent_a));
        floods.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            for i in 0..FLOOD / FLOODERS {
                flooder
                    .room_send("room-a", "text", format!("a{k}-{i}"))
                    .await
                    .expect("flood send");
                sent_a.fetch_add(1, Ordering::SeqCst);
                if Instant::now() > deadline {
                    break;
                }
            }
        }));
    }
    let flood = tokio::spawn({
        let flood_over = Arc::clone(&flood_over);
        async move {
            for flood in floods {
                flood.await.unwrap();
            }
            flood_over.store(true, Ordering::SeqCst);
        }
    });
    let chatting = Arc::new(AtomicBool::new(true));
    let chat = tokio::spawn({
        let (chatter, chatting) = (Arc::clone(&chatter), Arc::clone(&chatting));
        async move {
            let mut i = 0;
            while chatting.load(Ordering::SeqCst) {
                chatter
                    .room_send("room-b", "text", format!("b{i}"))
                    .await
                    .expect("chat send");
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            i
        }
    });

    // Switch back and forth while the flood is under way; after each
    // answer, only the new room's messages may arrive.
    let never = AtomicBool::new(false);
    let mut before = AfterSwitch::default();
    before.read(&receiver, "room-a", 100, &never).await;
    let mut strays = before.stray;
    for round in 0..ROUNDS {
        switch_to(&receiver, "room-b", 1000 + 2 * round).await;
        let mut in_b = AfterSwitch::default();
        in_b.read(&receiver, "room-b", 5, &never).await;
        strays.extend(in_b.stray);
        switch_to(&receiver, "room-a", 1001 + 2 * round).await;
        let mut in_a = AfterSwitch::default();
        in_a.read(&receiver, "room-a", 50, &flood_over).await;
        strays.extend(in_a.stray);
    }
    switch_to(&receiver, "room-b", 2000).await;
    let sent_at_last_switch = sent_a.load(Ordering::SeqCst);

    // Read in order until the flood is over, stop the chat, and read what is
    // still queued for the receiver.
    let mut last = AfterSwitch::default();
    let reading = tokio::time::timeout(Duration::from_secs(90), async {
        while !flood_over.load(Ordering::SeqCst) {
            match receiver.next_frame(Duration::from_millis(100)).await {
                Ok(frame) => last.record("room-b", frame),
                Err(ClientError::Timeout { .. }) => {}
                Err(e) => panic!("receiver failed: {e}"),
            }
        }
    });
    reading.await.expect("the flood ends in time");
    flood.await.unwrap();
    let sent_total = sent_a.load(Ordering::SeqCst);
    chatting.store(false, Ordering::SeqCst);
    let chatted = chat.await.unwrap();
    // A barrier: everything queued for the receiver before this ping's
    // answer is in its frame queue by now.
    assert_eq!(receiver.ping(1).await.unwrap(), 1);
    while let Ok(frame) = receiver.next_frame(QUIET).await {
        last.record("room-b", frame);
    }
    strays.extend(last.stray);

    assert!(
        strays.is_empty(),
        "{} messages of a room the receiver had left arrived after the switch answer, the first {:?}",
        strays.len(),
        strays.first()
    );
    assert!(
        sent_total > sent_at_last_switch,
        "the flood was over before the last switch ({sent_at_last_switch} sent); the test proves nothing"
    );
    assert!(
        !last.current.is_empty(),
        "no room-b message after the last switch ({chatted} sent)"
    );
    let indexes: Vec<usize> = last.current.iter().map(body_index).collect();
    assert!(
        indexes.windows(2).all(|w| w[1] == w[0] + 1),
        "room-b messages out of order or missing after the switch: {indexes:?}"
    );
    // A flooder, in room A all along, got the whole flood, each flooder's
    // messages in the order sent.
    let mut next = [0; FLOODERS];
    for _ in 0..sent_total {
        let message = flooders[0]
            .next_room_message(WAIT)
            .await
            .expect("flood echo");
        let k: usize = message.sender_id["flooder".len()..].parse().unwrap();
        assert_eq!(body_index(&message), next[k], "from {}", message.sender_id);
        next[k] += 1;
    }
    server.shutdown().await;
}

/// Polls the registry until `room` lists exactly `expected` gateways.
async fn wait_for_room_gateways(registry: &RedisRegistry, room: &str, expected: &[String]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let gateways = registry.room_gateways(room).await.unwrap();
        if gateways == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "room {room} lists {gateways:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a room message straight to logic, as a gateway would; answers with
/// how many gateways logic handed it to.
async fn logic_room_send(
    logic: &mut LogicServiceClient<ServiceChannel>,
    user: &str,
    room: &str,
    body: &str,
) -> u32 {
    logic
        .room_send(RoomSendRequest {
            user_id: user.into(),
            room_id: room.into(),
            kind: "text".into(),
            body: body.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .gateways
}

#[tokio::test]
async fn a_room_spans_gateways_with_one_push_per_gateway() {
    let cluster =
        Cluster::start("rooms", &[("TIDINGS__GATEWAY__REGISTRY_TTL_SECS", "30")]).unwrap();
    let gw1 = cluster.gateway().unwrap();
    let gw2 = cluster.gateway().unwrap();
    let registry = cluster.registry().await.unwrap();
    let mut logic_client = LogicServiceClient::new(service_channel(&cluster.logic.addr("logic")));
    let mut both = vec![gw1.addr("gateway_grpc"), gw2.addr("gateway_grpc")];
    both.sort();

    // Two members of the arena on gateway 1, one on gateway 2; a bystander
    // on gateway 2 is in another room.
    let ann = connect(&gw1.ws_url(), "ann", "a1").await;
    let ben = connect(&gw1.ws_url(), "ben", "b1").await;
    let cat = connect(&gw2.ws_url(), "cat", "c1").await;
    let dan = connect(&gw2.ws_url(), "dan", "d1").await;
    join(&ann, "arena").await;
    join(&ben, "arena").await;
    join(&cat, "arena").await;
    join(&dan, "side").await;
    assert_eq!(registry.room_gateways("arena").await.unwrap(), both);
    assert_eq!(
        registry.room_gateways("side").await.unwrap(),
        [gw2.addr("gateway_grpc")]
    );

    // Through a connection: every member on both gateways gets it, once.
    ann.room_send("arena", "text", "from gateway 1")
        .await
        .unwrap();
    for member in [&ann, &ben, &cat] {
        expect_message(member, "arena", "ann", "from gateway 1").await;
    }
    cat.room_send("arena", "text", "from gateway 2")
        .await
        .unwrap();
    for member in [&ann, &ben, &cat] {
        expect_message(member, "arena", "cat", "from gateway 2").await;
    }
    for connection in [&ann, &ben, &cat, &dan] {
        expect_nothing(connection).await;
    }

    // Straight to logic: one PushRoom per gateway, however many members each
    // gateway holds, and each member still gets exactly one copy.
    assert_eq!(
        logic_room_send(&mut logic_client, "ann", "arena", "counted").await,
        2
    );
    for member in [&ann, &ben, &cat] {
        expect_message(member, "arena", "ann", "counted").await;
    }
    for connection in [&ann, &ben, &cat, &dan] {
        expect_nothing(connection).await;
    }

    // A burst from gateway 2 arrives complete and in order on both gateways.
    for i in 0..50 {
        cat.room_send("arena", "text", format!("burst {i}"))
            .await
            .unwrap();
    }
    for member in [&ann, &ben, &cat] {
        for i in 0..50 {
            expect_message(member, "arena", "cat", &format!("burst {i}")).await;
        }
    }

    // Gateway 2's last arena member switches away: gateway 2 leaves the
    // arena's registry entry and gets no more of its messages.
    join(&cat, "side").await;
    wait_for_room_gateways(&registry, "arena", &[gw1.addr("gateway_grpc")]).await;
    assert_eq!(
        logic_room_send(&mut logic_client, "ann", "arena", "gateway 1 only").await,
        1
    );
    for member in [&ann, &ben] {
        expect_message(member, "arena", "ann", "gateway 1 only").await;
    }
    for connection in [&ann, &ben, &cat, &dan] {
        expect_nothing(connection).await;
    }

    // Connections closing take their gateway out of the room.
    dan.close().await.unwrap();
    cat.close().await.unwrap();
    wait_for_room_gateways(&registry, "side", &[]).await;
    ben.room_leave().await.unwrap();
    ann.close().await.unwrap();
    wait_for_room_gateways(&registry, "arena", &[]).await;
    assert_eq!(
        logic_room_send(&mut logic_client, "ben", "arena", "nobody").await,
        0
    );

    drop((cluster, gw1, gw2));
}
