//! The one error type of the client SDK.

use std::time::Duration;

use tidings_core::ErrorCode;
use tidings_proto::client::v1 as pb;

/// What can go wrong talking to a gateway.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket could not be opened, or failed while in use.
    #[error("websocket transport: {0}")]
    Transport(#[source] Box<tokio_tungstenite::tungstenite::Error>),

    /// Nothing arrived within the allowed time: no answer to a request
    /// (`request_id` set), or no push (`request_id` 0).
    #[error("timed out after {timeout:?} (request_id {request_id})")]
    Timeout { request_id: u64, timeout: Duration },

    /// The connection is closed (by either side, or the transport broke).
    #[error("connection closed")]
    Closed,

    /// The server answered with an `Error` frame. Codes the client does not
    /// know (or `UNSPECIFIED`) are reported as `ErrorCode::Internal`.
    #[error("server error {code}: {message} (connection kept: {connection_kept})")]
    Server {
        code: ErrorCode,
        message: String,
        connection_kept: bool,
        /// With `RateLimited`: how long to wait before the same request can
        /// pass, when the server says.
        retry_after: Option<Duration>,
    },

    /// The server answered with a frame of another type than the request calls for.
    #[error("expected {expected} from the server, got {got}")]
    UnexpectedFrame { expected: &'static str, got: String },

    /// The server broke a protocol rule the device relies on (e.g. a pull that
    /// says `has_more` but does not move forward).
    #[error("protocol violation: {0}")]
    Protocol(String),
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// Builds the `Server` variant from an error frame.
    pub fn from_error_frame(error: &pb::Error) -> Self {
        let code = pb::ErrorCode::try_from(error.code)
            .ok()
            .and_then(ErrorCode::from_client)
            .unwrap_or(ErrorCode::Internal);
        ClientError::Server {
            code,
            message: error.message.clone(),
            connection_kept: error.connection_kept,
            retry_after: (error.retry_after_ms > 0)
                .then(|| Duration::from_millis(error.retry_after_ms.into())),
        }
    }

    /// The server's error code, if this is a server error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as Ws;
        use tokio_tungstenite::tungstenite::error::ProtocolError;
        match e {
            // The connection was closed (a close frame went or came) before
            // this write: that is the connection's end, not a fault of the
            // transport, and the caller's answer is the same either way.
            Ws::ConnectionClosed
            | Ws::AlreadyClosed
            | Ws::Protocol(ProtocolError::SendAfterClosing) => ClientError::Closed,
            e => ClientError::Transport(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_after_a_close_report_the_connection_closed() {
        use tokio_tungstenite::tungstenite::Error as Ws;
        use tokio_tungstenite::tungstenite::error::ProtocolError;
        for e in [
            Ws::ConnectionClosed,
            Ws::AlreadyClosed,
            Ws::Protocol(ProtocolError::SendAfterClosing),
        ] {
            assert!(matches!(ClientError::from(e), ClientError::Closed));
        }
        let broken = Ws::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert!(matches!(
            ClientError::from(broken),
            ClientError::Transport(_)
        ));
    }

    #[test]
    fn error_frames_map_to_stable_codes() {
        let frame = pb::Error {
            code: pb::ErrorCode::NotMember as i32,
            message: "alice is not in dm:bob:carol".into(),
            connection_kept: true,
            retry_after_ms: 0,
        };
        let err = ClientError::from_error_frame(&frame);
        assert_eq!(err.code(), Some(ErrorCode::NotMember));
        assert!(err.to_string().contains("not_member"));

        let unknown = pb::Error {
            code: 999,
            message: "from the future".into(),
            connection_kept: false,
            retry_after_ms: 0,
        };
        assert_eq!(
            ClientError::from_error_frame(&unknown).code(),
            Some(ErrorCode::Internal)
        );
    }
}
