//! `tidings.gateway.v1.GatewayService`: logic's pushes, written to every
//! connection of each user here.

use std::sync::Arc;

use axum::extract::ws::Message as WsMessage;
use prost::Message as _;
use tidings_proto::client::v1::{ConversationPush, Push, ServerFrame, server_frame::Frame};
use tidings_proto::gateway::v1::{
    PushConversationRequest, PushRequest, PushResponse, PushRoomRequest,
    gateway_service_server::GatewayService, gateway_service_server::GatewayServiceServer,
};
use tidings_telemetry::metrics::names;
use tokio::sync::mpsc::error::TrySendError;
use tonic::{Request, Response, Status};

use crate::Hub;

/// Serves pushes for the connections of one gateway.
#[derive(Clone)]
pub struct GatewayServer {
    hub: Arc<Hub>,
}

impl GatewayServer {
    pub fn new(hub: Arc<Hub>) -> Self {
        GatewayServer { hub }
    }

    pub fn into_service(self) -> GatewayServiceServer<Self> {
        GatewayServiceServer::new(self)
    }
}

/// Counts pushes written and missed.
pub(crate) fn record_pushes(response: &PushResponse) {
    metrics::counter!(names::GATEWAY_PUSHES, "result" => "sent")
        .increment(response.delivered.into());
    metrics::counter!(names::GATEWAY_PUSHES, "result" => "missed")
        .increment(response.missed.into());
}

impl GatewayServer {
    /// Queues `bytes` on every connection of `user`; counts writes and misses.
    fn write_to_user(&self, user: &str, bytes: &axum::body::Bytes, counts: &mut (u32, u32)) {
        let connections = self.hub.connections_of(user);
        if connections.is_empty() {
            counts.1 += 1;
            return;
        }
        for connection in connections {
            match connection
                .outbound
                .try_send(WsMessage::Binary(bytes.clone()))
            {
                Ok(()) => counts.0 += 1,
                Err(TrySendError::Full(_)) => {
                    // Too slow to keep up: close it; the device reconnects and pulls.
                    tracing::warn!(user_id = %user, device_id = %connection.device_id, "outbound queue full; closing connection");
                    connection.close.notify_one();
                    counts.1 += 1;
                }
                Err(TrySendError::Closed(_)) => counts.1 += 1,
            }
        }
    }
}

#[tonic::async_trait]
impl GatewayService for GatewayServer {
    async fn push_conversation(
        &self,
        request: Request<PushConversationRequest>,
    ) -> Result<Response<PushResponse>, Status> {
        let request = request.into_inner();
        let frame = ServerFrame {
            request_id: 0,
            frame: Some(Frame::ConversationPush(ConversationPush {
                message: request.message,
            })),
        };
        let bytes: axum::body::Bytes = frame.encode_to_vec().into();
        let mut counts = (0, 0);
        for user in &request.user_ids {
            self.write_to_user(user, &bytes, &mut counts);
        }
        let response = PushResponse {
            delivered: counts.0,
            missed: counts.1,
        };
        record_pushes(&response);
        Ok(Response::new(response))
    }

    async fn push_room(
        &self,
        request: Request<PushRoomRequest>,
    ) -> Result<Response<PushResponse>, Status> {
        let response = crate::rooms::push_room(&self.hub, request.into_inner());
        record_pushes(&response);
        Ok(Response::new(response))
    }

    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let mut counts = (0, 0);
        for delivery in request.into_inner().deliveries {
            let frame = ServerFrame {
                request_id: 0,
                frame: Some(Frame::Push(Push {
                    entry: delivery.entry,
                })),
            };
            let bytes: axum::body::Bytes = frame.encode_to_vec().into();
            self.write_to_user(&delivery.user_id, &bytes, &mut counts);
        }
        let response = PushResponse {
            delivered: counts.0,
            missed: counts.1,
        };
        record_pushes(&response);
        Ok(Response::new(response))
    }
}
