//! The end-to-end baseline: a bare WebSocket relay that speaks the subset of
//! the client protocol the load generator uses, with the gateway's framing
//! and connection handling (one protobuf frame per binary message; per
//! connection a bounded queue and a writer task that flushes a burst of
//! frames at once; 4 KiB WebSocket buffers).
//!
//! - `Hello{token: "dev:<user>"}` → `Welcome{user_id, device_id, head}`;
//! - `Send{conversation_id: "dm:<a>:<b>"}` → `SendAck` to the sender (same
//!   request id), and a `Push` of an `InboxEntry` to every connection of the
//!   other member, its `seq` a per-user counter and its `conv_seq` a
//!   per-conversation counter;
//! - `Ping` → `Pong`; `Pull` → an empty page at the user's head; `Ack` →
//!   `AckResult`; any other frame → `Error{UNKNOWN_FRAME}`.
//!
//! It stores nothing, deduplicates nothing and calls no service: what it
//! costs is the floor of the protocol on this machine, which is what the
//! benchmark compares Tidings with. It must never grow features that would
//! make that floor higher than a plain relay's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tidings_proto::client::v1::{
    AckResult, ClientFrame, Error as ErrorFrame, ErrorCode, Pong, PullResult, Push, SendAck,
    Welcome, client_frame::Frame as In, server_frame::Frame as Out,
};
use tidings_proto::common::v1::{InboxEntry, Message};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::wire::{self, Incoming, MAX_FRAME_BYTES};

/// Frames queued for one connection before pushes to it are dropped, as the
/// gateway's default `outbound_queue`.
pub const OUTBOUND_QUEUE: usize = 1024;

/// WebSocket read and write buffer of a connection, as the gateway's
/// defaults: sized for chat frames, so an idle connection costs a few KiB
/// (larger frames still arrive whole).
pub const WS_BUFFER_BYTES: usize = 4096;

/// The relay's listener and shared state.
pub struct Relay {
    listener: TcpListener,
    hub: Arc<RelayHub>,
}

