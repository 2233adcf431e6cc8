//! One benchmark connection: a raw WebSocket, authenticated with `Hello`
//! before the load starts.

use std::time::Duration;

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use tidings_proto::client::v1::{Hello, ServerFrame, client_frame, server_frame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::wire::{self, Incoming};

/// A client WebSocket.
pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Device id of every benchmark connection.
pub const DEVICE: &str = "bench";

/// How long connecting and the `Hello`/`Welcome` exchange may take.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// WebSocket read and write buffer of a client connection: chat-sized, as
/// the gateway's and the relay's, so thousands of idle connections stay
/// cheap in this process too.
const WS_BUFFER_BYTES: usize = 4096;

/// Request id of the `Hello`: the load numbers its requests from 1 up.
const HELLO_REQUEST: u64 = u64::MAX;

/// Opens a WebSocket to `url` (Nagle off, as the SDK) and authenticates as
/// `user` with a development token.
pub async fn open(url: &str, user: &str) -> anyhow::Result<WsStream> {
    tokio::time::timeout(HELLO_TIMEOUT, open_inner(url, user))
        .await
        .with_context(|| format!("{user}: no welcome from {url} within {HELLO_TIMEOUT:?}"))?
}

async fn open_inner(url: &str, user: &str) -> anyhow::Result<WsStream> {
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES);
    let (mut socket, _response) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .with_context(|| format!("{user} cannot connect to {url}"))?;
    let hello = client_frame::Frame::Hello(Hello {
        token: format!("dev:{user}"),
        device_id: DEVICE.to_string(),
        checkpoint: 0,
        compress_above: 0,
    });
    socket
        .send(wire::client_message(HELLO_REQUEST, hello))
        .await
        .with_context(|| format!("{user}: hello not sent"))?;
    while let Some(message) = socket.next().await {
        let message = message.with_context(|| format!("{user}: connection failed"))?;
        let frame: ServerFrame = match wire::decode(&message) {
            Incoming::Frame(frame) => frame,
            Incoming::Close => break,
            _ => continue,
        };
        if frame.request_id != HELLO_REQUEST {
            continue;
        }
        match frame.frame {
            Some(server_frame::Frame::Welcome(welcome)) => {
                anyhow::ensure!(
                    welcome.user_id == user,
                    "welcomed as {} instead of {user}",
                    welcome.user_id
                );
                return Ok(socket);
            }
            Some(server_frame::Frame::Error(error)) => {
                anyhow::bail!("{user}: hello refused: {}", error.message)
            }
            other => anyhow::bail!("{user}: unexpected answer to hello: {other:?}"),
        }
    }
    anyhow::bail!("{user}: connection closed before the welcome")
}

/// Opens and authenticates one connection per user of `users`, at most
/// `concurrency` at a time; in the order of `users`.
pub async fn open_all(
    url: &str,
    users: &[String],
    concurrency: usize,
) -> anyhow::Result<Vec<WsStream>> {
    let opened = futures_util::stream::iter(users.iter().map(|user| open(url, user)))
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    opened.into_iter().collect()
}
