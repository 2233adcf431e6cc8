//! The seed inputs of both targets, built from valid frames of every type
//! and a few malformed ones; `examples/write_seeds.rs` writes them into
//! `fuzz/corpus/<target>/seed-<name>`.

use prost::Message as _;
use tidings_proto::client::v1::ClientFrame;

use crate::plan::{self, Limits};
use crate::script::{Body, Ending, Op, Pick, Script};

/// Limits as the fuzz server has them; only the seed bodies at the body
/// limit depend on them.
const SEED_LIMITS: Limits = Limits {
    max_frame_bytes: 64 * 1024,
    max_body_bytes: 32 * 1024,
};

fn p(i: u8) -> Pick {
    Pick::Pool(i)
}

fn text(s: &str) -> Body {
    Body::Bytes(s.as_bytes().to_vec())
}

/// One valid frame of every type, in an order where each can succeed: alice
/// writes to bob, makes group fz-g1 with bob, adds carol, talks in a room.
pub fn every_frame() -> Vec<Op> {
    vec![
        Op::Send {
            conversation: p(0),
            key: p(0),
            kind: p(0),
            body: text("hello bob"),
        },
        Op::Pull { after: 0, limit: 0 },
        Op::Ack { checkpoint: 1 },
        Op::History {
            conversation: p(0),
            before: 0,
            limit: 10,
        },
        Op::Ping { nonce: 42 },
        Op::CreateGroup {
            group: p(0),
            name: p(0),
            members: vec![p(1)],
        },
        Op::AddMembers {
            group: p(0),
            users: vec![p(2)],
        },
        Op::ListMembers {
            group: p(0),
            after: Pick::Raw(Vec::new()),
            limit: 10,
        },
        Op::ListGroups,
        Op::Send {
            conversation: p(5),
            key: p(1),
            kind: p(0),
            body: text("hello group"),
        },
        Op::PullConversation {
            conversation: p(5),
            after: 0,
            limit: 10,
        },
        Op::ReadAck {
            conversation: p(0),
            read_seq: 1,
        },
        Op::ConversationList { latest: 3 },
        Op::RoomJoin { room: p(0) },
        Op::RoomSend {
            room: p(0),
            kind: p(0),
            body: text("hi room"),
        },
        Op::RoomLeave,
        Op::RemoveMembers {
            group: p(0),
            users: vec![p(2)],
        },
        Op::Hello {
            token: p(0),
            device: p(0),
            checkpoint: 0,
            compress_above: 0,
        },
    ]
}

fn authenticated(ops: Vec<Op>) -> Script {
    Script {
        opening: Some(0),
        ending: Ending::AwaitAnswers,
        ops,
    }
}

