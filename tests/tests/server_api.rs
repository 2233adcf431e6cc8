//! The public server API against a real all-in-one: JSON over HTTP with a
//! real HTTP client, gRPC with a tonic client and with grpcurl. Sends (as a
//! system sender and as a user) reach the recipient's real WebSocket
//! device; retries are stored once; keys and scopes are enforced; bad input
//! gets a clear code and stores nothing; a disconnected device is told,
//! closed with code 4000, and reconnects.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tidings_client::Disconnect;
use tidings_proto::server::v1::{self as pb, server_api_client::ServerApiClient};
use tidings_server_api::config::ApiKeyConfig;
use tidings_server_api::{Scope, hash_key};
use tidings_testkit::{TestServer, dm};

const BACKEND: &str = "key-backend-0123456789";
const READER: &str = "key-reader-0123456789";
const OPS: &str = "key-ops-0123456789";
const WAIT: Duration = Duration::from_secs(5);

async fn server() -> TestServer {
    TestServer::start_with(|config| {
        let key = |name: &str, secret: &str, scopes: Vec<Scope>| ApiKeyConfig {
            name: name.into(),
            sha256: hash_key(secret),
            scopes,
        };
        config.server_api.keys = vec![
            key(
                "backend",
                BACKEND,
                vec![Scope::Send, Scope::Groups, Scope::Read],
            ),
            key("reader", READER, vec![Scope::Read]),
            key("ops", OPS, vec![Scope::Admin]),
        ];
    })
    .await
}

/// `POST /api/v1/<method>` over HTTP/1.1; the status and the JSON answer.
async fn post(addr: SocketAddr, method: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::post(format!("/api/v1/{method}"))
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(request).await.expect("http answer");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let answer = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, answer)
}

fn grpc_request<T>(key: Option<&str>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(key) = key {
        let value = format!("Bearer {key}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

async fn history_len(addr: SocketAddr, conversation: &str) -> usize {
    let body = json!({ "conversationId": conversation }).to_string();
    let (status, answer) = post(addr, "ReadHistory", Some(READER), &body).await;
    assert_eq!(status, 200, "{answer}");
    answer["messages"].as_array().unwrap().len()
}

#[tokio::test]
async fn http_sends_reach_devices_once_and_keys_scopes_and_bad_input_are_refused() {
    let server = server().await;
    let api = server.addresses.server_api;
    let mut alice = server.synced_device("alice", "a1").await;

    // A system sender, to the user's 1:1 conversation with it.
    let notices = dm("alice", "system.billing");
    let body = json!({
        "system": "billing", "conversationId": notices,
        "idempotencyKey": "invoice-1", "kind": "text", "text": "your invoice",
    });
    let (status, sent) = post(api, "SendMessage", Some(BACKEND), &body.to_string()).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["senderId"], "system.billing");
    assert_eq!(sent["duplicate"], false);
    let pushed = alice.next_push(WAIT).await.expect("push of the notice");
    let message = pushed[0].message.as_ref().unwrap();
    assert_eq!(message.sender_id, "system.billing");
    assert_eq!(message.body, b"your invoice");

    // As a user, retried with the same idempotency key: stored once.
    let conversation = dm("alice", "bob");
    let body = json!({
        "userId": "bob", "conversationId": conversation,
        "idempotencyKey": "k1", "body": "aGVsbG8=",
    })
    .to_string();
    let (status, first) = post(api, "SendMessage", Some(BACKEND), &body).await;
    assert_eq!(status, 200, "{first}");
    let pushed = alice.next_push(WAIT).await.expect("push of bob's message");
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"hello");
    let (status, retry) = post(api, "SendMessage", Some(BACKEND), &body).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["messageId"], first["messageId"]);
    assert_eq!(history_len(api, &conversation).await, 1);
    let (_, history) = post(
        api,
        "ReadHistory",
        Some(READER),
        &json!({ "conversationId": conversation, "asUserId": "alice" }).to_string(),
    )
    .await;
    assert_eq!(history["messages"][0]["text"], "hello");

    // No key, an unknown key, a key without `send`.
    let other = json!({
        "userId": "bob", "conversationId": conversation, "idempotencyKey": "k2", "text": "x",
    })
    .to_string();
    let (status, refused) = post(api, "SendMessage", None, &other).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, refused) = post(api, "SendMessage", Some("not-a-key"), &other).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, refused) = post(api, "SendMessage", Some(READER), &other).await;
    assert_eq!((status, refused["code"].as_str()), (403, Some("forbidden")));
    assert!(
        refused["message"].as_str().unwrap().contains("\"send\""),
        "{refused}"
    );

    // Bad input: an empty user, an unknown method, malformed JSON.
    let empty_user = json!({
        "userId": "", "conversationId": conversation, "idempotencyKey": "k3", "text": "x",
    })
    .to_string();
    let (status, refused) = post(api, "SendMessage", Some(BACKEND), &empty_user).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    let (status, refused) = post(api, "SendMesage", Some(BACKEND), &other).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (404, Some("unknown_frame"))
    );
    let (status, refused) = post(api, "SendMessage", Some(BACKEND), "{\"userId\": ").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("malformed_frame"))
    );
    let (status, refused) = post(api, "SendMessage", Some(BACKEND), "{\"user\": \"bob\"}").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("malformed_frame"))
    );
    // A user may not write where it does not belong.
    let outsider = json!({
        "userId": "carol", "conversationId": conversation, "idempotencyKey": "k4", "text": "x",
    })
    .to_string();
    let (status, refused) = post(api, "SendMessage", Some(BACKEND), &outsider).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("not_member"))
    );
    assert_eq!(
        history_len(api, &conversation).await,
        1,
        "nothing more stored"
    );

    server.shutdown().await;
}

