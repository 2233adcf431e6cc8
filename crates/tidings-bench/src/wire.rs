//! The client protocol's framing, as both ends of the end-to-end benchmark
//! speak it: one protobuf `ClientFrame` or `ServerFrame` per binary WebSocket
//! message (docs/protocol.md). The relay and the load generator share these
//! helpers, so Tidings and the relay see byte-for-byte the same frames.

use bytes::Bytes;
use prost::Message as _;
use tidings_proto::client::v1::{ClientFrame, ServerFrame, client_frame, server_frame};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Largest frame either end accepts, as the gateway's default.
pub const MAX_FRAME_BYTES: u32 = 64 * 1024;

/// A client frame as a binary WebSocket message.
pub fn client_message(request_id: u64, frame: client_frame::Frame) -> WsMessage {
    let frame = ClientFrame {
        request_id,
        frame: Some(frame),
    };
    WsMessage::Binary(Bytes::from(frame.encode_to_vec()))
}

/// A server frame as a binary WebSocket message.
pub fn server_message(request_id: u64, frame: server_frame::Frame) -> WsMessage {
    let frame = ServerFrame {
        request_id,
        frame: Some(frame),
    };
    WsMessage::Binary(Bytes::from(frame.encode_to_vec()))
}

/// What a WebSocket message carries for the protocol.
#[derive(Debug)]
pub enum Incoming<F> {
    /// A decoded frame.
    Frame(F),
    /// A binary message that is not a frame of this type.
    Malformed(prost::DecodeError),
    /// A text frame: not part of the protocol.
    Text,
    /// The peer closed the connection.
    Close,
    /// Ping, pong or a raw frame: handled by the WebSocket layer.
    Control,
}

/// Decodes a binary message as `F` (`ClientFrame` or `ServerFrame`).
pub fn decode<F: prost::Message + Default>(message: &WsMessage) -> Incoming<F> {
    match message {
        WsMessage::Binary(bytes) => match F::decode(bytes.as_ref()) {
            Ok(frame) => Incoming::Frame(frame),
            Err(e) => Incoming::Malformed(e),
        },
        WsMessage::Text(_) => Incoming::Text,
        WsMessage::Close(_) => Incoming::Close,
        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => Incoming::Control,
    }
}

/// The canonical 1:1 conversation id of two users: `dm:<a>:<b>` with the ids
/// in ascending byte order.
pub fn dm(a: &str, b: &str) -> String {
    if a <= b {
        format!("dm:{a}:{b}")
    } else {
        format!("dm:{b}:{a}")
    }
}

/// The two members of a `dm:<a>:<b>` conversation id.
pub fn dm_members(conversation_id: &str) -> Option<(&str, &str)> {
    let rest = conversation_id.strip_prefix("dm:")?;
    let (a, b) = rest.split_once(':')?;
    if a.is_empty() || b.is_empty() || b.contains(':') {
        return None;
    }
    Some((a, b))
}

/// The user of a development token `dev:<user_id>`, if well formed
/// (1 to 64 characters of `[A-Za-z0-9_.-]`).
pub fn dev_user(token: &str) -> Option<&str> {
    let user = token.strip_prefix("dev:")?;
    valid_id(user).then_some(user)
}

/// A user or device id: 1 to 64 characters of `[A-Za-z0-9_.-]`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_proto::client::v1::Ping;

    #[test]
    fn dm_ids_are_ordered_and_parse_back() {
        assert_eq!(dm("bob", "alice"), "dm:alice:bob");
        assert_eq!(dm("alice", "bob"), "dm:alice:bob");
        assert_eq!(dm_members("dm:alice:bob"), Some(("alice", "bob")));
        assert_eq!(dm_members("g:team"), None);
        assert_eq!(dm_members("dm:alice:"), None);
        assert_eq!(dm_members("dm:a:b:c"), None);
    }

    #[test]
    fn tokens_name_valid_users_only() {
        assert_eq!(dev_user("dev:alice-1"), Some("alice-1"));
        assert_eq!(dev_user("dev:"), None);
        assert_eq!(dev_user("dev:a b"), None);
        assert_eq!(dev_user("bearer x"), None);
    }

    #[test]
    fn frames_round_trip_through_binary_messages() {
        let message = client_message(7, client_frame::Frame::Ping(Ping { nonce: 3 }));
        let Incoming::Frame(frame) = decode::<ClientFrame>(&message) else {
            panic!("a client frame");
        };
        assert_eq!(frame.request_id, 7);
        assert_eq!(
            frame.frame,
            Some(client_frame::Frame::Ping(Ping { nonce: 3 }))
        );
        assert!(matches!(
            decode::<ClientFrame>(&WsMessage::Binary(Bytes::from_static(&[0xff, 0xff]))),
            Incoming::Malformed(_)
        ));
        assert!(matches!(
            decode::<ClientFrame>(&WsMessage::text("hi")),
            Incoming::Text
        ));
    }
}
