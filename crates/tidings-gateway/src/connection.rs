//! One client connection: decode frames, enforce the session rules (hello
//! first, size limits), hand each request to the dispatch table, and write
//! answers and pushes through one outbound queue (`outbound`, `writer`).
//!
//! A connection's requests run concurrently up to `gateway.max_in_flight`;
//! past it the reader stops reading until one finishes, so a client that
//! floods is slowed down by TCP instead of buffered without bound.
//!
//! How a connection ends, and what the client is told first:
//! - the client closes, or the socket breaks: a plain close;
//! - a frame past the transport's hard limit (`server::FRAME_HARD_LIMIT`),
//!   which cannot be read past: `Error` frame_too_large with
//!   `connection_kept` false, then Close 1009;
//! - too slow (its queue overflowed, or it took no frame for
//!   `gateway.write_timeout_ms`): `Error` unavailable, then Close 1008, if
//!   it still takes them (`writer`);
//! - the gateway drains: reading stops, requests in flight finish (or are
//!   answered unavailable at the drain deadline), then `Error` unavailable
//!   and Close 1012 (`drain`);
//! - its token expires without a refresh: `Error` unauthenticated, then
//!   Close 4001 (`token_expiry`).

use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tidings_core::ids::SYSTEM_SENDER_PREFIX;
use tidings_core::{DeviceId, Error, ErrorCode};
use tidings_proto::client::v1::{
    self as client, client_frame::Frame as In, server_frame::Frame as Out,
};
use tidings_proto::sync::v1 as sync;
use tidings_telemetry::metrics::names;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::dispatch::{self, Mode, frame_kind};
use crate::drain::CLOSE_SERVICE_RESTART;
use crate::outbound::{Ending, Outbound};
use crate::session::{Conn, Identity, server_frame};
use crate::state::Gateway;
use crate::token_expiry::{self, TokenExpiry};
use crate::writer::{self, CLOSE_GRACE};

/// WebSocket close code after a frame too large to read (1009, message too
/// big).
const CLOSE_TOO_BIG: u16 = 1009;

struct Session {
    conn: Arc<Conn>,
    identity: Option<Arc<Identity>>,
    /// When the token expires (after hello; moved by refresh).
    expiry: TokenExpiry,
}

/// Why the reader stopped.
enum Ended {
    /// The client closed, or the socket broke.
    Left,
    /// A frame past the transport's limit; the text says how large.
    TooLarge(String),
    /// Given up as too slow (see `writer`).
    Abandoned,
    /// The gateway drains.
    Draining,
    /// The token expired without a refresh.
    Expired,
}

impl Ended {
    fn as_str(&self) -> &'static str {
        match self {
            Ended::Left => "left",
            Ended::TooLarge(_) => "frame too large",
            Ended::Abandoned => "too slow",
            Ended::Draining => "draining",
            Ended::Expired => "token expired",
        }
    }
}

/// Serves one upgraded WebSocket until either side closes it.
pub(crate) async fn run(gateway: Arc<Gateway>, socket: WebSocket) {
    let Some(_open) = gateway.open_connection() else {
        // Upgraded just as the drain began: off to another gateway at once.
        let (mut sink, _stream) = socket.split();
        writer::finish(&mut sink, Some(drain_ending())).await;
        return;
    };
    let config = &gateway.config;
    let (sink, mut stream) = socket.split();
    let (outbound, queue) = Outbound::new(config.outbound_queue, config.outbound_bytes());
    let writer = tokio::spawn(writer::run(sink, queue, config.write_timeout()));
    metrics::counter!(names::GATEWAY_CONNECTIONS_OPENED).increment(1);
    let open = metrics::gauge!(names::GATEWAY_CONNECTIONS);
    open.increment(1.0);
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let mut session = Session {
        conn: Arc::new(Conn {
            gateway: Arc::clone(&gateway),
            outbound: outbound.clone(),
            limits: gateway.limits.connection(),
            typing: Default::default(),
        }),
        identity: None,
        expiry: TokenExpiry::default(),
    };
    let ended = session.read(&mut stream, &in_flight).await;
    let ending = match &ended {
        Ended::Left => None,
        Ended::TooLarge(why) => Some(Ending {
            error: Some(error_frame(ErrorCode::FrameTooLarge, why.clone())),
            code: CLOSE_TOO_BIG,
            reason: "frame too large",
        }),
        Ended::Abandoned => None,
        Ended::Draining => {
            // Every request in flight ends by the drain deadline, answered.
            let all = config.max_in_flight as u32;
            let _finished = in_flight.acquire_many(all).await;
            Some(drain_ending())
        }
        Ended::Expired => Some(token_expiry::expired_ending()),
    };
    if !matches!(ended, Ended::Abandoned) {
        // Behind every answer queued so far; a client that takes none of
        // them for the write timeout is too slow to wait for.
        let queued = tokio::time::timeout(config.write_timeout(), outbound.end(ending)).await;
        if queued.is_err() {
            outbound.abandon();
        }
    }
    session.cleanup().await;
    drop(session);
    drop(outbound);
    let sink = writer.await;
    tracing::debug!(why = ended.as_str(), "connection closed");
    if matches!(ended, Ended::TooLarge(_)) {
        // The rest of the oversize frame is still unread: closing the socket
        // now would reset it, and a reset can destroy the error and close
        // frames before the client reads them. Give it a moment.
        tokio::time::sleep(CLOSE_GRACE).await;
    }
    drop((sink, stream));
    open.decrement(1.0);
}

