//! A frame-level connection to a gateway: one WebSocket, one protobuf frame per
//! binary message, requests matched to answers by `request_id`.
//!
//! A background reader task owns the read half. It hands every frame that
//! answers a waiting request to that request, and queues everything else
//! (pushes and errors with request_id 0, and answers nobody waits for any more)
//! in arrival order for [`Connection::next_push`] and [`Connection::next_frame`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use prost::Message as _;
use tidings_proto::client::v1::{ClientFrame, ServerFrame, client_frame, server_frame};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{ClientError, Result};

pub use rustls_pki_types::CertificateDer;

/// A TLS client config (the `ring` provider) that trusts the CA
/// certificates of `ca_pem` only, for [`Connection::connect_with_tls`].
pub fn trusting(ca_pem: &[u8]) -> std::result::Result<Arc<rustls::ClientConfig>, rustls::Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| rustls::Error::General(format!("bad CA PEM: {e}")))?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(rustls::Error::General(
            "no CA certificate in the PEM".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How long a request waits for its answer unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Connection::close`] waits for the server to finish the close handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// The server sent a Close frame first.
    ServerClosed { code: u16, reason: String },
    /// This side called [`Connection::close`].
    ClientClosed,
    /// The stream ended or failed without a Close frame from the server.
    Dropped { error: Option<String> },
}

/// Requests waiting for their answer, by request id.
#[derive(Default)]
struct Waiters {
    /// Set once the reader has stopped: no answer can arrive any more.
    closed: bool,
    by_request_id: HashMap<u64, oneshot::Sender<ServerFrame>>,
}

struct Shared {
    waiters: Mutex<Waiters>,
    /// Set by `close()`, so a Close frame from the server is read as its echo.
    closing: AtomicBool,
    disconnect: watch::Sender<Option<Disconnect>>,
}

impl Shared {
    fn waiters(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a request's waiter when the request ends, however it ends.
struct WaiterGuard<'a> {
    shared: &'a Shared,
    request_id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.shared.waiters().by_request_id.remove(&self.request_id);
    }
}

/// A raw client connection. Concurrent requests are allowed (`&self`).
pub struct Connection {
    sink: tokio::sync::Mutex<SplitSink<WsStream, Message>>,
    shared: Arc<Shared>,
    unsolicited: tokio::sync::Mutex<mpsc::UnboundedReceiver<ServerFrame>>,
    next_request_id: AtomicU64,
    request_timeout: Duration,
    reader: JoinHandle<()>,
    /// The server's certificate chain, over `wss://`.
    peer_certificates: Option<Vec<CertificateDer<'static>>>,
}

impl Connection {
    /// Opens a WebSocket to `url` (e.g. `ws://127.0.0.1:7400/ws`). Sends nothing:
    /// the caller sends `Hello` (see [`Connection::hello`]).
    pub async fn connect(url: &str) -> Result<Connection> {
        Self::open(url, None).await
    }

    /// Opens a WebSocket to `url` as [`Connection::connect`] does; a
    /// `wss://` URL is verified with `tls` (e.g. [`trusting`] a private CA)
    /// instead of the default roots.
    pub async fn connect_with_tls(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Connection> {
        Self::open(url, Some(tokio_tungstenite::Connector::Rustls(tls))).await
    }

    async fn open(
        url: &str,
        connector: Option<tokio_tungstenite::Connector>,
    ) -> Result<Connection> {
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector);
        let (stream, _response) = tokio::time::timeout(DEFAULT_REQUEST_TIMEOUT, connecting)
            .await
            .map_err(|_| ClientError::Timeout {
                request_id: 0,
                timeout: DEFAULT_REQUEST_TIMEOUT,
            })??;
        let peer_certificates = match stream.get_ref() {
            MaybeTlsStream::Rustls(tls) => tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect()),
            _ => None,
        };
        let (sink, stream) = stream.split();
        let (disconnect, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            waiters: Mutex::new(Waiters::default()),
            closing: AtomicBool::new(false),
            disconnect,
        });
        let (unsolicited_tx, unsolicited_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_frames(stream, shared.clone(), unsolicited_tx));
        Ok(Connection {
            sink: tokio::sync::Mutex::new(sink),
            shared,
            unsolicited: tokio::sync::Mutex::new(unsolicited_rx),
            next_request_id: AtomicU64::new(1),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            reader,
            peer_certificates,
        })
    }

    /// The certificate chain the server showed (its own first), over
    /// `wss://`; `None` over `ws://`.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.peer_certificates.as_deref()
    }

    /// Changes how long requests wait for their answer.
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Sends `frame` under a fresh request id and waits for the frame that
    /// echoes it. An `Error` frame is returned as a frame, not as an error.
    pub async fn request_raw(&self, frame: client_frame::Frame) -> Result<ServerFrame> {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let (answer_tx, answer_rx) = oneshot::channel();
        {
            let mut waiters = self.shared.waiters();
            if waiters.closed {
                return Err(ClientError::Closed);
            }
            waiters.by_request_id.insert(request_id, answer_tx);
        }
        let _guard = WaiterGuard {
            shared: &self.shared,
            request_id,
        };
        self.send_frame(&ClientFrame {
            request_id,
            frame: Some(frame),
        })
        .await?;
        match tokio::time::timeout(self.request_timeout, answer_rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout {
                request_id,
                timeout: self.request_timeout,
            }),
        }
    }

    /// Like [`Connection::request_raw`], but an `Error` frame becomes
    /// [`ClientError::Server`].
    pub async fn request(&self, frame: client_frame::Frame) -> Result<ServerFrame> {
        let answer = self.request_raw(frame).await?;
        if let Some(server_frame::Frame::Error(error)) = &answer.frame {
            return Err(ClientError::from_error_frame(error));
        }
        Ok(answer)
    }

    /// Waits for the next server-initiated frame (request_id 0: a `Push`, or an
    /// `Error` the server could not tie to a request). Late answers to requests
    /// that already gave up are skipped.
    pub async fn next_push(&self, timeout: Duration) -> Result<ServerFrame> {
        tokio::time::timeout(timeout, self.next_unsolicited(true))
            .await
            .map_err(|_| ClientError::Timeout {
                request_id: 0,
                timeout,
            })?
    }

    /// Waits for the next frame no request is waiting for, of any kind and any
    /// request id: pushes, errors answering undecodable input, answers to frames
    /// sent with [`Connection::send_frame`] or the raw senders.
    pub async fn next_frame(&self, timeout: Duration) -> Result<ServerFrame> {
        tokio::time::timeout(timeout, self.next_unsolicited(false))
            .await
            .map_err(|_| ClientError::Timeout {
                request_id: 0,
                timeout,
            })?
    }

    /// Server-initiated frames as a stream that ends when the connection closes.
    pub fn pushes(&self) -> impl Stream<Item = ServerFrame> + '_ {
        futures_util::stream::unfold(self, |connection| async move {
            let frame = connection.next_unsolicited(true).await.ok()?;
            Some((frame, connection))
        })
    }

    async fn next_unsolicited(&self, pushes_only: bool) -> Result<ServerFrame> {
        let mut unsolicited = self.unsolicited.lock().await;
        loop {
            let frame = unsolicited.recv().await.ok_or(ClientError::Closed)?;
            if pushes_only && frame.request_id != 0 {
                tracing::debug!(request_id = frame.request_id, "skipping late answer");
                continue;
            }
            return Ok(frame);
        }
    }

    /// Sends a frame as is, with the caller's request id, without waiting.
    /// Its answer, if any, arrives through [`Connection::next_frame`].
    pub async fn send_frame(&self, frame: &ClientFrame) -> Result<()> {
        self.send_message_raw(Message::Binary(frame.encode_to_vec().into()))
            .await
    }

    /// Sends arbitrary bytes as one binary WebSocket message.
    pub async fn send_raw_binary(&self, bytes: Vec<u8>) -> Result<()> {
        self.send_message_raw(Message::Binary(bytes.into())).await
    }

    /// Sends one text WebSocket message.
    pub async fn send_raw_text(&self, text: &str) -> Result<()> {
        self.send_message_raw(Message::Text(text.into())).await
    }

    async fn send_message_raw(&self, message: Message) -> Result<()> {
        let mut sink = self.sink.lock().await;
        sink.send(message).await.map_err(closed_or_transport)
    }

    /// Whether the reader has stopped (either side closed, or the transport broke).
    pub fn is_closed(&self) -> bool {
        self.shared.disconnect.borrow().is_some()
    }

    /// How the connection ended, once it has.
    pub fn disconnect(&self) -> Option<Disconnect> {
        self.shared.disconnect.borrow().clone()
    }

    /// Waits up to `timeout` for the connection to end; `None` if it is still open.
    pub async fn wait_closed(&self, timeout: Duration) -> Option<Disconnect> {
        let mut disconnect = self.shared.disconnect.subscribe();
        let ended = tokio::time::timeout(timeout, disconnect.wait_for(Option::is_some)).await;
        match ended {
            Ok(Ok(ended)) => ended.clone(),
            _ => None,
        }
    }

    /// Starts the close handshake and waits (briefly) for the server to finish it.
    pub async fn close(&self) -> Result<()> {
        self.shared.closing.store(true, Ordering::SeqCst);
        match self.send_message_raw(Message::Close(None)).await {
            Ok(()) | Err(ClientError::Closed) => {}
            Err(e) => return Err(e),
        }
        if self.wait_closed(CLOSE_TIMEOUT).await.is_none() {
            tracing::debug!("server did not finish the close handshake; dropping the stream");
            self.reader.abort();
        }
        Ok(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("disconnect", &self.disconnect())
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

fn closed_or_transport(e: tungstenite::Error) -> ClientError {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            ClientError::Closed
        }
        other => other.into(),
    }
}

