//! A scripted stand-in for the gateway, just enough protocol to exercise the
//! SDK over a real socket: one user's inbox held in memory, pages of two
//! entries, answers delayed by `nonce % 5` ms for pings so they come back out
//! of order, and a handle to push frames or close from the test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tidings_proto::client::v1::{self as pb, ClientFrame, ServerFrame, client_frame, server_frame};
use tidings_proto::common::v1::{InboxEntry, Message};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const PAGE_SIZE: usize = 2;

#[derive(Default)]
pub struct Inbox {
    pub entries: BTreeMap<u64, InboxEntry>,
    pub head: u64,
    pub acked: Vec<u64>,
}

impl Inbox {
    /// Commits an entry at `seq` for a message with this id, and moves the head.
    pub fn commit(&mut self, seq: u64, message_id: &str) -> InboxEntry {
        let entry = entry(seq, message_id);
        self.entries.insert(seq, entry.clone());
        self.head = self.head.max(seq);
        entry
    }
}

pub fn entry(seq: u64, message_id: &str) -> InboxEntry {
    InboxEntry {
        seq,
        conversation_id: "dm:alice:bob".into(),
        conv_seq: seq,
        message: Some(Message {
            message_id: message_id.into(),
            conversation_id: "dm:alice:bob".into(),
            conv_seq: seq,
            sender_id: "bob".into(),
            body: message_id.as_bytes().to_vec(),
            ..Message::default()
        }),
    }
}

enum Command {
    /// An encoded ServerFrame.
    Send(Vec<u8>),
    Close,
}

pub struct FakeGateway {
    pub url: String,
    pub inbox: Arc<Mutex<Inbox>>,
    commands: mpsc::UnboundedReceiver<mpsc::UnboundedSender<Command>>,
    current: Option<mpsc::UnboundedSender<Command>>,
}

impl FakeGateway {
    pub async fn start() -> FakeGateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let (connections_tx, connections_rx) = mpsc::unbounded_channel();
        let served = inbox.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (commands_tx, commands_rx) = mpsc::unbounded_channel();
                let _ = connections_tx.send(commands_tx);
                tokio::spawn(serve(tcp, served.clone(), commands_rx));
            }
        });
        FakeGateway {
            url,
            inbox,
            commands: connections_rx,
            current: None,
        }
    }

    /// Commands for the most recently accepted connection.
    async fn connection(&mut self) -> &mpsc::UnboundedSender<Command> {
        while let Ok(next) = self.commands.try_recv() {
            self.current = Some(next);
        }
        if self.current.is_none() {
            self.current = self.commands.recv().await;
        }
        self.current.as_ref().unwrap()
    }

    pub async fn push(&mut self, entry: InboxEntry) {
        let frame = ServerFrame {
            request_id: 0,
            frame: Some(server_frame::Frame::Push(pb::Push { entry: Some(entry) })),
        };
        let _ = self
            .connection()
            .await
            .send(Command::Send(frame.encode_to_vec()));
    }

    pub async fn close(&mut self) {
        let _ = self.connection().await.send(Command::Close);
    }
}

async fn serve(
    tcp: tokio::net::TcpStream,
    inbox: Arc<Mutex<Inbox>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<WsMessage>();
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, WsMessage::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send(bytes)) => {
                    let _ = out_tx.send(WsMessage::Binary(bytes.into()));
                }
                Some(Command::Close) => {
                    let _ = out_tx.send(WsMessage::Close(None));
                }
                None => {}
            },
            message = stream.next() => match message {
                Some(Ok(WsMessage::Binary(bytes))) => {
                    let (answer, delay) = answer(&inbox, &bytes);
                    let out = out_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = out.send(WsMessage::Binary(answer.encode_to_vec().into()));
                    });
                }
                Some(Ok(WsMessage::Text(_))) => {
                    let answer = error(0, pb::ErrorCode::MalformedFrame, "text frames are not accepted");
                    let _ = out_tx.send(WsMessage::Binary(answer.encode_to_vec().into()));
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    drop(out_tx);
    let _ = writer.await;
}

fn error(request_id: u64, code: pb::ErrorCode, message: &str) -> ServerFrame {
    ServerFrame {
        request_id,
        frame: Some(server_frame::Frame::Error(pb::Error {
            code: code as i32,
            message: message.into(),
            connection_kept: true,
            retry_after_ms: 0,
        })),
    }
}

fn answer(inbox: &Mutex<Inbox>, bytes: &[u8]) -> (ServerFrame, Duration) {
    let Ok(frame) = ClientFrame::decode(bytes) else {
        return (
            error(0, pb::ErrorCode::MalformedFrame, "not a ClientFrame"),
            Duration::ZERO,
        );
    };
    let request_id = frame.request_id;
    let reply = |frame| ServerFrame {
        request_id,
        frame: Some(frame),
    };
    let mut inbox = inbox.lock().unwrap();
    match frame.frame {
        Some(client_frame::Frame::Hello(hello)) => {
            let user_id = hello
                .token
                .strip_prefix("dev:")
                .unwrap_or_default()
                .to_string();
            let welcome = pb::Welcome {
                user_id,
                device_id: hello.device_id,
                head: inbox.head,
                max_frame_bytes: 65536,
                token_expires_at_ms: 0,
            };
            (reply(server_frame::Frame::Welcome(welcome)), Duration::ZERO)
        }
        Some(client_frame::Frame::Pull(pull)) => {
            let head = inbox.head;
            let visible: Vec<InboxEntry> = inbox
                .entries
                .range(pull.after + 1..)
                .take_while(|(seq, _)| **seq <= head)
                .map(|(_, e)| e.clone())
                .collect();
            let has_more = visible.len() > PAGE_SIZE;
            let result = pb::PullResult {
                entries: visible.into_iter().take(PAGE_SIZE).collect(),
                head,
                has_more,
                truncated: false,
                conversation_heads: Vec::new(),
                compressed_entries: Vec::new(),
            };
            (
                reply(server_frame::Frame::PullResult(result)),
                Duration::ZERO,
            )
        }
        Some(client_frame::Frame::Ack(ack)) => {
            inbox.acked.push(ack.checkpoint);
            let result = pb::AckResult {
                checkpoint: ack.checkpoint,
            };
            (
                reply(server_frame::Frame::AckResult(result)),
                Duration::ZERO,
            )
        }
        Some(client_frame::Frame::Ping(ping)) => {
            let delay = Duration::from_millis(ping.nonce % 5);
            (
                reply(server_frame::Frame::Pong(pb::Pong { nonce: ping.nonce })),
                delay,
            )
        }
        Some(client_frame::Frame::History(history)) => (
            error(
                request_id,
                pb::ErrorCode::NotMember,
                &format!("not a member of {}", history.conversation_id),
            ),
            Duration::ZERO,
        ),
        _ => (
            error(request_id, pb::ErrorCode::UnknownFrame, "unsupported here"),
            Duration::ZERO,
        ),
    }
}
