//! Bad input gets an error frame with a stable code; the connection (where the
//! protocol allows) and every other connection keep working; nothing stored
//! changes.

use std::time::Duration;

use prost::Message as _;
use tidings_client::proto::{ClientFrame, client_frame, server_frame};
use tidings_client::{Connection, Device};
use tidings_core::ErrorCode;
use tidings_testkit::{TestServer, dm, server_code};

const WAIT: Duration = Duration::from_secs(10);

/// What the server holds for alice and bob: the stored conversation and bob's
/// inbox head, to prove bad input changed nothing.
async fn snapshot(server: &TestServer) -> (usize, u64) {
    let stored = server.stored_messages(&dm("alice", "bob")).await.len();
    (stored, server.inbox_head("bob").await)
}

/// The next frame must be an error with `code` and connection_kept.
async fn expect_error_frame(conn: &Connection, code: ErrorCode) -> String {
    let frame = conn.next_frame(WAIT).await.expect("an error frame");
    let Some(server_frame::Frame::Error(error)) = frame.frame else {
        panic!("expected an error frame, got {frame:?}");
    };
    let got = ErrorCode::from_client(error.code()).expect("known code");
    assert_eq!(got, code, "message: {}", error.message);
    assert!(error.connection_kept);
    assert!(!error.message.is_empty());
    error.message
}

async fn still_works(conn: &Connection) {
    assert_eq!(conn.ping(42).await.expect("connection still answers"), 42);
}

#[tokio::test]
async fn each_bad_frame_gets_a_stable_code_and_harms_nothing() {
    let server = TestServer::start().await;
    let conversation = dm("alice", "bob");
    let (mut alice, _) = server.device("alice", "a1", 0).await;
    alice
        .send(&conversation, "ok-1", "text", "fine")
        .await
        .unwrap();
    // Alice's own inbox got the entry too: take its push out of the way.
    assert_eq!(alice.next_push(WAIT).await.unwrap().len(), 1);
    let mut bob: Device = server.synced_device("bob", "b1").await;
    let before = snapshot(&server).await;

    let conn = alice.connection();
    // Malformed frame: bytes that are not a ClientFrame.
    conn.send_raw_binary(vec![0xff, 0xff, 0xff, 0xff, 0x0f])
        .await
        .unwrap();
    expect_error_frame(conn, ErrorCode::MalformedFrame).await;
    still_works(conn).await;

    // Text frames are not the protocol.
    conn.send_raw_text("{\"send\":{}}").await.unwrap();
    expect_error_frame(conn, ErrorCode::MalformedFrame).await;

    // Unknown frame type: a field number this server does not know.
    let mut unknown = ClientFrame {
        request_id: 7,
        frame: None,
    }
    .encode_to_vec();
    unknown.extend_from_slice(&[0xfa, 0x06, 0x02, b'h', b'i']); // field 111, bytes "hi"
    conn.send_raw_binary(unknown).await.unwrap();
    expect_error_frame(conn, ErrorCode::UnknownFrame).await;
    still_works(conn).await;

    // Oversize frame.
    conn.send_raw_binary(vec![0u8; 200 * 1024]).await.unwrap();
    let why = expect_error_frame(conn, ErrorCode::FrameTooLarge).await;
    assert!(why.contains("limit"), "{why}");
    still_works(conn).await;

    // Oversize body inside a well-formed frame.
    let big = vec![b'x'; 40 * 1024];
    let code = server_code(alice.send(&conversation, "big", "text", big).await);
    assert_eq!(code, ErrorCode::BodyTooLarge);

    // A conversation alice is not in, and one that cannot exist.
    let code = server_code(alice.send(&dm("bob", "carol"), "x1", "text", "hi").await);
    assert_eq!(code, ErrorCode::NotMember);
    let code = server_code(alice.send("group:42", "x2", "text", "hi").await);
    assert_eq!(code, ErrorCode::UnknownConversation);
    let code = server_code(alice.history(&dm("bob", "carol"), 0, 10).await);
    assert_eq!(code, ErrorCode::NotMember);

    // Missing fields.
    let code = server_code(alice.send(&conversation, "", "text", "no id").await);
    assert_eq!(code, ErrorCode::InvalidArgument);

    // A second hello on an authenticated connection.
    let code = server_code(conn.hello("dev:alice", "a1", 0).await);
    assert_eq!(code, ErrorCode::AlreadyAuthenticated);
    still_works(conn).await;

    // The other connection saw nothing and still works; nothing was stored.
    assert!(
        bob.connection()
            .next_push(Duration::from_millis(300))
            .await
            .is_err(),
        "bob must not receive anything from bad input"
    );
    assert_eq!(snapshot(&server).await, before);
    alice
        .send(&conversation, "ok-2", "text", "still fine")
        .await
        .unwrap();
    let got = bob.next_push(WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn requests_before_hello_and_bad_tokens_are_refused() {
    let server = TestServer::start().await;
    let before = snapshot(&server).await;
    let conn = Connection::connect(&server.url()).await.unwrap();

    let code = server_code(conn.pull(0, 10).await);
    assert_eq!(code, ErrorCode::Unauthenticated);
    let code = server_code(
        conn.request(client_frame::Frame::Send(tidings_client::proto::Send {
            conversation_id: dm("alice", "bob"),
            client_msg_id: "sneaky".into(),
            kind: "text".into(),
            body: b"hi".to_vec(),
        }))
        .await,
    );
    assert_eq!(code, ErrorCode::Unauthenticated);

    for token in ["alice", "dev:", "dev:al ice", "bearer xyz"] {
        let code = server_code(conn.hello(token, "d1", 0).await);
        assert_eq!(code, ErrorCode::Unauthenticated, "token {token:?}");
    }
    let code = server_code(conn.hello("dev:alice", "bad device!", 0).await);
    assert_eq!(code, ErrorCode::InvalidArgument);

    // The same connection can still authenticate properly.
    let welcome = conn.hello("dev:alice", "d1", 0).await.unwrap();
    assert_eq!(welcome.user_id, "alice");
    conn.pull(0, 10).await.unwrap();
    assert_eq!(snapshot(&server).await, before);
    server.shutdown().await;
}