/// The reader task: dispatches frames until the stream ends, then marks the
/// connection closed so waiting requests fail with `Closed`.
async fn read_frames(
    mut stream: SplitStream<WsStream>,
    shared: Arc<Shared>,
    unsolicited: mpsc::UnboundedSender<ServerFrame>,
) {
    let mut server_close = None;
    let mut error = None;
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Binary(bytes)) => match ServerFrame::decode(bytes) {
                Ok(frame) => dispatch(&shared, &unsolicited, frame),
                Err(e) => tracing::warn!(error = %e, "dropping undecodable server frame"),
            },
            Ok(Message::Text(_)) => tracing::warn!("dropping text frame from server"),
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                server_close = Some(Disconnect::ServerClosed { code, reason });
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let disconnect = if shared.closing.load(Ordering::SeqCst) {
        Disconnect::ClientClosed
    } else {
        server_close.unwrap_or(Disconnect::Dropped { error })
    };
    tracing::debug!(?disconnect, "connection ended");
    let abandoned = {
        let mut waiters = shared.waiters();
        waiters.closed = true;
        std::mem::take(&mut waiters.by_request_id)
    };
    drop(abandoned);
    shared.disconnect.send_replace(Some(disconnect));
}

fn dispatch(
    shared: &Shared,
    unsolicited: &mpsc::UnboundedSender<ServerFrame>,
    mut frame: ServerFrame,
) {
    if frame.request_id != 0 {
        let waiter = shared.waiters().by_request_id.remove(&frame.request_id);
        if let Some(waiter) = waiter {
            match waiter.send(frame) {
                Ok(()) => return,
                Err(returned) => frame = returned,
            }
        }
    }
    // The receiver lives as long as the Connection; if it is gone, so is everyone who could read this.
    let _ = unsolicited.send(frame);
}
