//! `tidings.gateway.v1.GatewayService`: logic's pushes, written to every
//! connection of each user here.

use std::sync::Arc;

use axum::extract::ws::Message as WsMessage;
use prost::Message as _;
use tidings_proto::client::v1::{Push, ServerFrame, server_frame::Frame};
use tidings_proto::gateway::v1::{
    PushRequest, PushResponse, gateway_service_server::GatewayService,
    gateway_service_server::GatewayServiceServer,
};
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

#[tonic::async_trait]
impl GatewayService for GatewayServer {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let (mut delivered, mut missed) = (0u32, 0u32);
        for delivery in request.into_inner().deliveries {
            let connections = self.hub.connections_of(&delivery.user_id);
            if connections.is_empty() {
                missed += 1;
                continue;
            }
            let frame = ServerFrame {
                request_id: 0,
                frame: Some(Frame::Push(Push {
                    entry: delivery.entry,
                })),
            };
            let bytes: axum::body::Bytes = frame.encode_to_vec().into();
            for connection in connections {
                match connection
                    .outbound
                    .try_send(WsMessage::Binary(bytes.clone()))
                {
                    Ok(()) => delivered += 1,
                    Err(TrySendError::Full(_)) => {
                        // Too slow to keep up: close it; the device reconnects and pulls.
                        tracing::warn!(user_id = %delivery.user_id, device_id = %connection.device_id, "outbound queue full; closing connection");
                        connection.close.notify_one();
                        missed += 1;
                    }
                    Err(TrySendError::Closed(_)) => missed += 1,
                }
            }
        }
        Ok(Response::new(PushResponse { delivered, missed }))
    }
}
