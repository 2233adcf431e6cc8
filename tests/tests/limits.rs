//! Limits (DESIGN §10): a client that floods is refused `rate_limited` with
//! a retry-after, keeps its connection, stores nothing it was refused, and
//! costs nobody else anything; caps on connections and groups per user; who
//! may add members to a group.

use std::time::Duration;

use tidings_client::{ClientError, Connection};
use tidings_core::ErrorCode;
use tidings_gateway::LimitsConfig;
use tidings_logic::AddMembersPolicy;
use tidings_testkit::{TestServer, dm, server_code};

fn rate_limited_after(result: Result<impl std::fmt::Debug, ClientError>) -> Option<Duration> {
    match result {
        Err(ClientError::Server {
            code: ErrorCode::RateLimited,
            connection_kept,
            retry_after,
            ..
        }) => {
            assert!(connection_kept, "a limited request keeps its connection");
            retry_after
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_flooding_connection_is_limited_while_its_connection_and_other_users_go_on() {
    let server = TestServer::start_with(|c| {
        c.gateway.limits = LimitsConfig {
            connection_sends_per_sec: 2,
            connection_send_burst: 5,
            ..LimitsConfig::off()
        }
    })
    .await;
    let alice = server.synced_device("alice", "a1").await;
    let bob = server.synced_device("bob", "b1").await;
    let conversation = dm("alice", "bob");

    let mut acked = Vec::new();
    let mut retry_after = None;
    for i in 0..20 {
        match alice
            .send(&conversation, &format!("flood-{i}"), "text", "x")
            .await
        {
            Ok(ack) => acked.push(ack.message_id),
            Err(e) => {
                retry_after = Some(rate_limited_after(Err::<(), _>(e)));
            }
        }
    }
    // The burst passes, then about 2/s: how many more depends on how long
    // the twenty sends took on this machine, never all of them.
    assert!(
        (5..20).contains(&acked.len()),
        "the burst passes, then about 2/s: {} acked",
        acked.len()
    );
    let after = retry_after
        .expect("the flood was limited")
        .expect("with a retry-after");
    assert!(after <= Duration::from_secs(1), "{after:?}");

    // The connection is still there, other users are not limited by it:
    // bob gets his own whole burst.
    assert_eq!(alice.connection().ping(7).await.unwrap(), 7);
    for i in 0..5 {
        bob.send(&conversation, &format!("bob-{i}"), "text", "y")
            .await
            .expect("another user is not limited");
    }
    // Nothing refused was stored.
    let stored = server.stored_messages(&conversation).await;
    let from_alice = stored
        .iter()
        .filter(|m| m.sender_id.as_str() == "alice")
        .count();
    assert_eq!(from_alice, acked.len());

    // Waiting as told lets the next send through.
    tokio::time::sleep(after + Duration::from_millis(50)).await;
    alice
        .send(&conversation, "after-the-wait", "text", "z")
        .await
        .expect("a send after the retry-after passes");
}

#[tokio::test]
async fn a_user_shares_one_allowance_over_its_connections_and_reads_have_their_own() {
    let server = TestServer::start_with(|c| {
        c.gateway.limits = LimitsConfig {
            user_sends_per_sec: 1,
            user_send_burst: 4,
            connection_reads_per_sec: 1,
            connection_read_burst: 3,
            ..LimitsConfig::off()
        }
    })
    .await;
    let phone = server.synced_device("alice", "phone").await;
    let laptop = server.synced_device("alice", "laptop").await;
    let conversation = dm("alice", "bob");
    let mut acked = 0;
    let mut refused = None;
    for i in 0..6 {
        let device = if i % 2 == 0 { &phone } else { &laptop };
        match device
            .send(&conversation, &format!("m-{i}"), "text", "x")
            .await
        {
            Ok(_) => acked += 1,
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::RateLimited));
                refused = Some(e.to_string());
            }
        }
    }
    assert_eq!(acked, 4, "one burst for both connections");
    assert!(refused.unwrap().contains("user alice"));

    // Reads: three pulls pass on a connection (its burst, the initial pull
    // counted), the next is limited; the other connection still reads.
    let reader = server.synced_device("carol", "c1").await;
    let mut limited = false;
    for _ in 0..4 {
        if let Err(e) = reader.connection().pull(0, 10).await {
            assert_eq!(e.code(), Some(ErrorCode::RateLimited));
            limited = true;
        }
    }
    assert!(limited, "a connection's reads are limited");
    let other = server.synced_device("carol", "c2").await;
    other
        .connection()
        .pull(0, 10)
        .await
        .expect("its own bucket");
}

#[tokio::test]
async fn connections_past_the_cap_are_refused_and_the_others_stay() {
    let server = TestServer::start_with(|c| {
        c.gateway.limits = LimitsConfig {
            connections_per_user: 2,
            ..LimitsConfig::off()
        }
    })
    .await;
    let first = server.synced_device("alice", "d1").await;
    let _second = server.synced_device("alice", "d2").await;
    let third = Connection::connect(&server.url()).await.unwrap();
    let refused = third.hello("dev:alice", "d3", 0).await;
    assert_eq!(rate_limited_after(refused), None, "no point in waiting");
    // Another user is not capped, and the first connections still work.
    server.synced_device("bob", "b1").await;
    first
        .send(&dm("alice", "bob"), "still-here", "text", "hi")
        .await
        .unwrap();
    // Once one closes, a new one is admitted.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        let retry = Connection::connect(&server.url()).await.unwrap();
        if retry.hello("dev:alice", "d3", 0).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted);
}

#[tokio::test]
async fn groups_per_user_are_capped_and_the_add_policy_is_the_configured_one() {
    let server = TestServer::start_with(|c| {
        c.logic.max_groups_per_user = 2;
        c.logic.add_members = AddMembersPolicy::Owner;
    })
    .await;
    let alice = server.synced_device("alice", "a1").await;
    let bob = server.synced_device("bob", "b1").await;
    let carol = server.synced_device("carol", "c1").await;
    alice
        .connection()
        .create_group("one", "One", &["bob"])
        .await
        .unwrap();
    alice
        .connection()
        .create_group("two", "Two", &[])
        .await
        .unwrap();
    assert_eq!(
        server_code(alice.connection().create_group("three", "Three", &[]).await),
        ErrorCode::RateLimited,
        "a third group for alice"
    );
    carol
        .connection()
        .create_group("c1", "C1", &[])
        .await
        .unwrap();
    carol
        .connection()
        .create_group("c2", "C2", &[])
        .await
        .unwrap();
    assert_eq!(
        server_code(alice.connection().add_members("two", &["carol"]).await),
        ErrorCode::RateLimited,
        "carol is in two groups already"
    );

    // Only the owner adds; a member may not, but may leave.
    assert_eq!(
        server_code(bob.connection().add_members("one", &["dave"]).await),
        ErrorCode::Forbidden
    );
    let members = alice
        .connection()
        .list_members("one", "", 10)
        .await
        .unwrap();
    assert_eq!(members.members.len(), 2, "nothing changed");
    alice
        .connection()
        .add_members("one", &["dave"])
        .await
        .expect("the owner adds");
    bob.connection()
        .remove_members("one", &["bob"])
        .await
        .expect("a member leaves");
    let members = alice
        .connection()
        .list_members("one", "", 10)
        .await
        .unwrap();
    let ids: Vec<&str> = members.members.iter().map(|m| m.user_id.as_str()).collect();
    assert_eq!(ids, ["alice", "dave"]);
}