#[tokio::test]
async fn grpc_manages_groups_lists_and_disconnects_devices() {
    let server = server().await;
    let api = server.addresses.server_api;
    let mut client = ServerApiClient::connect(format!("http://{api}"))
        .await
        .expect("grpc connects");
    let mut bob = server.synced_device("bob", "b1").await;

    let group = client
        .create_group(grpc_request(
            Some(BACKEND),
            pb::CreateGroupRequest {
                owner_id: "alice".into(),
                group_id: "team".into(),
                name: "Team".into(),
                member_ids: vec!["bob".into()],
            },
        ))
        .await
        .expect("group created")
        .into_inner();
    assert_eq!(
        (group.conversation_id.as_str(), group.member_count),
        ("g:team", 2)
    );
    // Bob's devices hear of the membership change.
    bob.next_push(WAIT).await.expect("membership push");

    // A system sender posts to a group it is not a member of.
    let sent = client
        .send_message(grpc_request(
            Some(BACKEND),
            pb::SendMessageRequest {
                sender: Some(pb::send_message_request::Sender::System(
                    "announcements".into(),
                )),
                conversation_id: "g:team".into(),
                idempotency_key: "welcome".into(),
                kind: "text".into(),
                body: b"welcome".to_vec(),
                sender_device: String::new(),
            },
        ))
        .await
        .expect("system send")
        .into_inner();
    assert_eq!(sent.sender_id, "system.announcements");
    let pushed = bob
        .next_push(WAIT)
        .await
        .expect("push of the group message");
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"welcome");

    let online = client
        .list_online_devices(grpc_request(
            Some(READER),
            pb::ListOnlineDevicesRequest {
                user_ids: vec!["bob".into(), "nobody".into()],
            },
        ))
        .await
        .expect("online devices")
        .into_inner();
    assert_eq!(online.users[0].device_ids, vec!["b1".to_string()]);
    assert!(online.users[1].device_ids.is_empty());

    // Refusals: no key, and a key without `admin`.
    let disconnect = pb::DisconnectUserRequest {
        user_id: "bob".into(),
        device_id: String::new(),
    };
    let refused = client
        .disconnect_user(grpc_request(None, disconnect.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let refused = client
        .disconnect_user(grpc_request(Some(BACKEND), disconnect.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(
        refused.message().contains("\"admin\""),
        "{}",
        refused.message()
    );

    // Disconnect: the device is told, closed with 4000, and reconnects.
    let answer = client
        .disconnect_user(grpc_request(Some(OPS), disconnect))
        .await
        .expect("disconnect")
        .into_inner();
    assert_eq!((answer.closed, answer.gateways), (1, 1));
    let ended = bob.connection().wait_closed(WAIT).await;
    assert!(
        matches!(ended, Some(Disconnect::ServerClosed { code: 4000, .. })),
        "{ended:?}"
    );
    bob.reconnect().await.expect("reconnects");
    bob.pull_all().await.expect("pulls after reconnecting");

    // Deleting the group removes every member.
    let deleted = client
        .delete_group(grpc_request(
            Some(BACKEND),
            pb::DeleteGroupRequest {
                actor_id: "alice".into(),
                group_id: "team".into(),
            },
        ))
        .await
        .expect("group deleted")
        .into_inner();
    assert_eq!(deleted.removed, 2);

    server.shutdown().await;
}

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

#[tokio::test]
async fn grpcurl_finds_the_server_api_by_reflection_and_sends() {
    let server = server().await;
    let api = server.addresses.server_api.to_string();
    let authorization = format!("authorization: Bearer {BACKEND}");
    let run = |args: Vec<String>| async move {
        let output = tokio::process::Command::new(grpcurl())
            .args(&args)
            .output()
            .await
            .expect("grpcurl runs");
        assert!(
            output.status.success(),
            "grpcurl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let services = run(vec!["-plaintext".into(), api.clone(), "list".into()]).await;
    assert!(
        services.contains("tidings.server.v1.ServerApi"),
        "{services}"
    );
    let body = json!({
        "system": "ops", "conversationId": dm("alice", "system.ops"),
        "idempotencyKey": "grpcurl-1", "body": "aGk=",
    });
    let answer = run(vec![
        "-plaintext".into(),
        "-H".into(),
        authorization,
        "-d".into(),
        body.to_string(),
        api,
        "tidings.server.v1.ServerApi/SendMessage".into(),
    ])
    .await;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["senderId"], "system.ops");
    assert_eq!(answer["convSeq"], "1", "grpcurl prints uint64 as a string");
    server.shutdown().await;
}
