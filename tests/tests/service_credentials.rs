//! Internal gRPC ports refuse callers without the service credential
//! (`grpc.service_token`, DESIGN §10): a real gRPC client (grpcurl, built by
//! scripts/grpcurl.sh) that has the proto files but not the token can
//! neither send as alice through logic nor read bob's inbox through sync,
//! and changes nothing; with `authorization: Bearer <token>` the same calls
//! are served; health checks need no token. The distributed shape runs as
//! processes on the CQL node and Redis that `make test` starts.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use tidings_testkit::{Cluster, ProcessServer, binary, dm, service_token, synced_device};

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

/// The proto files, as any caller of an open-source server has them:
/// reflection needs the token, so requests are encoded from these. The
/// health proto is a copy of gRPC's (`tests/proto`).
fn proto_args(file: &str) -> Vec<String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = if file.starts_with("grpc/") {
        manifest.join("proto")
    } else {
        manifest.join("../proto")
    };
    vec![
        "-import-path".into(),
        root.display().to_string(),
        "-proto".into(),
        file.into(),
    ]
}

/// Who the caller claims to be.
#[derive(Clone, Copy)]
enum Caller<'a> {
    /// No `authorization` metadata.
    Anonymous,
    /// `authorization: Bearer <token>`.
    Bearer(&'a str),
}

