//! The frame decoding target: arbitrary bytes through the gateway's
//! [`decode_client_frame`], then through the checks the gateway and the
//! services apply to a decoded frame's fields where they enter (tokens,
//! device, room, group, user and conversation ids).
//!
//! Besides not panicking, it checks what the rest of the system relies on:
//! refusals carry the stable code the protocol names; a frame at the limit
//! decodes the same and one byte over is refused; a decoded frame
//! re-encodes to one that decodes equal; an id that parses prints back as
//! the very string it came from, so that keys built from it (dedupe, inbox,
//! membership) have one spelling.

use prost::Message as _;
use tidings_core::{ConversationId, DeviceId, Error, ErrorCode, GroupId, RoomId, UserId};
use tidings_gateway::{DevAuthenticator, decode_client_frame};
use tidings_proto::client::v1::{self as client, ClientFrame, client_frame::Frame as In};

/// The gateway's default frame limit, which the fuzz server uses too.
fn max_frame_bytes() -> usize {
    tidings_gateway::GatewayConfig::default().max_frame_bytes
}

/// Checks one input; panics on any broken promise.
pub fn check(bytes: &[u8]) {
    crate::harness::mark_checking_thread();
    let limit = max_frame_bytes();
    let decoded = decode_client_frame(bytes, limit);
    if bytes.len() > limit {
        let refused = decoded.expect_err("a frame over the limit is refused");
        assert_eq!(refused.code, ErrorCode::FrameTooLarge, "{refused}");
        return;
    }
    // The limit is a byte count, exact at the edge.
    assert_eq!(decode_client_frame(bytes, bytes.len()), decoded);
    if let Some(under) = bytes.len().checked_sub(1) {
        let refused = decode_client_frame(bytes, under).expect_err("one byte over the limit");
        assert_eq!(refused.code, ErrorCode::FrameTooLarge, "{refused}");
    }
    let frame = match decoded {
        Ok(frame) => frame,
        Err(refused) => {
            assert_eq!(refused.code, ErrorCode::MalformedFrame, "{refused}");
            assert_stable(&refused);
            return;
        }
    };
    let again = ClientFrame::decode(frame.encode_to_vec().as_slice())
        .expect("a decoded frame re-encodes to one that decodes");
    assert_eq!(again, frame, "a decoded frame survives re-encoding");
    if let Some(frame) = frame.frame {
        check_fields(&frame);
    }
}

/// Every refusal a client can see maps to a code of the client protocol.
fn assert_stable(error: &Error) {
    assert_ne!(
        error.code.to_client(),
        client::ErrorCode::Unspecified,
        "{error}"
    );
    assert!(!error.message.is_empty(), "{error:?}");
}

/// The parse either fails with `code` or gives back a value that prints as
/// the input.
fn parses_to_itself<T: std::fmt::Display>(input: &str, parsed: Result<T, Error>, code: ErrorCode) {
    match parsed {
        Ok(value) => assert_eq!(value.to_string(), input, "an id must have one spelling"),
        Err(e) => {
            assert_eq!(e.code, code, "{input:?}: {e}");
            assert_stable(&e);
        }
    }
}

fn conversation(id: &str) {
    parses_to_itself(
        id,
        ConversationId::parse(id),
        ErrorCode::UnknownConversation,
    );
}

fn group(id: &str) {
    parses_to_itself(id, GroupId::parse(id), ErrorCode::InvalidArgument);
}

fn users(ids: &[String]) {
    for id in ids {
        parses_to_itself(id, UserId::parse(id), ErrorCode::InvalidArgument);
    }
}

fn check_fields(frame: &In) {
    match frame {
        In::Hello(hello) => {
            match DevAuthenticator.user(&hello.token) {
                Ok(user) => assert_eq!(format!("dev:{user}"), hello.token),
                Err(e) => {
                    assert_eq!(e.code, ErrorCode::Unauthenticated, "{e}");
                    assert_stable(&e);
                }
            }
            let device = &hello.device_id;
            parses_to_itself(device, DeviceId::parse(device), ErrorCode::InvalidArgument);
        }
        In::RoomJoin(client::RoomJoin { room_id })
        | In::RoomSend(client::RoomSend { room_id, .. }) => {
            parses_to_itself(room_id, RoomId::parse(room_id), ErrorCode::InvalidArgument);
        }
        In::Send(client::Send {
            conversation_id, ..
        })
        | In::History(client::History {
            conversation_id, ..
        })
        | In::PullConversation(client::PullConversation {
            conversation_id, ..
        })
        | In::ReadAck(client::ReadAck {
            conversation_id, ..
        })
        | In::EditMessage(client::EditMessage {
            conversation_id, ..
        })
        | In::RecallMessage(client::RecallMessage {
            conversation_id, ..
        })
        | In::DeleteMessage(client::DeleteMessage {
            conversation_id, ..
        })
        | In::React(client::React {
            conversation_id, ..
        })
        | In::Typing(client::Typing { conversation_id }) => conversation(conversation_id),
        In::CreateGroup(create) => {
            // Empty lets the server choose the id.
            if !create.group_id.is_empty() {
                group(&create.group_id);
            }
            users(&create.member_ids);
        }
        In::AddMembers(client::AddMembers { group_id, user_ids })
        | In::RemoveMembers(client::RemoveMembers { group_id, user_ids }) => {
            group(group_id);
            users(user_ids);
        }
        In::ListMembers(list) => group(&list.group_id),
        In::PresenceSubscribe(client::PresenceSubscribe { user_ids })
        | In::PresenceUnsubscribe(client::PresenceUnsubscribe { user_ids }) => users(user_ids),
        In::Pull(_)
        | In::Ack(_)
        | In::Ping(_)
        | In::ListGroups(_)
        | In::ConversationList(_)
        | In::RoomLeave(_)
        | In::RegisterPushToken(_)
        | In::RemovePushToken(_)
        | In::Refresh(_) => {}
    }
}
