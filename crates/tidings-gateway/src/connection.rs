//! One client connection: decode frames, enforce the session rules (hello
//! first, size limits), hand each request to the dispatch table, and write
//! answers and pushes through one outbound queue.
//!
//! A connection's requests run concurrently up to `gateway.max_in_flight`;
//! past it the reader stops reading until one finishes, so a client that
//! floods is slowed down by TCP instead of buffered without bound.

use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tidings_core::{DeviceId, Error, ErrorCode};
use tidings_proto::client::v1::{
    self as client, ClientFrame, client_frame::Frame as In, server_frame::Frame as Out,
};
use tidings_proto::sync::v1 as sync;
use tidings_telemetry::metrics::names;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::Instrument;

use crate::dispatch::{self, Mode, frame_kind};
use crate::session::{Conn, Identity};
use crate::state::Gateway;

struct Session {
    conn: Arc<Conn>,
    identity: Option<Arc<Identity>>,
}

/// Serves one upgraded WebSocket until either side closes it.
pub(crate) async fn run(gateway: Arc<Gateway>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut queue) = mpsc::channel::<WsMessage>(gateway.config.outbound_queue);
    let writer = tokio::spawn(async move {
        // Everything queued goes out with one flush: one write for a burst.
        while let Some(message) = queue.recv().await {
            if sink.feed(message).await.is_err() {
                break;
            }
            let mut failed = false;
            while let Ok(more) = queue.try_recv() {
                if sink.feed(more).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    metrics::counter!(names::GATEWAY_CONNECTIONS_OPENED).increment(1);
    let open = metrics::gauge!(names::GATEWAY_CONNECTIONS);
    open.increment(1.0);
    let close = Arc::new(Notify::new());
    let in_flight = Arc::new(Semaphore::new(gateway.config.max_in_flight));
    let mut session = Session {
        conn: Arc::new(Conn {
            gateway,
            outbound,
            close: Arc::clone(&close),
        }),
        identity: None,
    };
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = close.notified() => break,
        };
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(message)) => {
                    if !session.handle(message, permit).await {
                        break;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    break;
                }
                None => break,
            },
            _ = close.notified() => break,
        }
    }
    session.cleanup().await;
    drop(session);
    let _ = writer.await;
    open.decrement(1.0);
}

