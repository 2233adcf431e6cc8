//! Offline catch-up: a returning device gets its backlog in compressed pull
//! pages (zstd, above the size it chose in hello), and devices that opted out
//! get the same entries plain.

use prost::Message as _;
use tidings_client::proto::{InboxEntries, Pull, PullResult, client_frame, server_frame};
use tidings_client::{Connection, dev_token};
use tidings_testkit::{TestServer, dm};

async fn backlog(server: &TestServer, n: usize) {
    let alice = server.synced_device("alice", "a1").await;
    let conversation = dm("alice", "bob");
    for i in 0..n {
        alice
            .send(
                &conversation,
                &format!("b{i}"),
                "text",
                format!("backlog message number {i}"),
            )
            .await
            .unwrap();
    }
}

/// Pulls one page as the server sent it, before the SDK decompresses it.
async fn raw_page(conn: &Connection, limit: u32) -> PullResult {
    let frame = conn
        .request(client_frame::Frame::Pull(Pull { after: 0, limit }))
        .await
        .unwrap();
    match frame.frame {
        Some(server_frame::Frame::PullResult(page)) => page,
        other => panic!("expected a pull result, got {other:?}"),
    }
}

#[tokio::test]
async fn large_pull_pages_come_compressed_and_decode_to_the_same_entries() {
    let server = TestServer::start().await;
    backlog(&server, 300).await;

    let compressed = Connection::connect(&server.url()).await.unwrap();
    compressed
        .hello_with(&dev_token("bob"), "returning", 0, 1024)
        .await
        .unwrap();
    let page = raw_page(&compressed, 300).await;
    assert!(page.entries.is_empty(), "entries travel compressed");
    assert!(!page.compressed_entries.is_empty());
    let bytes = zstd::bulk::decompress(&page.compressed_entries, 64 << 20).unwrap();
    let entries = InboxEntries::decode(bytes.as_slice()).unwrap().entries;
    assert_eq!(entries.len(), 300);

    let plain = Connection::connect(&server.url()).await.unwrap();
    plain
        .hello_with(&dev_token("bob"), "plain", 0, 0)
        .await
        .unwrap();
    let plain_page = raw_page(&plain, 300).await;
    assert!(plain_page.compressed_entries.is_empty());
    assert_eq!(plain_page.entries, entries, "same entries either way");
    let plain_size = plain_page.encode_to_vec().len();
    let compressed_size = page.encode_to_vec().len();
    assert!(
        compressed_size * 3 < plain_size,
        "compressed {compressed_size} bytes vs plain {plain_size}"
    );

    // The SDK decompresses transparently.
    let sdk_page = compressed.pull(0, 300).await.unwrap();
    assert_eq!(sdk_page.entries, entries);
    server.shutdown().await;
}

#[tokio::test]
async fn a_device_behind_the_inbox_bound_is_told_truncated_and_roams() {
    let server = TestServer::start_with(|c| c.sync.max_inbox_entries = 5).await;
    backlog(&server, 8).await;
    let (mut bob, _) = server.device("bob", "late", 0).await;
    let outcome = bob.pull_all().await.unwrap();
    assert!(outcome.truncated, "8 entries behind, the inbox keeps 5");
    let kept: Vec<String> = outcome
        .applied
        .iter()
        .map(|e| String::from_utf8_lossy(&e.message.as_ref().unwrap().body).into_owned())
        .collect();
    let expected: Vec<String> = (3..8)
        .map(|i| format!("backlog message number {i}"))
        .collect();
    assert_eq!(kept, expected, "the newest five, in order");
    // Roaming recovers the rest.
    let history = bob.history(&dm("alice", "bob"), 0, 50).await.unwrap();
    assert_eq!(history.messages.len(), 8);
    // Caught up, the device is no longer truncated.
    assert!(!bob.pull_all().await.unwrap().truncated);
    server.shutdown().await;
}
