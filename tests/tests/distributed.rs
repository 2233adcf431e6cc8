//! The distributed shape, for real: a CQL node and Redis (started by `make
//! test`), and every service as its own process. Messages cross gateways
//! through the registry; a gateway killed with `kill -9` loses nothing; a
//! gateway's stale clean-up never erases a newer registry entry.

use std::time::Duration;

use tidings_client::Device;
use tidings_registry::{RedisRegistry, Registry};
use tidings_testkit::{Cluster, dm, send_texts, synced_device};

const WAIT: Duration = Duration::from_secs(15);

async fn gateways_of(registry: &RedisRegistry, user: &str) -> Vec<String> {
    registry.lookup(&[user.to_string()]).await.unwrap()[0]
        .iter()
        .map(|route| route.gateway.clone())
        .collect()
}

#[tokio::test]
async fn messages_cross_gateways_and_survive_a_killed_gateway() {
    let cluster = Cluster::start(
        "e2e",
        &[
            ("TIDINGS__SEQUENCE__COMMIT_DEADLINE_MS", "2000"),
            ("TIDINGS__GATEWAY__REGISTRY_TTL_SECS", "30"),
            // Groups of more than 2 members use read diffusion here.
            ("TIDINGS__LOGIC__LARGE_GROUP_THRESHOLD", "2"),
        ],
    )
    .unwrap();
    let gw1 = cluster.gateway().unwrap();
    let gw2 = cluster.gateway().unwrap();
    let registry = cluster.registry().await.unwrap();

    // A user on gateway 1 messages a user on gateway 2: the push reaches
    // gateway 2 through the registry.
    let conversation = dm("alice", "bob");
    let alice = synced_device(&gw1.ws_url(), "alice", "a1").await;
    let mut bob = synced_device(&gw2.ws_url(), "bob", "b1").await;
    assert_eq!(
        gateways_of(&registry, "bob").await,
        [gw2.addr("gateway_grpc")]
    );
    alice
        .send(&conversation, "d-1", "text", "across gateways")
        .await
        .unwrap();
    let pushed = bob.next_push(WAIT).await.unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"across gateways");

    // kill -9 gateway 2; bob is gone while alice sends two more.
    gw2.kill();
    let missed = send_texts(&alice, &conversation, "missed", 2).await;
    // Bob reconnects to gateway 1, pulls, and misses nothing.
    bob.reconnect_to(&gw1.ws_url()).await.unwrap();
    let outcome = bob.pull_all().await.unwrap();
    let got: Vec<String> = outcome
        .applied
        .iter()
        .map(|e| e.message.as_ref().unwrap().message_id.clone())
        .collect();
    assert_eq!(got, missed);
    assert_eq!(
        gateways_of(&registry, "bob").await,
        [gw1.addr("gateway_grpc")]
    );

    // Stale clean-up: carol moves from gateway 3 to gateway 1 while her old
    // connection is still open; gateway 3 then shuts down and cleans up its
    // connections. The entry naming gateway 1 must survive.
    let gw3 = cluster.gateway().unwrap();
    let carol_old = synced_device(&gw3.ws_url(), "carol", "c1").await;
    assert_eq!(
        gateways_of(&registry, "carol").await,
        [gw3.addr("gateway_grpc")]
    );
    let mut carol = synced_device(&gw1.ws_url(), "carol", "c1").await;
    assert_eq!(
        gateways_of(&registry, "carol").await,
        [gw1.addr("gateway_grpc")]
    );
    let status = gw3.terminate().unwrap();
    assert!(status.success());
    assert!(carol_old.connection().wait_closed(WAIT).await.is_some());
    assert_eq!(
        gateways_of(&registry, "carol").await,
        [gw1.addr("gateway_grpc")],
        "gateway 3's clean-up erased the newer entry"
    );
    let carol_conversation = dm("alice", "carol");
    alice
        .send(&carol_conversation, "d-carol", "text", "still reachable")
        .await
        .unwrap();
    let pushed = carol.next_push(WAIT).await.unwrap();
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"still reachable");

    // Groups on the distributed shape: a small group (write diffusion) and a
    // large one (read diffusion: conversation pushes and heads reported by
    // sync, group tables on the CQL node).
    let small = alice
        .connection()
        .create_group("d-small", "small", &["bob"])
        .await
        .unwrap();
    assert!(!small.large);
    let large = alice
        .connection()
        .create_group("d-large", "large", &["bob", "carol"])
        .await
        .unwrap();
    assert!(large.large);
    alice
        .send("g:d-small", "ds-1", "text", "small group")
        .await
        .unwrap();
    alice
        .send("g:d-large", "dl-1", "text", "large group")
        .await
        .unwrap();
    let text_of = |device: &Device, conversation: &str| -> Vec<Vec<u8>> {
        device
            .messages_of(conversation)
            .iter()
            .filter(|m| m.kind == "text")
            .map(|m| m.body.clone())
            .collect()
    };
    // Carol is online: the large group's message reaches her as a push.
    let deadline = tokio::time::Instant::now() + WAIT;
    while text_of(&carol, "g:d-large").is_empty() && tokio::time::Instant::now() < deadline {
        let _ = carol.next_push(Duration::from_millis(500)).await;
    }
    assert_eq!(text_of(&carol, "g:d-large"), [b"large group".to_vec()]);
    // Bob pulls: the small group from his inbox, the large one from its head.
    bob.pull_all().await.unwrap();
    assert_eq!(text_of(&bob, "g:d-small"), [b"small group".to_vec()]);
    assert_eq!(text_of(&bob, "g:d-large"), [b"large group".to_vec()]);

    drop((cluster, gw1));
}
