//! A real gRPC client (grpcurl, built by scripts/grpcurl.sh) lists every
//! service through reflection, calls a health check and a read API. Every
//! call but health carries the service credential (`service_credentials.rs`
//! shows what happens without it).

use std::path::PathBuf;

use tidings_testkit::{TestServer, dm, send_texts, service_token};

fn grpcurl() -> PathBuf {
    let path = std::env::var("TIDINGS_GRPCURL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/grpcurl")
        });
    assert!(
        path.exists(),
        "grpcurl not found at {}: run scripts/grpcurl.sh (make test does)",
        path.display()
    );
    path
}

async fn run(args: &[&str]) -> String {
    let output = tokio::process::Command::new(grpcurl())
        .args(args)
        .output()
        .await
        .expect("grpcurl runs");
    assert!(
        output.status.success(),
        "grpcurl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[tokio::test]
async fn grpcurl_lists_services_checks_health_and_reads_history() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let conversation = dm("alice", "bob");
    let ids = send_texts(&alice, &conversation, "hello", 2).await;

    let a = server.addresses;
    let authorization = format!("authorization: Bearer {}", service_token().reveal());
    let with_token = ["-plaintext", "-H", authorization.as_str()];
    let services = [
        (
            a.sequence.to_string(),
            "tidings.sequence.v1.SequenceService",
        ),
        (a.store.to_string(), "tidings.store.v1.StoreService"),
        (a.sync.to_string(), "tidings.sync.v1.SyncService"),
        (a.logic.to_string(), "tidings.logic.v1.LogicService"),
        (
            a.gateway_grpc.to_string(),
            "tidings.gateway.v1.GatewayService",
        ),
    ];
    for (addr, name) in &services {
        let listed = run(&[&with_token[..], &[addr.as_str(), "list"]].concat()).await;
        for expected in [
            *name,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ] {
            assert!(
                listed.lines().any(|l| l.trim() == expected),
                "{addr} lists {listed:?}, not {expected}"
            );
        }
        let health = run(&[
            "-plaintext",
            "-H",
            &authorization,
            "-d",
            &format!("{{\"service\":\"{name}\"}}"),
            addr,
            "grpc.health.v1.Health/Check",
        ])
        .await;
        assert!(health.contains("\"SERVING\""), "{addr}: {health}");
    }

    let store = a.store.to_string();
    let described = run(&[
        &with_token[..],
        &[store.as_str(), "describe", "tidings.store.v1.StoreService"],
    ]
    .concat())
    .await;
    assert!(described.contains("rpc History"), "{described}");
    let request = format!("{{\"conversationId\":\"{conversation}\",\"limit\":10}}");
    let history = run(&[
        &with_token[..],
        &[
            "-d",
            request.as_str(),
            store.as_str(),
            "tidings.store.v1.StoreService/History",
        ],
    ]
    .concat())
    .await;
    for id in &ids {
        assert!(
            history.contains(id.as_str()),
            "history lacks {id}: {history}"
        );
    }
    assert!(
        history.contains("\"sender_id\"") || history.contains("\"senderId\""),
        "{history}"
    );
    server.shutdown().await;
}