/// Scripts for the connection target, by name.
pub fn connection_scripts() -> Vec<(String, Script)> {
    let mut seeds = vec![("every-frame".to_string(), authenticated(every_frame()))];
    for op in every_frame() {
        let name = format!("one-{}", op_name(&op));
        if !seeds.iter().any(|(n, _)| *n == name) {
            seeds.push((name, authenticated(vec![op])));
        }
    }
    let malformed = vec![
        Op::NoFrame,
        Op::Garbage(vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        // Decodes: a Ping frame, which gets the script's request id.
        Op::Garbage(vec![0x7a, 0x02, 0x08, 0x07]),
        Op::Text(b"{\"send\":{}}".to_vec()),
        Op::Oversize { extra: 0 },
        Op::WsPing(b"are you there".to_vec()),
        Op::Ping { nonce: 1 },
    ];
    seeds.push(("malformed".into(), authenticated(malformed)));
    seeds.push((
        "huge-frame".into(),
        authenticated(vec![Op::Huge, Op::Ping { nonce: 2 }]),
    ));
    seeds.push((
        "before-hello".into(),
        Script {
            opening: None,
            ending: Ending::AwaitAnswers,
            ops: vec![
                Op::Send {
                    conversation: p(0),
                    key: p(2),
                    kind: p(0),
                    body: text("sneaky"),
                },
                Op::Pull { after: 0, limit: 1 },
                Op::Hello {
                    token: p(4),
                    device: p(0),
                    checkpoint: 0,
                    compress_above: 0,
                },
                Op::Hello {
                    token: p(1),
                    device: p(3),
                    checkpoint: 0,
                    compress_above: 0,
                },
                Op::Hello {
                    token: p(1),
                    device: p(1),
                    checkpoint: 3,
                    compress_above: 64,
                },
                Op::Pull { after: 0, limit: 5 },
                Op::Hello {
                    token: p(0),
                    device: p(0),
                    checkpoint: 0,
                    compress_above: 0,
                },
            ],
        },
    ));
    seeds.push((
        "bodies-at-and-over-limit".into(),
        authenticated(vec![
            Op::Send {
                conversation: p(1),
                key: p(0),
                kind: p(0),
                body: Body::AtLimit,
            },
            Op::Send {
                conversation: p(1),
                key: p(1),
                kind: p(0),
                body: Body::OverLimit,
            },
            Op::Send {
                conversation: p(1),
                key: Pick::Raw(vec![b'k'; 65]),
                kind: p(2),
                body: Body::Bytes(Vec::new()),
            },
            Op::History {
                conversation: p(1),
                before: 0,
                limit: 500,
            },
        ]),
    ));
    seeds.push((
        "pipelined-sends".into(),
        authenticated(
            (0..40)
                .map(|i| Op::Send {
                    conversation: p(i % 3),
                    key: Pick::Raw(format!("pipe-{i}").into_bytes()),
                    kind: p(0),
                    body: text("again"),
                })
                .collect(),
        ),
    ));
    seeds.push((
        "unknown-and-foreign".into(),
        authenticated(vec![
            Op::Send {
                conversation: p(2),
                key: p(0),
                kind: p(0),
                body: text("not mine"),
            },
            Op::Send {
                conversation: p(8),
                key: p(0),
                kind: p(0),
                body: text("no such"),
            },
            Op::AddMembers {
                group: p(2),
                users: vec![p(3)],
            },
            Op::RoomSend {
                room: p(1),
                kind: p(0),
                body: text("not joined"),
            },
            Op::RoomJoin { room: p(2) },
            Op::ReadAck {
                conversation: p(0),
                read_seq: u64::MAX,
            },
            Op::Pull {
                after: u64::MAX,
                limit: u64::MAX,
            },
        ]),
    ));
    seeds.push((
        "close-in-flight".into(),
        Script {
            ending: Ending::Close,
            ..authenticated(vec![
                Op::RoomJoin { room: p(0) },
                Op::Send {
                    conversation: p(0),
                    key: p(3),
                    kind: p(0),
                    body: text("leaving"),
                },
                Op::Pull { after: 0, limit: 0 },
            ])
        },
    ));
    seeds.push((
        "drop-in-flight".into(),
        Script {
            ending: Ending::Drop,
            ..authenticated(vec![
                Op::RoomJoin { room: p(1) },
                Op::Send {
                    conversation: p(5),
                    key: p(3),
                    kind: p(0),
                    body: text("gone"),
                },
                Op::ConversationList { latest: 50 },
            ])
        },
    ));
    seeds
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Hello { .. } => "hello",
        Op::Send { .. } => "send",
        Op::Pull { .. } => "pull",
        Op::Ack { .. } => "ack",
        Op::History { .. } => "history",
        Op::Ping { .. } => "ping",
        Op::CreateGroup { .. } => "create-group",
        Op::AddMembers { .. } => "add-members",
        Op::RemoveMembers { .. } => "remove-members",
        Op::ListMembers { .. } => "list-members",
        Op::ListGroups => "list-groups",
        Op::PullConversation { .. } => "pull-conversation",
        Op::ReadAck { .. } => "read-ack",
        Op::ConversationList { .. } => "conversation-list",
        Op::RoomJoin { .. } => "room-join",
        Op::RoomLeave => "room-leave",
        Op::RoomSend { .. } => "room-send",
        Op::NoFrame => "no-frame",
        Op::Garbage(_) => "garbage",
        Op::Text(_) => "text",
        Op::Oversize { .. } => "oversize",
        Op::Huge => "huge",
        Op::WsPing(_) => "ws-ping",
    }
}

/// Inputs for the frame decoding target, by name: every frame type encoded,
/// and bytes that are not a frame.
pub fn decode_inputs() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, op) in every_frame().iter().enumerate() {
        let name = format!("frame-{}", op_name(op));
        if seeds.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let frame = ClientFrame {
            request_id: i as u64 + 1,
            frame: plan::frame_of(op, SEED_LIMITS),
        };
        seeds.push((name, frame.encode_to_vec()));
    }
    let malformed: [(&str, &[u8]); 6] = [
        ("empty", &[]),
        ("truncated-varint", &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("wrong-wire-type", &[0x0a, 0x00]),
        // Hello whose token is not UTF-8.
        ("token-not-utf8", &[0x52, 0x03, 0x0a, 0x01, 0xc3]),
        // Field 111: a frame type this server does not know.
        ("unknown-field", &[0x08, 0x07, 0xfa, 0x06, 0x02, b'h', b'i']),
        ("length-past-end", &[0x5a, 0x7f, 0x0a]),
    ];
    seeds.extend(
        malformed
            .iter()
            .map(|(name, bytes)| (format!("malformed-{name}"), bytes.to_vec())),
    );
    seeds
}
