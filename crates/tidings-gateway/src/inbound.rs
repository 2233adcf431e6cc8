//! The checks every binary client message passes before the session rules
//! and the dispatch table see it: its size, then its protobuf decoding.
//!
//! Pure and public so that the fuzz targets and their corpus replay run the
//! very code a connection runs, without a socket.

use prost::Message as _;
use tidings_core::{Error, ErrorCode};
use tidings_proto::client::v1::ClientFrame;

/// Decodes one binary WebSocket message as a `ClientFrame`, refusing it with
/// `frame_too_large` above `max_frame_bytes` and `malformed_frame` when it is
/// not a `ClientFrame`. The frame may still carry no frame type this server
/// knows (`frame` is `None`): the session answers that with `unknown_frame`
/// under the frame's request id, which only a decoded frame has.
pub fn decode_client_frame(bytes: &[u8], max_frame_bytes: usize) -> Result<ClientFrame, Error> {
    if bytes.len() > max_frame_bytes {
        let why = format!(
            "frame is {} bytes; the limit is {max_frame_bytes}",
            bytes.len()
        );
        return Err(Error::new(ErrorCode::FrameTooLarge, why));
    }
    ClientFrame::decode(bytes).map_err(|e| {
        Error::new(
            ErrorCode::MalformedFrame,
            format!("frame is not a ClientFrame: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use tidings_proto::client::v1::{Ping, client_frame::Frame};

    use super::*;

    #[test]
    fn a_frame_at_the_limit_decodes_and_one_byte_more_is_refused() {
        let frame = ClientFrame {
            request_id: 7,
            frame: Some(Frame::Ping(Ping { nonce: 9 })),
        };
        let bytes = frame.encode_to_vec();
        assert_eq!(decode_client_frame(&bytes, bytes.len()), Ok(frame));
        let refused = decode_client_frame(&bytes, bytes.len() - 1).unwrap_err();
        assert_eq!(refused.code, ErrorCode::FrameTooLarge);
        assert!(refused.message.contains("limit"), "{}", refused.message);
    }

    #[test]
    fn bytes_that_are_not_a_client_frame_are_malformed() {
        for bad in [
            &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
            &[0x0a],
            &[0x52, 0x02, 0xc3],
        ] {
            let refused = decode_client_frame(bad, 1024).unwrap_err();
            assert_eq!(refused.code, ErrorCode::MalformedFrame, "{bad:?}");
        }
        // No fields at all is a frame, with no frame type.
        assert_eq!(decode_client_frame(&[], 1024).unwrap().frame, None);
    }
}