/// Calls `method` of the service at `addr` with `json`.
async fn call(caller: Caller<'_>, proto: &str, addr: &str, method: &str, json: &str) -> Output {
    let mut args = vec!["-plaintext".to_string()];
    args.extend(proto_args(proto));
    if let Caller::Bearer(token) = caller {
        args.push("-H".into());
        args.push(format!("authorization: Bearer {token}"));
    }
    args.extend(["-d".into(), json.into(), addr.into(), method.into()]);
    tokio::process::Command::new(grpcurl())
        .args(&args)
        .output()
        .await
        .expect("grpcurl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the call was served and returns its answer.
fn served(output: Output) -> String {
    assert!(
        output.status.success(),
        "expected an answer, got: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// Asserts the call was refused as unauthenticated with `why` in the
/// message, and that nothing of an answer came back.
fn refused(output: Output, why: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "served: {}", stdout(&output));
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    assert!(stdout(&output).trim().is_empty(), "{}", stdout(&output));
}

const SYNC: &str = "tidings/sync/v1/sync.proto";
const LOGIC: &str = "tidings/logic/v1/logic.proto";
const PULL: &str = "tidings.sync.v1.SyncService/Pull";
const SEND: &str = "tidings.logic.v1.LogicService/Send";
const HEALTH: &str = "grpc/health/v1/health.proto";
const HEALTH_CHECK: &str = "grpc.health.v1.Health/Check";

fn pull_bob() -> String {
    r#"{"userId":"bob","after":0,"limit":10}"#.to_string()
}

/// A send as alice to bob; `body` is base64 (`"aGVsbG8gYm9i"` = "hello bob").
fn send_as_alice(client_msg_id: &str) -> String {
    format!(
        r#"{{"senderId":"alice","senderDevice":"a1","conversationId":"{}","clientMsgId":"{client_msg_id}","kind":"text","body":"aGVsbG8gYm9i"}}"#,
        dm("alice", "bob")
    )
}

/// The entries of bob's inbox, read with the credential.
async fn bob_inbox(sync: &str, token: &str) -> Vec<serde_json::Value> {
    let page = served(call(Caller::Bearer(token), SYNC, sync, PULL, &pull_bob()).await);
    let page: serde_json::Value = serde_json::from_str(&page).expect("a JSON page");
    page.get("entries")
        .and_then(|entries| entries.as_array())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn internal_calls_without_the_service_credential_are_refused_and_change_nothing() {
    let cluster = Cluster::start("credentials", &[]).unwrap();
    let gateway = cluster.gateway().unwrap();
    let token = service_token().reveal();
    let (logic, sync) = (cluster.logic.addr("logic"), cluster.sync.addr("sync"));

    // Logic refuses to send as alice, and bob's inbox stays empty.
    refused(
        call(Caller::Anonymous, LOGIC, &logic, SEND, &send_as_alice("c1")).await,
        "missing service credential",
    );
    refused(
        call(
            Caller::Bearer("not-the-service-token-0123456789"),
            LOGIC,
            &logic,
            SEND,
            &send_as_alice("c1"),
        )
        .await,
        "invalid service credential",
    );
    assert_eq!(
        bob_inbox(&sync, token).await,
        Vec::<serde_json::Value>::new()
    );

    // With the token the same send is served (logic's own calls to sequence,
    // store and sync carry the cluster's token), and bob's device gets it.
    let mut bob = synced_device(&gateway.ws_url(), "bob", "b1").await;
    let sent = served(
        call(
            Caller::Bearer(token),
            LOGIC,
            &logic,
            SEND,
            &send_as_alice("c1"),
        )
        .await,
    );
    assert!(
        sent.contains("messageId") || sent.contains("message_id"),
        "{sent}"
    );
    let inbox = bob_inbox(&sync, token).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(inbox[0].to_string().contains("aGVsbG8gYm9i"), "{inbox:?}");
    let head = bob.pull_all().await.expect("bob pulls").head;
    assert_eq!(head, 1);

    // Sync refuses to hand bob's inbox to a caller without the token: the
    // refusal carries nothing of it.
    refused(
        call(Caller::Anonymous, SYNC, &sync, PULL, &pull_bob()).await,
        "missing service credential",
    );
    refused(
        call(Caller::Bearer("Bearer"), SYNC, &sync, PULL, &pull_bob()).await,
        "invalid service credential",
    );

    // Health stays open on every internal port (probes carry no token);
    // reflection does not.
    let ports = [
        (
            cluster.sequence.addr("sequence"),
            "tidings.sequence.v1.SequenceService",
        ),
        (cluster.store.addr("store"), "tidings.store.v1.StoreService"),
        (sync.clone(), "tidings.sync.v1.SyncService"),
        (logic.clone(), "tidings.logic.v1.LogicService"),
        (
            gateway.addr("gateway_grpc"),
            "tidings.gateway.v1.GatewayService",
        ),
    ];
    for (addr, service) in &ports {
        let request = format!(r#"{{"service":"{service}"}}"#);
        let health = call(Caller::Anonymous, HEALTH, addr, HEALTH_CHECK, &request).await;
        assert!(served(health).contains("\"SERVING\""), "{addr}");
        let listed = tokio::process::Command::new(grpcurl())
            .args(["-plaintext", addr, "list"])
            .output()
            .await
            .expect("grpcurl runs");
        let stderr = String::from_utf8_lossy(&listed.stderr);
        assert!(!listed.status.success(), "{addr} lists without the token");
        assert!(stderr.contains("Unauthenticated"), "{addr}: {stderr}");
    }
}

#[test]
fn a_one_service_binary_without_a_service_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(binary("tidings-store"))
        .env_remove("TIDINGS__GRPC__SERVICE_TOKEN")
        .env("TIDINGS__DATA_DIR", dir.path())
        .env("TIDINGS__LISTEN__STORE", "127.0.0.1:0")
        .env("TIDINGS__LISTEN__METRICS", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("tidings-store started without a service token");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("tidings-store cannot start")
            && stderr.contains("grpc.service_token (or grpc.service_token_file) must be set"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_all_in_one_without_a_configured_token_generates_one() {
    let dir = tempfile::tempdir().unwrap();
    // No token configured; the services call each other over loopback
    // sockets, so every internal call carries the generated token.
    let server = ProcessServer::start(
        dir.path(),
        &[
            ("TIDINGS__GRPC__SERVICE_TOKEN", ""),
            ("TIDINGS__ALL_IN_ONE__CALLS", "loopback"),
        ],
    )
    .unwrap();
    let alice = synced_device(&server.ws_url, "alice", "a1").await;
    let mut bob = synced_device(&server.ws_url, "bob", "b1").await;
    alice
        .send(&dm("alice", "bob"), "c1", "text", "hello bob")
        .await
        .expect("send through the all-in-one's own authenticated calls");
    assert_eq!(bob.pull_all().await.expect("bob pulls").head, 1);

    // Nobody outside knows the generated token: not even this test's.
    for caller in [Caller::Anonymous, Caller::Bearer(service_token().reveal())] {
        let output = call(caller, SYNC, &server.sync, PULL, &pull_bob()).await;
        assert!(!output.status.success(), "served: {}", stdout(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Unauthenticated"), "{stderr}");
    }
    let health = call(Caller::Anonymous, HEALTH, &server.sync, HEALTH_CHECK, "{}").await;
    assert!(served(health).contains("\"SERVING\""));
    server.terminate().unwrap();
}