impl Relay {
    /// Binds `addr` (port 0: an ephemeral port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Relay> {
        Ok(Relay {
            listener: TcpListener::bind(addr).await?,
            hub: Arc::new(RelayHub::default()),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state, to read its counters while the relay serves.
    pub fn hub(&self) -> Arc<RelayHub> {
        Arc::clone(&self.hub)
    }

    /// Accepts connections until the task is dropped.
    pub async fn serve(self) {
        loop {
            let (stream, _peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: keep serving the
                    // connections already open.
                    eprintln!("relay accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            tokio::spawn(serve_connection(Arc::clone(&self.hub), stream));
        }
    }
}

/// Binds `addr` and serves on a task of the current runtime; for tests and
/// in-process runs.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let relay = Relay::bind(addr).await?;
    let local = relay.local_addr()?;
    Ok((local, tokio::spawn(relay.serve())))
}

/// Users, their connections and counters.
#[derive(Default)]
pub struct RelayHub {
    state: Mutex<HubState>,
    next_connection: AtomicU64,
    next_message: AtomicU64,
    dropped: AtomicU64,
}

impl RelayHub {
    /// Pushes dropped because the receiving connection's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves counters that are still
        // usable for a benchmark.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct HubState {
    users: HashMap<String, UserSlot>,
    /// conversation id to its last conv seq.
    conversations: HashMap<String, u64>,
}

#[derive(Default)]
struct UserSlot {
    /// Last inbox seq handed out for this user.
    inbox_seq: u64,
    connections: Vec<(u64, mpsc::Sender<WsMessage>)>,
}

struct Identity {
    user: String,
    device: String,
}

struct Session {
    hub: Arc<RelayHub>,
    id: u64,
    outbound: mpsc::Sender<WsMessage>,
    identity: Option<Identity>,
}

async fn serve_connection(hub: Arc<RelayHub>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES);
    let socket = match tokio_tungstenite::accept_async_with_config(stream, Some(config)).await {
        Ok(socket) => socket,
        Err(_) => return,
    };
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut queue) = mpsc::channel::<WsMessage>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        // Everything queued goes out with one flush: one write for a burst.
        while let Some(message) = queue.recv().await {
            let mut failed = sink.feed(message).await.is_err();
            while !failed && let Ok(more) = queue.try_recv() {
                failed = sink.feed(more).await.is_err();
            }
            if failed || sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let id = hub.next_connection.fetch_add(1, Ordering::Relaxed);
    let mut session = Session {
        hub,
        id,
        outbound,
        identity: None,
    };
    while let Some(Ok(message)) = stream.next().await {
        if !session.handle(&message).await {
            break;
        }
    }
    session.leave();
    drop(session);
    let _ = writer.await;
}

impl Session {
    /// Handles one WebSocket message; `false` ends the connection.
    async fn handle(&mut self, message: &WsMessage) -> bool {
        match wire::decode::<ClientFrame>(message) {
            Incoming::Frame(frame) => {
                let request_id = frame.request_id;
                let answer = match frame.frame {
                    Some(frame) => self.dispatch(frame),
                    None => Err(error(
                        ErrorCode::UnknownFrame,
                        "the frame carries no frame type",
                    )),
                };
                let out = answer.unwrap_or_else(Out::Error);
                self.outbound
                    .send(wire::server_message(request_id, out))
                    .await
                    .is_ok()
            }
            Incoming::Malformed(_) => {
                let out = Out::Error(error(ErrorCode::MalformedFrame, "not a ClientFrame"));
                self.outbound
                    .send(wire::server_message(0, out))
                    .await
                    .is_ok()
            }
            Incoming::Text => {
                let out = Out::Error(error(
                    ErrorCode::MalformedFrame,
                    "text frames are not supported; send one binary protobuf ClientFrame per message",
                ));
                self.outbound
                    .send(wire::server_message(0, out))
                    .await
                    .is_ok()
            }
            Incoming::Close => false,
            Incoming::Control => true,
        }
    }

    fn dispatch(&mut self, frame: In) -> Result<Out, ErrorFrame> {
        if let In::Hello(hello) = frame {
            return self.hello(hello.token, hello.device_id);
        }
        let identity = self.identity.as_ref().ok_or_else(|| {
            error(
                ErrorCode::Unauthenticated,
                "send hello with a token before any other frame",
            )
        })?;
        match frame {
            In::Send(send) => {
                let Some((a, b)) = wire::dm_members(&send.conversation_id) else {
                    return Err(error(
                        ErrorCode::UnknownConversation,
                        "the relay serves dm:<a>:<b> conversations only",
                    ));
                };
                let receiver = if a == identity.user {
                    b
                } else if b == identity.user {
                    a
                } else {
                    return Err(error(
                        ErrorCode::NotMember,
                        "not a member of the conversation",
                    ));
                };
                let receiver = receiver.to_string();
                let message = Message {
                    message_id: format!(
                        "relay-{}",
                        self.hub.next_message.fetch_add(1, Ordering::Relaxed) + 1
                    ),
                    conversation_id: send.conversation_id,
                    conv_seq: 0,
                    sender_id: identity.user.clone(),
                    sender_device: identity.device.clone(),
                    client_msg_id: send.client_msg_id,
                    kind: send.kind,
                    body: send.body,
                    created_at_ms: now_ms(),
                    state: None,
                };
                let message = self.hub.deliver(&receiver, message);
                Ok(Out::SendAck(SendAck {
                    message_id: message.message_id,
                    conversation_id: message.conversation_id,
                    conv_seq: message.conv_seq,
                    created_at_ms: message.created_at_ms,
                    duplicate: false,
                }))
            }
            In::Ping(ping) => Ok(Out::Pong(Pong { nonce: ping.nonce })),
            In::Pull(_) => Ok(Out::PullResult(PullResult {
                head: self.hub.head(&identity.user),
                ..PullResult::default()
            })),
            In::Ack(ack) => Ok(Out::AckResult(AckResult {
                checkpoint: ack.checkpoint,
            })),
            In::Hello(_) => unreachable!("handled above"),
            _ => Err(error(
                ErrorCode::UnknownFrame,
                "the relay serves hello, send, ping, pull and ack only",
            )),
        }
    }

    fn hello(&mut self, token: String, device: String) -> Result<Out, ErrorFrame> {
        if self.identity.is_some() {
            return Err(error(
                ErrorCode::AlreadyAuthenticated,
                "hello was already sent on this connection",
            ));
        }
        let Some(user) = wire::dev_user(&token) else {
            return Err(error(
                ErrorCode::Unauthenticated,
                "the token must be dev:<user_id>",
            ));
        };
        if !wire::valid_id(&device) {
            return Err(error(
                ErrorCode::InvalidArgument,
                "device_id must be 1 to 64 characters of [A-Za-z0-9_.-]",
            ));
        }
        let user = user.to_string();
        let head = self.hub.join(&user, self.id, self.outbound.clone());
        self.identity = Some(Identity {
            user: user.clone(),
            device: device.clone(),
        });
        Ok(Out::Welcome(Welcome {
            user_id: user,
            device_id: device,
            head,
            max_frame_bytes: MAX_FRAME_BYTES,
            token_expires_at_ms: 0,
        }))
    }

    fn leave(&mut self) {
        if let Some(identity) = self.identity.take() {
            self.hub.leave(&identity.user, self.id);
        }
    }
}

impl RelayHub {
    /// Registers a connection of `user`; returns the user's head.
    fn join(&self, user: &str, id: u64, outbound: mpsc::Sender<WsMessage>) -> u64 {
        let mut state = self.state();
        let slot = state.users.entry(user.to_string()).or_default();
        slot.connections.push((id, outbound));
        slot.inbox_seq
    }

    fn leave(&self, user: &str, id: u64) {
        let mut state = self.state();
        if let Some(slot) = state.users.get_mut(user) {
            slot.connections.retain(|(c, _)| *c != id);
        }
    }

    fn head(&self, user: &str) -> u64 {
        self.state()
            .users
            .get(user)
            .map_or(0, |slot| slot.inbox_seq)
    }

    /// Numbers `message` in its conversation and in `receiver`'s inbox and
    /// queues the push on every connection of `receiver`. The push is queued
    /// under the lock, so each connection gets its pushes in seq order.
    fn deliver(&self, receiver: &str, mut message: Message) -> Message {
        let mut state = self.state();
        let conv_seq = state
            .conversations
            .entry(message.conversation_id.clone())
            .or_insert(0);
        *conv_seq += 1;
        message.conv_seq = *conv_seq;
        let slot = state.users.entry(receiver.to_string()).or_default();
        slot.inbox_seq += 1;
        if slot.connections.is_empty() {
            return message;
        }
        let push = wire::server_message(
            0,
            Out::Push(Push {
                entry: Some(InboxEntry {
                    seq: slot.inbox_seq,
                    conversation_id: message.conversation_id.clone(),
                    conv_seq: message.conv_seq,
                    message: Some(message.clone()),
                }),
            }),
        );
        for (_, outbound) in &slot.connections {
            if outbound.try_send(push.clone()).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        message
    }
}

fn error(code: ErrorCode, message: &str) -> ErrorFrame {
    ErrorFrame {
        code: code as i32,
        message: message.to_string(),
        connection_kept: true,
        ..ErrorFrame::default()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The `relay` subcommand: binds `listen`, prints
/// `tidings-bench relay listening ws=<addr>` on stdout, and serves until
/// SIGINT or SIGTERM.
pub async fn serve_until_signal(listen: SocketAddr) -> anyhow::Result<()> {
    use std::io::Write as _;
    use tokio::signal::unix::{SignalKind, signal};

    let relay = Relay::bind(listen).await?;
    let addr = relay.local_addr()?;
    let hub = relay.hub();
    println!("tidings-bench relay listening ws={addr}");
    std::io::stdout().flush()?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        () = relay.serve() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    if hub.dropped() > 0 {
        eprintln!(
            "relay dropped {} pushes to connections whose queue was full",
            hub.dropped()
        );
    }
    Ok(())
}
