//! A script turned into the WebSocket messages a client sends, each with
//! what the protocol promises in return.

use prost::Message as _;
use tidings_core::ErrorCode;
use tidings_proto::client::v1::{self as client, ClientFrame, client_frame::Frame as In};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::script::{self, Body, HUGE_FRAME_BYTES, Op, Script};

/// The server's limits the messages are built against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
}

/// A request: a decoded frame under its own request id.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: u64,
    /// `None`: a frame with no frame type.
    pub frame: Option<In>,
}

/// What the protocol promises for one message.
#[derive(Debug, Clone)]
pub enum Expect {
    /// One answer under the request's id.
    Answer(Request),
    /// One error frame under request id 0, which is all a message that is
    /// not a decodable frame can get.
    Refusal(ErrorCode),
    /// Nothing at the protocol level (a WebSocket ping).
    Nothing,
}

#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message: WsMessage,
    pub expect: Expect,
}

/// The messages of `script`, in order. Request ids are 1, 2, 3... so that
/// every answer names exactly one request.
pub fn plan(script: &Script, limits: Limits) -> Vec<Outgoing> {
    let opening = script.opening.map(|user| Op::Hello {
        token: script::Pick::Pool(user),
        device: script::Pick::Pool(0),
        checkpoint: 0,
        compress_above: 0,
    });
    let mut next_id = 0;
    let mut request = |frame: Option<In>| {
        next_id += 1;
        let frame = ClientFrame {
            request_id: next_id,
            frame,
        };
        Outgoing {
            message: WsMessage::Binary(frame.encode_to_vec().into()),
            expect: Expect::Answer(Request {
                id: next_id,
                frame: frame.frame,
            }),
        }
    };
    let refusal = |bytes: Vec<u8>, code: ErrorCode| Outgoing {
        message: WsMessage::Binary(bytes.into()),
        expect: Expect::Refusal(code),
    };
    opening
        .iter()
        .chain(&script.ops)
        .map(|op| match op {
            Op::NoFrame => request(None),
            Op::Garbage(bytes) => match ClientFrame::decode(bytes.as_slice()) {
                // Bytes that happen to decode are a request like any other;
                // they get the script's request id so that answers stay
                // unambiguous.
                Ok(frame) => request(frame.frame),
                Err(_) => refusal(bytes.clone(), ErrorCode::MalformedFrame),
            },
            Op::Text(bytes) => Outgoing {
                message: WsMessage::Text(String::from_utf8_lossy(bytes).into_owned().into()),
                expect: Expect::Refusal(ErrorCode::MalformedFrame),
            },
            Op::Oversize { extra } => {
                let size = limits.max_frame_bytes + 1 + (*extra % 65536) as usize;
                refusal(vec![0; size], ErrorCode::FrameTooLarge)
            }
            Op::Huge => refusal(vec![0; HUGE_FRAME_BYTES], ErrorCode::FrameTooLarge),
            Op::WsPing(payload) => Outgoing {
                message: WsMessage::Ping(payload.clone().into()),
                expect: Expect::Nothing,
            },
            op => request(frame_of(op, limits)),
        })
        .collect()
}

fn body(body: &Body, limits: Limits) -> Vec<u8> {
    match body {
        Body::Bytes(bytes) => bytes.clone(),
        Body::AtLimit => vec![b'x'; limits.max_body_bytes],
        Body::OverLimit => vec![b'x'; limits.max_body_bytes + 1],
    }
}

/// The frame an operation sends; `None` for operations that are not frames.
pub fn frame_of(op: &Op, limits: Limits) -> Option<In> {
    use script::{CONVERSATIONS, DEVICES, GROUPS, KEYS, KINDS, NAMES, ROOMS, TOKENS, USERS};
    let users = |picks: &[script::Pick]| picks.iter().map(|p| p.resolve(USERS)).collect();
    Some(match op {
        Op::Hello {
            token,
            device,
            checkpoint,
            compress_above,
        } => In::Hello(client::Hello {
            token: token.resolve(TOKENS),
            device_id: device.resolve(DEVICES),
            checkpoint: *checkpoint,
            compress_above: *compress_above as u32,
        }),
        Op::Send {
            conversation,
            key,
            kind,
            body: b,
        } => In::Send(client::Send {
            conversation_id: conversation.resolve(CONVERSATIONS),
            client_msg_id: key.resolve(KEYS),
            kind: kind.resolve(KINDS),
            body: body(b, limits),
        }),
        Op::Pull { after, limit } => In::Pull(client::Pull {
            after: *after,
            limit: *limit as u32,
        }),
        Op::Ack { checkpoint } => In::Ack(client::Ack {
            checkpoint: *checkpoint,
        }),
        Op::History {
            conversation,
            before,
            limit,
        } => In::History(client::History {
            conversation_id: conversation.resolve(CONVERSATIONS),
            before: *before,
            limit: *limit as u32,
        }),
        Op::Ping { nonce } => In::Ping(client::Ping { nonce: *nonce }),
        Op::CreateGroup {
            group,
            name,
            members,
        } => In::CreateGroup(client::CreateGroup {
            group_id: group.resolve(GROUPS),
            name: name.resolve(NAMES),
            member_ids: users(members),
        }),
        Op::AddMembers { group, users: u } => In::AddMembers(client::AddMembers {
            group_id: group.resolve(GROUPS),
            user_ids: users(u),
        }),
        Op::RemoveMembers { group, users: u } => In::RemoveMembers(client::RemoveMembers {
            group_id: group.resolve(GROUPS),
            user_ids: users(u),
        }),
        Op::ListMembers {
            group,
            after,
            limit,
        } => In::ListMembers(client::ListMembers {
            group_id: group.resolve(GROUPS),
            after: after.resolve(USERS),
            limit: *limit as u32,
        }),
        Op::ListGroups => In::ListGroups(client::ListGroups {}),
        Op::PullConversation {
            conversation,
            after,
            limit,
        } => In::PullConversation(client::PullConversation {
            conversation_id: conversation.resolve(CONVERSATIONS),
            after: *after,
            limit: *limit as u32,
        }),
        Op::ReadAck {
            conversation,
            read_seq,
        } => In::ReadAck(client::ReadAck {
            conversation_id: conversation.resolve(CONVERSATIONS),
            read_seq: *read_seq,
        }),
        Op::ConversationList { latest } => In::ConversationList(client::ConversationList {
            latest: *latest as u32,
        }),
        Op::RoomJoin { room } => In::RoomJoin(client::RoomJoin {
            room_id: room.resolve(ROOMS),
        }),
        Op::RoomLeave => In::RoomLeave(client::RoomLeave {}),
        Op::RoomSend {
            room,
            kind,
            body: b,
        } => In::RoomSend(client::RoomSend {
            room_id: room.resolve(ROOMS),
            kind: kind.resolve(KINDS),
            body: body(b, limits),
        }),
        Op::NoFrame
        | Op::Garbage(_)
        | Op::Text(_)
        | Op::Oversize { .. }
        | Op::Huge
        | Op::WsPing(_) => return None,
    })
}