/// What a drained connection is told: reconnect, elsewhere if possible.
fn drain_ending() -> Ending {
    let why =
        "this gateway is shutting down; reconnect (to another gateway if there is one) and pull";
    Ending {
        error: Some(error_frame(ErrorCode::Unavailable, why.to_string())),
        code: CLOSE_SERVICE_RESTART,
        reason: "service restart",
    }
}

/// An unsolicited error frame announcing that the connection closes next.
fn error_frame(code: ErrorCode, why: String) -> axum::body::Bytes {
    server_frame(Out::Error(Error::new(code, why).to_client_frame(false)))
}

/// The size of a frame the WebSocket layer refused to read, if that is why
/// reading failed.
fn refused_frame(error: axum::Error) -> Result<String, axum::Error> {
    use tungstenite::error::CapacityError;
    let inner = error.into_inner();
    match inner.downcast::<tungstenite::Error>() {
        Ok(e) => match *e {
            tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
                Ok(format!(
                    "frame is at least {size} bytes; frames over {max_size} bytes close the connection"
                ))
            }
            other => Err(axum::Error::new(other)),
        },
        Err(inner) => Err(axum::Error::new(inner)),
    }
}

impl Session {
    /// Reads and serves frames until the connection ends; says why.
    async fn read(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        in_flight: &Arc<Semaphore>,
    ) -> Ended {
        let outbound = self.conn.outbound.clone();
        let abandoned = outbound.abandoned();
        let draining = self.conn.gateway.stopped_accepting();
        tokio::pin!(abandoned, draining);
        loop {
            let permit = tokio::select! {
                biased;
                _ = &mut abandoned => return Ended::Abandoned,
                _ = &mut draining => return Ended::Draining,
                _ = self.expiry.expired() => return Ended::Expired,
                permit = Arc::clone(in_flight).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return Ended::Left,
                },
            };
            let message = tokio::select! {
                biased;
                _ = &mut abandoned => return Ended::Abandoned,
                _ = &mut draining => return Ended::Draining,
                _ = self.expiry.expired() => return Ended::Expired,
                message = stream.next() => message,
            };
            match message {
                Some(Ok(message)) => {
                    if !self.handle(message, permit).await {
                        return Ended::Left;
                    }
                }
                Some(Err(e)) => match refused_frame(e) {
                    Ok(why) => return Ended::TooLarge(why),
                    Err(e) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        return Ended::Left;
                    }
                },
                None => return Ended::Left,
            }
        }
    }

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
        let frame = match crate::inbound::decode_client_frame(&bytes, limit) {
            Ok(frame) => frame,
            Err(e) => {
                self.conn.error(0, e).await;
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
            (Some(identity), In::Refresh(refresh)) => {
                let user = identity.user.clone();
                let refreshed = token_expiry::refresh(&self.conn, &user, &mut self.expiry, refresh);
                let answer = refreshed.instrument(span).await;
                self.answer(request_id, answer).await;
                return true;
            }
            (Some(identity), frame) => (Arc::clone(identity), frame),
        };
        let (identity, frame) = identity;
        let (mode, work) = span.in_scope(|| dispatch::start(&self.conn, &identity, frame));
        let conn = Arc::clone(&self.conn);
        let answered = async move {
            let answer = conn.gateway.before_deadline(work).await;
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
        let authenticated = self
            .conn
            .gateway
            .backends
            .auth
            .authenticate(&hello.token)
            .await?;
        let user = authenticated.user.clone();
        if user.as_str().starts_with(SYSTEM_SENDER_PREFIX) {
            // System senders post through the server API only; a client
            // token naming one would let it speak as the product itself.
            return Err(Error::new(
                ErrorCode::Unauthenticated,
                format!(
                    "user ids starting with {SYSTEM_SENDER_PREFIX:?} are reserved for system \
                     senders and cannot connect"
                ),
            ));
        }
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
        let open = self.conn.gateway.hub.connections_of(user.as_str());
        self.conn.gateway.limits.admit(&user, open)?;
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
        self.conn.gateway.publish_connected(user.as_str());
        tracing::debug!(user_id = %user, device_id = %device, "connection authenticated");
        let welcome = client::Welcome {
            user_id: user.to_string(),
            device_id: device.to_string(),
            head,
            max_frame_bytes: self.conn.gateway.config.max_frame_bytes as u32,
            token_expires_at_ms: authenticated.expires_at_ms.unwrap_or(0),
        };
        self.expiry.set(&authenticated);
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
        let gateway = &self.conn.gateway;
        gateway.presence.unsubscribe(identity.connection_id, &[]);
        let user = identity.user.as_str();
        let device_remains = gateway.hub.remove(user, identity.connection_id);
        if device_remains {
            return;
        }
        gateway.record_disconnect(user).await;
        let registry = &gateway.backends.registry;
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
        gateway.publish(user).await;
    }
}
