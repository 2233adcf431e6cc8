//! Pages bounded by bytes, over real WebSockets: every frame a client gets
//! is at most the `Welcome.max_frame_bytes` the gateway announced, measured
//! as the raw WebSocket messages off the socket, and a client that follows
//! `has_more` gets every message once, in order, without an error.
//!
//! * 500 messages with bodies of the default limit (32 KiB; 16 MB in all)
//!   to a user and to a large group: a pull from 0, a history and a
//!   conversation pull, each far past any frame if sent as one page.
//! * Messages of mixed sizes: pages are cut in the middle and fill frames
//!   to within one message of the limit, plain and compressed, and the
//!   SDK's catch-up loops go on after every cut page.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt, TryStreamExt};
use prost::Message as _;
use tidings_client::proto::{
    ClientFrame, Hello, History, InboxEntries, Pull, PullConversation, ServerFrame, Welcome,
    client_frame::Frame as In, server_frame::Frame as Out,
};
use tidings_client::{Device, Message, dev_token};
use tidings_testkit::{TestServer, dm};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// `logic.max_body_bytes` by default.
const MAX_BODY: usize = 32 * 1024;
const GROUP: &str = "g:big";
const WAIT: Duration = Duration::from_secs(20);
/// Asked of every page: more than any frame holds of these messages.
const PAGE: u32 = 500;

/// A client speaking the protocol itself, so that it sees every frame as
/// the bytes that came off the socket.
struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_request_id: u64,
    max_frame_bytes: usize,
    /// The largest frame received, in bytes.
    largest: usize,
}

impl RawClient {
    async fn connect(url: &str, user: &str, compress_above: u32) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = RawClient {
            ws,
            next_request_id: 0,
            max_frame_bytes: usize::MAX,
            largest: 0,
        };
        let hello = In::Hello(Hello {
            token: dev_token(user),
            device_id: "raw".into(),
            checkpoint: 0,
            compress_above,
        });
        let Out::Welcome(Welcome {
            max_frame_bytes, ..
        }) = client.request(hello).await
        else {
            panic!("hello not welcomed");
        };
        client.max_frame_bytes = max_frame_bytes as usize;
        client
    }

    /// Sends `frame` and returns its answer, checking the size of every
    /// frame that arrives meanwhile (pushes included) and that the answer
    /// is not an error.
    async fn request(&mut self, frame: In) -> Out {
        self.next_request_id += 1;
        let request_id = self.next_request_id;
        let frame = ClientFrame {
            request_id,
            frame: Some(frame),
        };
        let bytes = frame.encode_to_vec();
        self.ws.send(WsMessage::Binary(bytes.into())).await.unwrap();
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("an answer in time")
                .expect("the connection stays open")
                .unwrap();
            let WsMessage::Binary(bytes) = message else {
                continue;
            };
            self.largest = self.largest.max(bytes.len());
            assert!(
                bytes.len() <= self.max_frame_bytes,
                "a {} byte frame, over the announced {}",
                bytes.len(),
                self.max_frame_bytes
            );
            let frame = ServerFrame::decode(bytes).unwrap();
            if frame.request_id != request_id {
                continue;
            }
            match frame.frame {
                Some(Out::Error(error)) => panic!("request refused: {error:?}"),
                Some(answer) => return answer,
                None => panic!("an answer without a frame"),
            }
        }
    }

    /// Pulls the inbox from 0 following the device rules: the text
    /// messages in the order pulled, and the number of pages.
    async fn pull_inbox(&mut self) -> (Vec<String>, usize) {
        let (mut checkpoint, mut pages, mut messages) = (0, 0, Vec::new());
        loop {
            let pull = In::Pull(Pull {
                after: checkpoint,
                limit: PAGE,
            });
            let Out::PullResult(mut page) = self.request(pull).await else {
                panic!("not a pull result");
            };
            pages += 1;
            if !page.compressed_entries.is_empty() {
                // Cut by its plain size: the entries fit one frame's bytes.
                let plain = zstd::bulk::decompress(&page.compressed_entries, self.max_frame_bytes)
                    .expect("decompresses within the frame limit");
                page.entries = InboxEntries::decode(plain.as_slice()).unwrap().entries;
            }
            assert!(!page.truncated);
            let last = page.entries.last().map(|e| e.seq);
            messages.extend(page.entries.into_iter().filter_map(|e| e.message));
            if !page.has_more {
                return (text_ids(&messages), pages);
            }
            checkpoint = last.expect("a page that has more holds an entry");
        }
    }

    /// A conversation's history from the newest, oldest first.
    async fn history(&mut self, conversation: &str) -> Vec<String> {
        let (mut before, mut messages) = (0, Vec::new());
        loop {
            let ask = In::History(History {
                conversation_id: conversation.into(),
                before,
                limit: PAGE,
            });
            let Out::HistoryResult(page) = self.request(ask).await else {
                panic!("not a history result");
            };
            before = page.messages.last().map_or(0, |m| m.conv_seq);
            messages.extend(page.messages);
            if !page.has_more {
                messages.reverse();
                return text_ids(&messages);
            }
        }
    }

    /// A conversation's store timeline from 0 to its head.
    async fn pull_conversation(&mut self, conversation: &str) -> Vec<String> {
        let (mut after, mut messages) = (0, Vec::new());
        loop {
            let ask = In::PullConversation(PullConversation {
                conversation_id: conversation.into(),
                after,
                limit: PAGE,
            });
            let Out::PullConversationResult(page) = self.request(ask).await else {
                panic!("not a conversation pull result");
            };
            after = page.messages.last().map_or(after, |m| m.conv_seq);
            messages.extend(page.messages);
            if !page.has_more {
                return text_ids(&messages);
            }
        }
    }
}

