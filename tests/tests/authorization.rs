//! Every way a client could reach another user's data over client frames
//! (DESIGN §6.5, §10): each is refused with its stable code, and nothing
//! stored changes. The connection is named by its token only; no frame
//! carries a user id the server would believe.

use tidings_core::ErrorCode;
use tidings_testkit::{TestServer, dm, server_code};

/// What the refused requests must not have touched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    heads: Vec<u64>,
    bob_carol: usize,
    team: usize,
    team_members: Vec<String>,
}

async fn snapshot(server: &TestServer, owner: &tidings_client::Device) -> Snapshot {
    let mut heads = Vec::new();
    for user in ["alice", "bob", "carol"] {
        heads.push(server.inbox_head(user).await);
    }
    let members = owner
        .connection()
        .list_members("team", "", 100)
        .await
        .unwrap()
        .members
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    Snapshot {
        heads,
        bob_carol: server.stored_messages(&dm("bob", "carol")).await.len(),
        team: server.stored_messages("g:team").await.len(),
        team_members: members,
    }
}

#[tokio::test]
async fn every_cross_user_path_over_client_frames_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let bob = server.synced_device("bob", "b1").await;
    let carol = server.synced_device("carol", "c1").await;
    let bob_carol = dm("bob", "carol");
    bob.send(&bob_carol, "secret-1", "text", "just us")
        .await
        .unwrap();
    // A group of bob and carol, owned by bob; alice is not in it.
    bob.connection()
        .create_group("team", "Team", &["carol"])
        .await
        .unwrap();
    carol
        .send("g:team", "t-1", "text", "team only")
        .await
        .unwrap();
    let before = snapshot(&server, &bob).await;
    let conn = alice.connection();

    // Writing where alice does not belong.
    assert_eq!(
        server_code(alice.send(&bob_carol, "x-1", "text", "let me in").await),
        ErrorCode::NotMember,
        "send into another pair's conversation"
    );
    assert_eq!(
        server_code(alice.send("g:team", "x-2", "text", "hi").await),
        ErrorCode::NotMember,
        "send into a group one is not in"
    );
    assert_eq!(
        server_code(conn.add_members("team", &["alice"]).await),
        ErrorCode::NotMember,
        "adding oneself to a group one is not in"
    );
    assert_eq!(
        server_code(conn.remove_members("team", &["carol"]).await),
        ErrorCode::NotMember,
        "removing members of a group one is not in"
    );
    assert_eq!(
        server_code(carol.connection().remove_members("team", &["bob"]).await),
        ErrorCode::Forbidden,
        "a member removing the owner"
    );
    assert_eq!(
        server_code(conn.read_ack(&bob_carol, 1).await),
        ErrorCode::NotMember,
        "moving another pair's read position"
    );

    // Reading where alice does not belong.
    assert_eq!(
        server_code(alice.history(&bob_carol, 0, 10).await),
        ErrorCode::NotMember,
        "another pair's history"
    );
    assert_eq!(
        server_code(alice.history("g:team", 0, 10).await),
        ErrorCode::NotMember,
        "a group's history"
    );
    assert_eq!(
        server_code(conn.pull_conversation("g:team", 0, 10).await),
        ErrorCode::NotMember,
        "pulling a group's timeline"
    );
    assert_eq!(
        server_code(conn.list_members("team", "", 10).await),
        ErrorCode::NotMember,
        "a group's member list"
    );
    // Pulls and the conversation list name no user: they are alice's own,
    // and show nothing of bob's and carol's.
    let page = conn.pull(0, 100).await.unwrap();
    assert!(
        page.entries.is_empty(),
        "alice's inbox holds nothing of theirs"
    );
    let list = conn.conversation_list(10).await.unwrap();
    assert!(list.conversations.is_empty(), "{list:?}");
    let groups = conn.list_groups().await.unwrap();
    assert!(groups.groups.is_empty(), "{groups:?}");

    assert_eq!(snapshot(&server, &bob).await, before, "nothing changed");
    // And the members themselves are still served.
    carol.history(&bob_carol, 0, 10).await.unwrap();
}

/// System senders (`system.<name>`) speak for the product through the
/// server API; no client token may name one.
#[tokio::test]
async fn no_client_connects_as_a_system_sender() {
    let server = TestServer::start().await;
    let conn = tidings_client::Connection::connect(&server.url())
        .await
        .unwrap();
    let refused = conn.hello("dev:system.billing", "d1", 0).await;
    assert_eq!(server_code(refused), ErrorCode::Unauthenticated);
    // The connection stays, and a proper hello still works on it.
    conn.hello("dev:alice", "d1", 0).await.unwrap();
}
