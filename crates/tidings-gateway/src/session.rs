//! What every request of one connection shares: who the connection is, and
//! how to write frames to it. A leaf module: the frame families and the
//! dispatch table build on it, it imports none of them.

use std::sync::Arc;

use axum::body::Bytes;
use prost::Message as _;
use tidings_core::{DeviceId, Error, UserId};
use tidings_proto::client::v1::{ServerFrame, server_frame::Frame as Out};

use crate::hub::ConnectionHandle;
use crate::limits::ConnectionLimits;
use crate::outbound::Outbound;
use crate::state::Gateway;
use crate::typing::TypingThrottle;

/// The identity hello established; fixed for the connection's life.
pub(crate) struct Identity {
    pub(crate) user: UserId,
    pub(crate) device: DeviceId,
    pub(crate) connection_id: u64,
    /// Pull pages larger than this are zstd-compressed (0: never).
    pub(crate) compress_above: u32,
}

/// One connection's gateway and outbound queue.
pub(crate) struct Conn {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) outbound: Outbound,
    /// This connection's rate buckets (and, through them, its user's).
    pub(crate) limits: ConnectionLimits,
    /// When this connection last had typing forwarded, per conversation.
    pub(crate) typing: TypingThrottle,
}

impl Conn {
    /// A handle for the hub to write to this connection.
    pub(crate) fn handle(&self, id: u64, device: &DeviceId) -> ConnectionHandle {
        ConnectionHandle {
            id,
            device_id: device.to_string(),
            outbound: self.outbound.clone(),
        }
    }

    /// Queues the answer to `request_id`, waiting for room in the queue.
    /// An answer larger than a frame is cut or refused, never sent.
    pub(crate) async fn reply(&self, request_id: u64, frame: Out) {
        let max_frame_bytes = self.gateway.config.max_frame_bytes;
        let frame = crate::frame_limit::encode_answer(request_id, frame, max_frame_bytes);
        let _ = self.outbound.send(frame).await;
    }

    /// Queues an error frame answering `request_id`; the connection stays.
    pub(crate) async fn error(&self, request_id: u64, error: Error) {
        tracing::debug!(code = %error.code, message = %error.message, "request refused");
        self.reply(request_id, Out::Error(error.to_client_frame(true)))
            .await;
    }
}

/// Encodes a frame the server sends unasked (request id 0).
pub(crate) fn server_frame(frame: Out) -> Bytes {
    ServerFrame {
        request_id: 0,
        frame: Some(frame),
    }
    .encode_to_vec()
    .into()
}
