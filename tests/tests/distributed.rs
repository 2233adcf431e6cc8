//! The distributed shape, for real: a CQL node and Redis (started by `make
//! test`), and every service as its own process. Messages cross gateways
//! through the registry; a gateway killed with `kill -9` loses nothing; a
//! gateway's stale clean-up never erases a newer registry entry.

use std::time::Duration;

use tidings_client::{Device, dev_token};
use tidings_registry::{RedisRegistry, RedisRegistryOptions, Registry};
use tidings_testkit::{ServiceProcess, dm};

const WAIT: Duration = Duration::from_secs(15);

fn cql() -> String {
    std::env::var("TIDINGS_TEST_SCYLLA")
        .or_else(|_| std::env::var("TIDINGS_TEST_CQL"))
        .unwrap_or_else(|_| "127.0.0.1:19042".into())
}

fn redis() -> String {
    std::env::var("TIDINGS_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:16379".into())
}

/// Settings shared by every process of one test cluster.
fn cluster_env(keyspace: &str, prefix: &str) -> Vec<(String, String)> {
    [
        ("TIDINGS__STORAGE__BACKEND", "scylla".to_string()),
        ("TIDINGS__SCYLLA__CONTACT_POINTS", cql()),
        ("TIDINGS__SCYLLA__KEYSPACE", keyspace.to_string()),
        ("TIDINGS__REGISTRY__BACKEND", "redis".to_string()),
        ("TIDINGS__REGISTRY__URL", redis()),
        ("TIDINGS__REGISTRY__KEY_PREFIX", prefix.to_string()),
        ("TIDINGS__SEQUENCE__COMMIT_DEADLINE_MS", "2000".to_string()),
        ("TIDINGS__GATEWAY__REGISTRY_TTL_SECS", "30".to_string()),
        // Groups of more than 2 members use read diffusion here.
        ("TIDINGS__LOGIC__LARGE_GROUP_THRESHOLD", "2".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn with(mut env: Vec<(String, String)>, extra: &[(&str, String)]) -> Vec<(String, String)> {
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    env
}

async fn device(url: &str, user: &str, id: &str) -> Device {
    let (mut device, _) = Device::connect(url, &dev_token(user), id, 0)
        .await
        .expect("device connects");
    device.pull_all().await.expect("initial pull");
    device
}

async fn gateways_of(registry: &RedisRegistry, user: &str) -> Vec<String> {
    registry.lookup(&[user.to_string()]).await.unwrap()[0]
        .iter()
        .map(|route| route.gateway.clone())
        .collect()
}

#[tokio::test]
async fn messages_cross_gateways_and_survive_a_killed_gateway() {
    let unique = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let keyspace = format!("tidings_e2e_{unique}");
    let prefix = format!("tidings-e2e-{unique}:");
    let env = cluster_env(&keyspace, &prefix);

    let migrate = std::process::Command::new(tidings_testkit::binary("tidings"))
        .arg("migrate")
        .envs(env.iter().cloned())
        .status()
        .expect("tidings migrate runs");
    assert!(
        migrate.success(),
        "tidings migrate failed; is the CQL node up (scripts/cassandra.sh start)?"
    );

    let sequence = ServiceProcess::start("tidings-sequence", &env).unwrap();
    let store = ServiceProcess::start("tidings-store", &env).unwrap();
    let peers_sequence = ("TIDINGS__PEERS__SEQUENCE", sequence.addr("sequence"));
    let sync = ServiceProcess::start(
        "tidings-sync",
        &with(env.clone(), std::slice::from_ref(&peers_sequence)),
    )
    .unwrap();
    let logic = ServiceProcess::start(
        "tidings-logic",
        &with(
            env.clone(),
            &[
                peers_sequence.clone(),
                ("TIDINGS__PEERS__STORE", store.addr("store")),
                ("TIDINGS__PEERS__SYNC", sync.addr("sync")),
            ],
        ),
    )
    .unwrap();
    let gateway_env = with(
        env.clone(),
        &[
            ("TIDINGS__PEERS__LOGIC", logic.addr("logic")),
            ("TIDINGS__PEERS__SYNC", sync.addr("sync")),
        ],
    );
    let gw1 = ServiceProcess::start("tidings-gateway", &gateway_env).unwrap();
    let gw2 = ServiceProcess::start("tidings-gateway", &gateway_env).unwrap();
    let registry = RedisRegistry::connect_with(
        &redis(),
        RedisRegistryOptions {
            key_prefix: prefix.clone(),
            ..RedisRegistryOptions::default()
        },
    )
    .await
    .expect("redis reachable; run scripts/redis.sh start");

    // A user on gateway 1 messages a user on gateway 2: the push reaches
    // gateway 2 through the registry.
    let conversation = dm("alice", "bob");
    let alice = device(&gw1.ws_url(), "alice", "a1").await;
    let mut bob = device(&gw2.ws_url(), "bob", "b1").await;
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
    let mut missed = Vec::new();
    for i in 0..2 {
        let ack = alice
            .send(
                &conversation,
                &format!("d-missed-{i}"),
                "text",
                format!("while away {i}"),
            )
            .await
            .unwrap();
        missed.push(ack.message_id);
    }
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
    let gw3 = ServiceProcess::start("tidings-gateway", &gateway_env).unwrap();
    let carol_old = device(&gw3.ws_url(), "carol", "c1").await;
    assert_eq!(
        gateways_of(&registry, "carol").await,
        [gw3.addr("gateway_grpc")]
    );
    let mut carol = device(&gw1.ws_url(), "carol", "c1").await;
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

    drop((sequence, store, sync, logic, gw1));
}
