//! One client connection: decode frames, enforce the session rules (hello
//! first, size limits), forward requests, and write answers and pushes in the
//! order they are produced.

use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tidings_core::{DeviceId, Error, ErrorCode, UserId};
use tidings_proto::client::v1::{
    self as client, ClientFrame, ServerFrame, client_frame::Frame as In, server_frame::Frame as Out,
};
use tidings_proto::logic::v1 as logic;
use tidings_proto::sync::v1 as sync;
use tidings_telemetry::metrics::names;
use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

use crate::hub::ConnectionHandle;
use crate::server::Gateway;

pub(crate) struct Identity {
    pub(crate) user: UserId,
    pub(crate) device: DeviceId,
    pub(crate) connection_id: u64,
    /// Pull pages larger than this are zstd-compressed (0: never).
    pub(crate) compress_above: u32,
}

pub(crate) struct Session {
    pub(crate) gateway: Arc<Gateway>,
    outbound: mpsc::Sender<WsMessage>,
    close: Arc<Notify>,
    identity: Option<Identity>,
}

/// Serves one upgraded WebSocket until either side closes it.
pub(crate) async fn run(gateway: Arc<Gateway>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut queue) = mpsc::channel::<WsMessage>(gateway.config.outbound_queue);
    let writer = tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    metrics::counter!(names::GATEWAY_CONNECTIONS_OPENED).increment(1);
    let open = metrics::gauge!(names::GATEWAY_CONNECTIONS);
    open.increment(1.0);
    let close = Arc::new(Notify::new());
    let mut session = Session {
        gateway,
        outbound,
        close: Arc::clone(&close),
        identity: None,
    };
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(message)) => {
                    if !session.handle(message).await {
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
    /// Handles one WebSocket message; `false` ends the connection.
    async fn handle(&mut self, message: WsMessage) -> bool {
        let bytes = match message {
            WsMessage::Binary(bytes) => bytes,
            WsMessage::Text(_) => {
                self.error(
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
        let limit = self.gateway.config.max_frame_bytes;
        if bytes.len() > limit {
            let why = format!("frame is {} bytes; the limit is {limit}", bytes.len());
            self.error(0, Error::new(ErrorCode::FrameTooLarge, why))
                .await;
            return true;
        }
        let frame = match ClientFrame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => {
                let why = format!("frame is not a ClientFrame: {e}");
                self.error(0, Error::new(ErrorCode::MalformedFrame, why))
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
        async {
            match self.dispatch(frame).await {
                Ok(out) => self.reply(request_id, out).await,
                Err(e) => self.error(request_id, e).await,
            }
        }
        .instrument(span)
        .await;
        true
    }

    async fn dispatch(&mut self, frame: ClientFrame) -> Result<Out, Error> {
        let Some(frame) = frame.frame else {
            return Err(Error::new(
                ErrorCode::UnknownFrame,
                "the frame carries no frame type this server knows",
            ));
        };
        if let In::Hello(hello) = frame {
            return self.hello(hello).await;
        }
        let identity = self.authenticated()?;
        let user = identity.user.to_string();
        let backends = &self.gateway.backends;
        match frame {
            In::Hello(_) => unreachable!("handled above"),
            In::Send(send) => {
                let ack = backends
                    .logic
                    .clone()
                    .send(logic::SendRequest {
                        sender_id: user,
                        sender_device: identity.device.to_string(),
                        conversation_id: send.conversation_id,
                        client_msg_id: send.client_msg_id,
                        kind: send.kind,
                        body: send.body,
                    })
                    .await?
                    .into_inner();
                Ok(Out::SendAck(client::SendAck {
                    message_id: ack.message_id,
                    conversation_id: ack.conversation_id,
                    conv_seq: ack.conv_seq,
                    created_at_ms: ack.created_at_ms,
                    duplicate: ack.duplicate,
                }))
            }
            In::Pull(pull) => {
                let page = backends
                    .sync
                    .clone()
                    .pull(sync::PullRequest {
                        user_id: user,
                        after: pull.after,
                        limit: pull.limit,
                    })
                    .await?
                    .into_inner();
                Ok(Out::PullResult(crate::compression::compress_page(
                    identity.compress_above,
                    client::PullResult {
                        entries: page.entries,
                        head: page.head,
                        has_more: page.has_more,
                        truncated: page.truncated,
                        conversation_heads: page
                            .conversation_heads
                            .into_iter()
                            .map(|h| client::ConversationHead {
                                conversation_id: h.conversation_id,
                                head: h.head,
                            })
                            .collect(),
                        compressed_entries: Vec::new(),
                    },
                )))
            }
            In::Ack(ack) => {
                backends
                    .sync
                    .clone()
                    .ack_checkpoint(sync::AckCheckpointRequest {
                        user_id: user,
                        device_id: identity.device.to_string(),
                        checkpoint: ack.checkpoint,
                    })
                    .await?;
                Ok(Out::AckResult(client::AckResult {
                    checkpoint: ack.checkpoint,
                }))
            }
            In::History(history) => {
                let page = backends
                    .logic
                    .clone()
                    .history(logic::HistoryRequest {
                        user_id: user,
                        conversation_id: history.conversation_id,
                        before: history.before,
                        limit: history.limit,
                    })
                    .await?
                    .into_inner();
                Ok(Out::HistoryResult(client::HistoryResult {
                    messages: page.messages,
                    has_more: page.has_more,
                }))
            }
            In::Ping(ping) => Ok(Out::Pong(client::Pong { nonce: ping.nonce })),
            In::RoomJoin(join) => self.room_join(identity, join).await,
            In::RoomLeave(_) => self.room_leave(identity).await,
            In::RoomSend(send) => self.room_send(identity, send).await,
            other => {
                crate::groups::dispatch(&self.gateway, &identity.user, &identity.device, other)
                    .await
            }
        }
    }

    async fn hello(&mut self, hello: client::Hello) -> Result<Out, Error> {
        if self.identity.is_some() {
            return Err(Error::new(
                ErrorCode::AlreadyAuthenticated,
                "hello was already accepted on this connection",
            ));
        }
        let user = self.gateway.backends.auth.authenticate(&hello.token)?;
        let device = DeviceId::parse(&hello.device_id)?;
        let backends = &self.gateway.backends;
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
        let connection_id = self.gateway.hub.next_connection_id();
        self.gateway.hub.add(
            user.as_str(),
            self.connection_handle(connection_id, &device),
        );
        if let Err(e) = backends
            .registry
            .register(
                user.as_str(),
                device.as_str(),
                &self.gateway.advertised,
                self.gateway.registry_ttl(),
            )
            .await
        {
            self.gateway.hub.remove(user.as_str(), connection_id);
            return Err(Error::unavailable(format!("registry: {e}")));
        }
        tracing::debug!(user_id = %user, device_id = %device, "connection authenticated");
        let welcome = client::Welcome {
            user_id: user.to_string(),
            device_id: device.to_string(),
            head,
            max_frame_bytes: self.gateway.config.max_frame_bytes as u32,
        };
        self.identity = Some(Identity {
            user,
            device,
            connection_id,
            compress_above: hello.compress_above,
        });
        Ok(Out::Welcome(welcome))
    }

    fn authenticated(&self) -> Result<&Identity, Error> {
        self.identity.as_ref().ok_or_else(|| {
            Error::new(
                ErrorCode::Unauthenticated,
                "send hello with a token before any other frame",
            )
        })
    }

    /// A handle for the hub to write to this connection.
    pub(crate) fn connection_handle(&self, id: u64, device: &DeviceId) -> ConnectionHandle {
        ConnectionHandle {
            id,
            device_id: device.to_string(),
            outbound: self.outbound.clone(),
            close: Arc::clone(&self.close),
        }
    }

    async fn reply(&self, request_id: u64, frame: Out) {
        let frame = ServerFrame {
            request_id,
            frame: Some(frame),
        };
        let _ = self
            .outbound
            .send(WsMessage::Binary(frame.encode_to_vec().into()))
            .await;
    }

    async fn error(&self, request_id: u64, error: Error) {
        tracing::debug!(code = %error.code, message = %error.message, "request refused");
        self.reply(request_id, Out::Error(error.to_client_frame(true)))
            .await;
    }

    async fn cleanup(&mut self) {
        let Some(identity) = self.identity.take() else {
            return;
        };
        self.leave_current_room(identity.connection_id).await;
        let user = identity.user.as_str();
        let device_remains = self.gateway.hub.remove(user, identity.connection_id);
        if device_remains {
            return;
        }
        let registry = &self.gateway.backends.registry;
        if let Err(e) = registry
            .unregister(user, identity.device.as_str(), &self.gateway.advertised)
            .await
        {
            tracing::warn!(user_id = %user, error = %e, "registry clean-up failed; the entry will expire");
        }
    }
}

/// The request type of a frame, as a metric label and span name.
fn frame_kind(frame: &ClientFrame) -> &'static str {
    match &frame.frame {
        None => "unknown",
        Some(In::Hello(_)) => "hello",
        Some(In::Send(_)) => "send",
        Some(In::Pull(_)) => "pull",
        Some(In::Ack(_)) => "ack",
        Some(In::History(_)) => "history",
        Some(In::Ping(_)) => "ping",
        Some(In::RoomJoin(_)) => "room_join",
        Some(In::RoomLeave(_)) => "room_leave",
        Some(In::RoomSend(_)) => "room_send",
        Some(In::CreateGroup(_)) => "create_group",
        Some(In::AddMembers(_)) => "add_members",
        Some(In::RemoveMembers(_)) => "remove_members",
        Some(In::ListMembers(_)) => "list_members",
        Some(In::ListGroups(_)) => "list_groups",
        Some(In::PullConversation(_)) => "pull_conversation",
        Some(In::ReadAck(_)) => "read_ack",
        Some(In::ConversationList(_)) => "conversation_list",
    }
}
