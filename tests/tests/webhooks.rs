//! Webhooks against a real HTTP endpoint started by the test (a small
//! HTTP/1.1 server on a loopback socket): every request's signature
//! verifies; before_send rejects and rewrites; offline pushes carry the
//! user's push tokens and a badge equal to the unread counts of the
//! conversation list; and with the endpoint down for 30 s and the server
//! killed with `kill -9` meanwhile, every event arrives once per
//! idempotency id after the endpoint is back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tidings_client::Device;
use tidings_core::ErrorCode;
use tidings_testkit::{ProcessServer, TestServer, dm, server_code};
use tidings_webhooks::signature::{EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, verify};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const SECRET: &str = "a webhook secret of some length";
const WAIT: Duration = Duration::from_secs(20);

/// One request the endpoint received.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    id: String,
    body: Value,
}

/// A webhook endpoint: verifies every signature (a bad one fails the test
/// through `bad_signatures`), records requests, answers before_send by body.
#[derive(Clone, Default)]
struct Endpoint {
    received: Arc<Mutex<Vec<Received>>>,
    bad_signatures: Arc<Mutex<u32>>,
}

impl Endpoint {
    /// Serves on `listener` until the task is aborted.
    fn serve(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let this = this.clone();
                tokio::spawn(async move {
                    let _ = this.connection(socket).await;
                });
            }
        })
    }

    async fn connection(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        loop {
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            loop {
                line.clear();
                read.read_line(&mut line).await?;
                let trimmed = line.trim_end();
                if trimmed.is_empty() {
                    break;
                }
                if let Some((name, value)) = trimmed.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            read.read_exact(&mut body).await?;
            let signature = headers.get(SIGNATURE_HEADER).cloned().unwrap_or_default();
            let now = tidings_webhooks::now_ms();
            if verify(
                SECRET.as_bytes(),
                &signature,
                &body,
                now,
                Duration::from_secs(300),
            )
            .is_err()
            {
                *self.bad_signatures.lock().unwrap() += 1;
            }
            let event = headers.get(EVENT_HEADER).cloned().unwrap_or_default();
            let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = if event == "before_send" {
                match parsed["body"].as_str() {
                    Some("buy cheap pills") => r#"{"action":"reject","reason":"no spam here"}"#,
                    Some("rewrite me") => r#"{"action":"replace","body":"rewritten"}"#,
                    _ => r#"{"action":"allow"}"#,
                }
            } else {
                ""
            };
            self.received.lock().unwrap().push(Received {
                event,
                id: headers.get(EVENT_ID_HEADER).cloned().unwrap_or_default(),
                body: parsed,
            });
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
            write.write_all(response.as_bytes()).await?;
        }
    }

    fn of(&self, event: &str) -> Vec<Received> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|r| r.event == event)
            .cloned()
            .collect()
    }

    async fn wait_for(&self, event: &str, ids: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.of(event);
            let unique: BTreeSet<&String> = got.iter().map(|r| &r.id).collect();
            if unique.len() >= ids {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{event}: {} of {ids} ids arrived",
                unique.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}/{path}")
}

async fn history_bodies(device: &Device, conversation: &str) -> Vec<String> {
    let page = device.history(conversation, 0, 50).await.unwrap();
    let mut bodies: Vec<(u64, String)> = page
        .messages
        .into_iter()
        .map(|m| (m.conv_seq, String::from_utf8_lossy(&m.body).into_owned()))
        .collect();
    bodies.sort();
    bodies.into_iter().map(|(_, b)| b).collect()
}

/// An endpoint serving on a fresh port, and an all-in-one whose webhooks
/// `sections(port)` configures (the outbox in the server's temp directory).
async fn with_webhooks(sections: impl FnOnce(u16) -> Value) -> (Endpoint, TestServer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let endpoint = Endpoint::default();
    // The task ends with the test's runtime.
    drop(endpoint.serve(listener));
    let server = TestServer::start_with(|config| {
        let mut webhooks = sections(port);
        webhooks["outbox_dir"] =
            Value::from(config.data_dir.join("webhooks").display().to_string());
        config.webhooks = serde_json::from_value(webhooks).unwrap();
    })
    .await;
    (endpoint, server)
}