/// `len` bytes that zstd cannot shrink, so compressed pages are as large
/// as plain ones; `index` is in the first bytes.
fn body(index: usize, len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ (index as u64).wrapping_mul(0x9e37_79b9);
    let mut body: Vec<u8> = (0..len.max(8))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    body[..8].copy_from_slice(&(index as u64).to_be_bytes());
    body
}

/// Sends a message of `size(i)` bytes for each `i` in `0..count` to
/// `conversation`, many in flight at once; returns their message ids in
/// conv seq order.
async fn send_all(
    device: &Device,
    conversation: &str,
    count: usize,
    size: impl Fn(usize) -> usize,
) -> Vec<String> {
    let size = &size;
    let mut acks: Vec<(u64, String)> = futures_util::stream::iter(0..count)
        .map(|i| async move {
            let client_msg_id = format!("{conversation}-{i}");
            let ack = device
                .send(conversation, &client_msg_id, "text", body(i, size(i)))
                .await?;
            Ok::<_, tidings_client::ClientError>((ack.conv_seq, ack.message_id))
        })
        // Few enough that the pushes they cause to the sender's own
        // connections stay well inside its outbound queue.
        .buffered(8)
        .try_collect()
        .await
        .expect("every send is acknowledged");
    acks.sort();
    acks.into_iter().map(|(_, id)| id).collect()
}

fn text_ids<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Vec<String> {
    messages
        .into_iter()
        .filter(|m| m.kind == "text")
        .map(|m| m.message_id.clone())
        .collect()
}

/// A server whose groups of more than two members use read diffusion, with
/// `count` messages from alice to bob and to the large group `g:big` (bob,
/// carol), of `size(i)` bytes: the message ids of the 1:1 conversation and
/// of the group, in order.
async fn server_with_messages(
    count: usize,
    size: impl Fn(usize) -> usize + Copy,
) -> (TestServer, Vec<String>, Vec<String>) {
    let server = TestServer::start_with(|c| c.logic.large_group_threshold = 2).await;
    // One connection per conversation, each with its own requests in flight.
    let alice = server.synced_device("alice", "a1").await;
    let alice_in_group = server.synced_device("alice", "a2").await;
    let group = alice
        .connection()
        .create_group("big", "big", &["bob", "carol"])
        .await
        .unwrap();
    assert!(group.large);
    let conversation = dm("alice", "bob");
    let (direct, grouped) = tokio::join!(
        send_all(&alice, &conversation, count, size),
        send_all(&alice_in_group, GROUP, count, size)
    );
    (server, direct, grouped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_messages_of_the_largest_body_arrive_in_bounded_frames() {
    const COUNT: usize = 500;
    let (server, direct, grouped) = server_with_messages(COUNT, |_| MAX_BODY).await;
    let conversation = dm("alice", "bob");

    // The three reads at once, each on its own connection. The pull is
    // compressed, as the SDK asks; the bodies do not compress, so its
    // frames are as large as plain ones (which the other reads are).
    let url = server.url();
    let (mut puller, mut reader, mut group_puller) = tokio::join!(
        RawClient::connect(&url, "bob", 1024),
        RawClient::connect(&url, "bob", 0),
        RawClient::connect(&url, "bob", 0),
    );
    let ((pulled, pages), history, group) = tokio::join!(
        puller.pull_inbox(),
        reader.history(&conversation),
        group_puller.pull_conversation(GROUP),
    );
    assert_eq!(pulled, direct);
    // 16 MB in frames of 64 KiB: cut by bytes, not by the count asked.
    assert!(
        pages >= COUNT * MAX_BODY / puller.max_frame_bytes,
        "{pages} pages"
    );
    assert_eq!(history, direct);
    assert_eq!(group, grouped);
    for client in [&puller, &reader, &group_puller] {
        assert!(client.largest > MAX_BODY, "{} bytes", client.largest);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_mixed_sizes_fill_frames_to_the_limit() {
    const COUNT: usize = 300;
    // 1 KiB to 8 KiB: a 64 KiB frame holds several, and a cut falls
    // mid-page. Every 50th is of the largest body.
    let size = |i: usize| match i % 50 {
        49 => MAX_BODY,
        n => 1024 + (n * 797) % (7 * 1024),
    };
    let (server, direct, grouped) = server_with_messages(COUNT, size).await;
    let conversation = dm("alice", "bob");
    // Some page is cut within one small message of the limit.
    let slack = 9 * 1024;

    for compress_above in [0, 1024] {
        let mut bob = RawClient::connect(&server.url(), "bob", compress_above).await;
        let (pulled, pages) = bob.pull_inbox().await;
        assert_eq!(pulled, direct, "compress_above={compress_above}");
        assert!(pages > 1);
        let (limit, largest) = (bob.max_frame_bytes, bob.largest);
        assert!(largest > limit - slack, "{largest} of {limit}");
    }
    for read in ["history", "conversation pull"] {
        let mut bob = RawClient::connect(&server.url(), "bob", 0).await;
        if read == "history" {
            assert_eq!(bob.history(&conversation).await, direct);
        } else {
            assert_eq!(bob.pull_conversation(GROUP).await, grouped);
        }
        let (limit, largest) = (bob.max_frame_bytes, bob.largest);
        assert!(largest > limit - slack, "{read}: {largest} of {limit}");
    }

    // The SDK's catch-up loops go on after every cut page: the inbox (with
    // compression, its default), then the large group from its head.
    let mut bob = server.device("bob", "b1", 0).await.0;
    let outcome = bob.pull_all().await.unwrap();
    assert!(outcome.pages > 1, "{} pages", outcome.pages);
    assert_eq!(text_ids(bob.messages_of(&conversation)), direct);
    assert_eq!(text_ids(bob.messages_of(GROUP)), grouped);
    server.shutdown().await;
}