impl Session {
    /// Handles one WebSocket message; `false` ends the connection. `permit`
    /// is this request's place among the connection's requests in flight.
    async fn handle(&mut self, message: WsMessage, permit: OwnedSemaphorePermit) -> bool {
        let bytes = match message {
            WsMessage::Binary(bytes) => bytes,
            WsMessage::Text(_) => {
                self.conn
                    .error(
                        0,
                        Error::new(
                            ErrorCode::MalformedFrame,
                            "text frames are not supported; send one binary protobuf ClientFrame per message",
                        ),
                    )
                    .await;
                return true;
            }
            WsMessage::Close(_) => return false,
            WsMessage::Ping(_) | WsMessage::Pong(_) => return true,
        };
        let limit = self.conn.gateway.config.max_frame_bytes;
        if bytes.len() > limit {
            let why = format!("frame is {} bytes; the limit is {limit}", bytes.len());
            self.conn
                .error(0, Error::new(ErrorCode::FrameTooLarge, why))
                .await;
            return true;
        }
        let frame = match ClientFrame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => {
                let why = format!("frame is not a ClientFrame: {e}");
                self.conn
                    .error(0, Error::new(ErrorCode::MalformedFrame, why))
                    .await;
                return true;
            }
        };
        let request_id = frame.request_id;
        let kind = frame_kind(&frame);
        metrics::counter!(names::GATEWAY_REQUESTS, "type" => kind).increment(1);
        // Each client request starts a trace; the gRPC calls it makes carry
        // the context on to logic, sync and beyond.
        let span = tracing::info_span!(
            "client request",
            otel.name = %format_args!("client/{kind}"),
            otel.kind = "server",
            request_type = kind,
            request_id,
            trace_id = tracing::field::Empty,
        );
        tidings_telemetry::record_trace_id(&span);
        let Some(frame) = frame.frame else {
            let e = Error::new(
                ErrorCode::UnknownFrame,
                "the frame carries no frame type this server knows",
            );
            self.conn.error(request_id, e).await;
            return true;
        };
        let identity = match (&self.identity, frame) {
            (None, In::Hello(hello)) => {
                let answer = self.hello(hello).instrument(span).await;
                self.answer(request_id, answer).await;
                return true;
            }
            (None, _) => {
                let e = Error::new(
                    ErrorCode::Unauthenticated,
                    "send hello with a token before any other frame",
                );
                self.conn.error(request_id, e).await;
                return true;
            }
            (Some(identity), frame) => (Arc::clone(identity), frame),
        };
        let (identity, frame) = identity;
        let (mode, work) = span.in_scope(|| dispatch::start(&self.conn, &identity, frame));
        let conn = Arc::clone(&self.conn);
        let answered = async move {
            let answer = work.await;
            match answer {
                Ok(out) => conn.reply(request_id, out).await,
                Err(e) => conn.error(request_id, e).await,
            }
            drop(permit);
        }
        .instrument(span);
        match mode {
            Mode::Concurrent => {
                tokio::spawn(answered);
            }
            Mode::InOrder => answered.await,
        }
        true
    }

    async fn answer(&self, request_id: u64, answer: Result<Out, Error>) {
        match answer {
            Ok(out) => self.conn.reply(request_id, out).await,
            Err(e) => self.conn.error(request_id, e).await,
        }
    }

    async fn hello(&mut self, hello: client::Hello) -> Result<Out, Error> {
        if self.identity.is_some() {
            return Err(Error::new(
                ErrorCode::AlreadyAuthenticated,
                "hello was already accepted on this connection",
            ));
        }
        let user = self.conn.gateway.backends.auth.authenticate(&hello.token)?;
        let device = DeviceId::parse(&hello.device_id)?;
        let backends = &self.conn.gateway.backends;
        let head = backends
            .sync
            .clone()
            .head(sync::HeadRequest {
                user_id: user.to_string(),
            })
            .await?
            .into_inner()
            .head;
        if hello.checkpoint > 0 {
            backends
                .sync
                .clone()
                .ack_checkpoint(sync::AckCheckpointRequest {
                    user_id: user.to_string(),
                    device_id: device.to_string(),
                    checkpoint: hello.checkpoint,
                })
                .await?;
        }
        let connection_id = self.conn.gateway.hub.next_connection_id();
        self.conn
            .gateway
            .hub
            .add(user.as_str(), self.conn.handle(connection_id, &device));
        if let Err(e) = backends
            .registry
            .register(
                user.as_str(),
                device.as_str(),
                &self.conn.gateway.advertised,
                self.conn.gateway.registry_ttl(),
            )
            .await
        {
            self.conn.gateway.hub.remove(user.as_str(), connection_id);
            return Err(Error::unavailable(format!("registry: {e}")));
        }
        tracing::debug!(user_id = %user, device_id = %device, "connection authenticated");
        let welcome = client::Welcome {
            user_id: user.to_string(),
            device_id: device.to_string(),
            head,
            max_frame_bytes: self.conn.gateway.config.max_frame_bytes as u32,
        };
        self.identity = Some(Arc::new(Identity {
            user,
            device,
            connection_id,
            compress_above: hello.compress_above,
        }));
        Ok(Out::Welcome(welcome))
    }

    async fn cleanup(&mut self) {
        let Some(identity) = self.identity.take() else {
            return;
        };
        self.conn.leave_current_room(identity.connection_id).await;
        let user = identity.user.as_str();
        let device_remains = self.conn.gateway.hub.remove(user, identity.connection_id);
        if device_remains {
            return;
        }
        let registry = &self.conn.gateway.backends.registry;
        if let Err(e) = registry
            .unregister(
                user,
                identity.device.as_str(),
                &self.conn.gateway.advertised,
            )
            .await
        {
            tracing::warn!(user_id = %user, error = %e, "registry clean-up failed; the entry will expire");
        }
    }
}