#[tokio::test]
async fn before_send_rejects_and_rewrites_with_signed_requests() {
    let (endpoint, server) = with_webhooks(|port| {
        serde_json::json!({
            "before_send": {"url": url(port, "before-send"), "secret": SECRET, "fail_open": false},
            "message_committed": {"url": url(port, "committed"), "secret": SECRET},
        })
    })
    .await;
    let alice = server.synced_device("alice", "phone").await;
    let bob = server.synced_device("bob", "phone").await;
    let conversation = dm("alice", "bob");

    alice
        .send(&conversation, "m1", "text", "hello")
        .await
        .unwrap();
    let rejected = alice
        .send(&conversation, "m2", "text", "buy cheap pills")
        .await;
    let error = rejected.as_ref().unwrap_err().to_string();
    assert_eq!(server_code(rejected), ErrorCode::Rejected);
    assert!(error.contains("no spam here"), "{error}");
    let rewritten = alice
        .send(&conversation, "m3", "text", "rewrite me")
        .await
        .unwrap();
    // A retry of the rewritten send is answered from its dedupe record.
    let again = alice
        .send(&conversation, "m3", "text", "rewrite me")
        .await
        .unwrap();
    assert_eq!(again.message_id, rewritten.message_id);
    assert!(again.duplicate);
    // Bad input is refused before the hook and stores nothing.
    let empty_id = alice.send(&conversation, "", "text", "x").await;
    assert_eq!(server_code(empty_id), ErrorCode::InvalidArgument);

    assert_eq!(
        history_bodies(&bob, &conversation).await,
        ["hello", "rewritten"]
    );
    let checked: Vec<String> = endpoint
        .of("before_send")
        .iter()
        .map(|r| r.body["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(checked, ["hello", "buy cheap pills", "rewrite me"]);
    let committed = endpoint.wait_for("message_committed", 2).await;
    let bodies: BTreeSet<&str> = committed
        .iter()
        .map(|r| r.body["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, BTreeSet::from(["hello", "rewritten"]));
    assert_eq!(*endpoint.bad_signatures.lock().unwrap(), 0);
}

#[tokio::test]
async fn offline_pushes_carry_tokens_and_the_conversation_list_badge() {
    let (endpoint, server) = with_webhooks(
        |port| serde_json::json!({"offline_push": {"url": url(port, "push"), "secret": SECRET}}),
    )
    .await;
    let bob = server.synced_device("bob", "phone").await;
    assert!(
        bob.connection()
            .register_push_token("apns", "bob-phone-token")
            .await
            .unwrap()
    );
    let bad = bob.connection().register_push_token("APNs!", "t").await;
    assert_eq!(server_code(bad), ErrorCode::InvalidArgument);
    drop(bob);
    // Unregistering is asynchronous to the socket closing.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let alice = server.synced_device("alice", "phone").await;
    let carol = server.synced_device("carol", "phone").await;
    for i in 0..3 {
        alice
            .send(
                &dm("alice", "bob"),
                &format!("a{i}"),
                "text",
                format!("from alice {i}"),
            )
            .await
            .unwrap();
    }
    carol
        .send(&dm("bob", "carol"), "c0", "text", "from carol")
        .await
        .unwrap();
    let pushes = endpoint.wait_for("offline_push", 4).await;
    assert_eq!(*endpoint.bad_signatures.lock().unwrap(), 0);
    // Alice and Carol are online: nobody else is pushed.
    for push in &pushes {
        let recipients = push.body["recipients"].as_array().unwrap();
        assert_eq!(recipients.len(), 1, "{push:?}");
        assert_eq!(recipients[0]["user_id"], "bob");
        assert_eq!(recipients[0]["push_tokens"][0]["token"], "bob-phone-token");
        assert_eq!(recipients[0]["push_tokens"][0]["platform"], "apns");
    }
    let highest_badge = pushes
        .iter()
        .map(|p| p.body["recipients"][0]["badge"].as_u64().unwrap())
        .max()
        .unwrap();
    let bob = server.synced_device("bob", "tablet").await;
    let list = bob.connection().conversation_list(0).await.unwrap();
    let unread: u64 = list.conversations.iter().map(|c| c.unread).sum();
    assert_eq!(unread, 4);
    assert_eq!(highest_badge, unread);
    let preview: BTreeSet<&str> = pushes
        .iter()
        .map(|p| p.body["preview"].as_str().unwrap())
        .collect();
    assert!(preview.contains("from carol"));
}

/// Sends messages `numbers` from `alice` to bob and records the id of each
/// one's message_committed event.
async fn send_numbered(alice: &Device, numbers: std::ops::Range<u32>, ids: &mut BTreeSet<String>) {
    for i in numbers {
        let ack = alice
            .send(
                &dm("alice", "bob"),
                &format!("m{i}"),
                "text",
                format!("message {i}"),
            )
            .await
            .unwrap();
        ids.insert(format!("message_committed.{}", ack.message_id));
    }
}

#[tokio::test]
async fn events_survive_an_endpoint_outage_and_kill_9() {
    // A port nobody listens on yet: the endpoint is down.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let outbox = dir.path().join("outbox").display().to_string();
    let committed = url(port, "committed");
    let env = [
        (
            "TIDINGS__WEBHOOKS__MESSAGE_COMMITTED__URL",
            committed.as_str(),
        ),
        ("TIDINGS__WEBHOOKS__MESSAGE_COMMITTED__SECRET", SECRET),
        (
            "TIDINGS__WEBHOOKS__MESSAGE_COMMITTED__RETRY__INITIAL_BACKOFF_MS",
            "200",
        ),
        (
            "TIDINGS__WEBHOOKS__MESSAGE_COMMITTED__RETRY__MAX_BACKOFF_MS",
            "1000",
        ),
        (
            "TIDINGS__WEBHOOKS__MESSAGE_COMMITTED__RETRY__MAX_ATTEMPTS",
            "1000",
        ),
        ("TIDINGS__WEBHOOKS__OUTBOX_DIR", outbox.as_str()),
    ];
    let down_since = tokio::time::Instant::now();
    let server = ProcessServer::start(&data, &env).unwrap();
    let alice = tidings_testkit::synced_device(&server.ws_url, "alice", "phone").await;
    let mut ids = BTreeSet::new();
    send_numbered(&alice, 0..20, &mut ids).await;
    drop(alice);
    server.kill();
    let server = ProcessServer::start(&data, &env).unwrap();
    let alice = tidings_testkit::synced_device(&server.ws_url, "alice", "phone").await;
    send_numbered(&alice, 20..25, &mut ids).await;
    // The endpoint comes back after 30 s of outage.
    tokio::time::sleep_until(down_since + Duration::from_secs(30)).await;
    let endpoint = Endpoint::default();
    let _serving = endpoint.serve(TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    let received = endpoint.wait_for("message_committed", ids.len()).await;
    let got: BTreeSet<String> = received.iter().map(|r| r.id.clone()).collect();
    assert_eq!(got, ids, "every committed message's event, no other");
    for r in &received {
        let id = r.body["message"]["message_id"].as_str().unwrap();
        assert_eq!(r.id, format!("message_committed.{id}"));
    }
    assert_eq!(*endpoint.bad_signatures.lock().unwrap(), 0);
    server.kill();
}
