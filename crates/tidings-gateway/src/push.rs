//! `tidings.gateway.v1.GatewayService`: logic's pushes, written to every
//! connection of each user here.

use std::sync::Arc;

use tidings_core::Error;
use tidings_proto::client::v1::{ConversationPush, Push, server_frame::Frame};
use tidings_proto::gateway::v1::{
    DisconnectRequest, DisconnectResponse, PushConversationRequest, PushRequest, PushResponse,
    PushRoomRequest, PushTypingRequest, gateway_service_server::GatewayService,
    gateway_service_server::GatewayServiceServer,
};
use tidings_telemetry::metrics::names;
use tonic::{Request, Response, Status};

use crate::Hub;
use crate::frame_limit::push_fits;
use crate::hub::Writes;
use crate::outbound::Ending;
use crate::session::server_frame;

/// Serves pushes for the connections of one gateway.
#[derive(Clone)]
pub struct GatewayServer {
    hub: Arc<Hub>,
    /// No push larger than this is written (`gateway.max_frame_bytes`).
    max_frame_bytes: usize,
}

impl GatewayServer {
    pub fn new(hub: Arc<Hub>, max_frame_bytes: usize) -> Self {
        GatewayServer {
            hub,
            max_frame_bytes,
        }
    }

    pub fn into_service(self) -> GatewayServiceServer<Self> {
        std::sync::Arc::new(self).service()
    }

    /// The gRPC service over this handler, which stays shared: in the
    /// all-in-one the other services also call it directly.
    pub fn service(self: std::sync::Arc<Self>) -> GatewayServiceServer<Self> {
        // Explicit both ways: tonic's 4 MiB default would refuse large answers.
        GatewayServiceServer::from_arc(self)
            .max_decoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
    }
}

/// WebSocket close code of a connection closed through the server API's
/// DisconnectUser (4000, the first of the private-use range): the client
/// reconnects and pulls.
pub const CLOSE_DISCONNECTED: u16 = 4000;

/// What a connection closed through the server API is told first.
fn disconnect_ending() -> Ending {
    let why = "this connection was closed by the server; reconnect and pull";
    Ending {
        error: Some(server_frame(Frame::Error(
            Error::unavailable(why).to_client_frame(false),
        ))),
        code: CLOSE_DISCONNECTED,
        reason: "disconnected by the server",
    }
}

/// Counts the writes of one push call and answers with them.
fn answer(writes: Writes) -> Response<PushResponse> {
    metrics::counter!(names::GATEWAY_PUSHES, "result" => "sent").increment(writes.delivered.into());
    metrics::counter!(names::GATEWAY_PUSHES, "result" => "missed").increment(writes.missed.into());
    Response::new(PushResponse {
        delivered: writes.delivered,
        missed: writes.missed,
    })
}

#[tonic::async_trait]
impl GatewayService for GatewayServer {
    async fn push_conversation(
        &self,
        request: Request<PushConversationRequest>,
    ) -> Result<Response<PushResponse>, Status> {
        let request = request.into_inner();
        let frame = server_frame(Frame::ConversationPush(ConversationPush {
            message: request.message,
        }));
        let mut writes = Writes::default();
        if !push_fits(&frame, self.max_frame_bytes) {
            writes.missed = request.user_ids.len() as u32;
            return Ok(answer(writes));
        }
        for user in &request.user_ids {
            writes += self.hub.write_to_user(user, &frame);
        }
        Ok(answer(writes))
    }

    async fn push_room(
        &self,
        request: Request<PushRoomRequest>,
    ) -> Result<Response<PushResponse>, Status> {
        Ok(answer(crate::rooms::push_room(
            &self.hub,
            request.into_inner(),
            self.max_frame_bytes,
        )))
    }

    async fn push_typing(
        &self,
        request: Request<PushTypingRequest>,
    ) -> Result<Response<PushResponse>, Status> {
        Ok(answer(crate::typing::push_typing(
            &self.hub,
            request.into_inner(),
        )))
    }

    async fn disconnect(
        &self,
        request: Request<DisconnectRequest>,
    ) -> Result<Response<DisconnectResponse>, Status> {
        let request = request.into_inner();
        let device = (!request.device_id.is_empty()).then_some(request.device_id.as_str());
        let closed = self
            .hub
            .disconnect(&request.user_id, device, &disconnect_ending());
        tracing::info!(user_id = %request.user_id, device_id = ?device, closed, "disconnecting connections");
        Ok(Response::new(DisconnectResponse { closed }))
    }

    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let mut writes = Writes::default();
        for delivery in request.into_inner().deliveries {
            let frame = server_frame(Frame::Push(Push {
                entry: delivery.entry,
            }));
            // The device finds the entry by pulling, whose pages are cut.
            if !push_fits(&frame, self.max_frame_bytes) {
                writes.missed += 1;
                continue;
            }
            writes += self.hub.write_to_user(&delivery.user_id, &frame);
        }
        Ok(answer(writes))
    }
}
