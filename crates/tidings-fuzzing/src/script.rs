//! The input of the connection fuzz target: what one client does on one
//! connection, as a [`Script`] of operations (frames of every type, garbage,
//! text, oversize and control frames) and how it leaves.
//!
//! Strings come mostly from small pools of good values (users that exist,
//! conversations they share, groups they create), so that scripts reach
//! deep states instead of stopping at the first parse error; every pool
//! also has a raw-bytes escape for the values nobody thought of.
//!
//! The byte layout is our own, read through `arbitrary`'s `Unstructured` a
//! byte at a time, so that every byte string is a script and
//! [`Script::to_bytes`] is its exact inverse: that is how the seed files of
//! the corpus are written from valid frames of every type
//! (`examples/write_seeds.rs`).

use arbitrary::{Arbitrary, Unstructured};

/// Most operations in one script: enough to pass the fuzz server's in-flight
/// limit and interleave answers, few enough that a run takes milliseconds.
pub const MAX_OPS: usize = 48;
/// Most ids in one member list.
pub const MAX_LIST: usize = 8;
/// Most raw bytes in one garbage frame.
pub const MAX_GARBAGE: usize = 4096;
/// Most bytes of a WebSocket ping payload (the protocol's control-frame bound).
pub const MAX_PING_PAYLOAD: usize = 125;

pub const USERS: &[&str] = &["alice", "bob", "carol", "dave"];
pub const TOKENS: &[&str] = &[
    "dev:alice",
    "dev:bob",
    "dev:carol",
    "dev:dave",
    "dev:",
    "alice",
    "dev:al ice",
];
pub const DEVICES: &[&str] = &["d1", "d2", "phone", "bad device!"];
pub const CONVERSATIONS: &[&str] = &[
    "dm:alice:bob",
    "dm:alice:carol",
    "dm:bob:dave",
    "dm:alice:alice",
    "dm:bob:alice",
    "g:fz-g1",
    "g:fz-g2",
    "g:fz-nobody",
    "group:42",
];
pub const GROUPS: &[&str] = &["fz-g1", "fz-g2", "fz-nobody", ""];
pub const ROOMS: &[&str] = &["lobby", "r2", "has space"];
pub const KEYS: &[&str] = &["k1", "k2", "k3", ""];
pub const KINDS: &[&str] = &["text", "image", ""];
pub const NAMES: &[&str] = &["Team", ""];

/// A string field: one of its pool's values, or raw bytes (read as lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Pool(u8),
    Raw(Vec<u8>),
}

impl Pick {
    /// The string this pick stands for in `pool`.
    pub fn resolve(&self, pool: &[&str]) -> String {
        match self {
            Pick::Pool(i) => pool[*i as usize % pool.len()].to_string(),
            Pick::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

/// A message body, relative to the server's body limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Bytes(Vec<u8>),
    AtLimit,
    OverLimit,
}

/// How a script begins: straight away, or with a valid hello as
/// `USERS[i]` (the common case, so that most scripts are authenticated).
pub type Opening = Option<u8>;

/// How the client leaves once every operation is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Waits for every answer, then closes.
    AwaitAnswers,
    /// Sends a close frame at once, with requests still in flight.
    Close,
    /// Drops the socket at once, without a close frame.
    Drop,
}

/// One thing the client does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Hello {
        token: Pick,
        device: Pick,
        checkpoint: u64,
        compress_above: u64,
    },
    Send {
        conversation: Pick,
        key: Pick,
        kind: Pick,
        body: Body,
    },
    Pull {
        after: u64,
        limit: u64,
    },
    Ack {
        checkpoint: u64,
    },
    History {
        conversation: Pick,
        before: u64,
        limit: u64,
    },
    Ping {
        nonce: u64,
    },
    CreateGroup {
        group: Pick,
        name: Pick,
        members: Vec<Pick>,
    },
    AddMembers {
        group: Pick,
        users: Vec<Pick>,
    },
    RemoveMembers {
        group: Pick,
        users: Vec<Pick>,
    },
    ListMembers {
        group: Pick,
        after: Pick,
        limit: u64,
    },
    ListGroups,
    PullConversation {
        conversation: Pick,
        after: u64,
        limit: u64,
    },
    ReadAck {
        conversation: Pick,
        read_seq: u64,
    },
    ConversationList {
        latest: u64,
    },
    RoomJoin {
        room: Pick,
    },
    RoomLeave,
    RoomSend {
        room: Pick,
        kind: Pick,
        body: Body,
    },
    /// A `ClientFrame` with a request id and no frame type.
    NoFrame,
    /// Raw bytes in a binary message; sent as they are unless they decode
    /// as a `ClientFrame` (then with the script's request id).
    Garbage(Vec<u8>),
    /// A text message: not the protocol.
    Text(Vec<u8>),
    /// A binary message `extra % 65536 + 1` bytes over the frame limit.
    Oversize {
        extra: u64,
    },
    /// A binary message of [`HUGE_FRAME_BYTES`]: past what the WebSocket
    /// layer itself accepts.
    Huge,
    /// A WebSocket ping, answered by the WebSocket layer, not the protocol.
    WsPing(Vec<u8>),
}

/// The size of [`Op::Huge`].
pub const HUGE_FRAME_BYTES: usize = 2 << 20;

const OP_KINDS: u8 = 23;

/// What one client does on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub opening: Opening,
    pub ending: Ending,
    pub ops: Vec<Op>,
}

impl Script {
    /// The script `bytes` stand for (every byte string stands for one).
    pub fn from_bytes(bytes: &[u8]) -> Script {
        // Reading never fails: missing bytes read as zeros.
        Script::arbitrary_take_rest(Unstructured::new(bytes)).unwrap_or_else(|_| Script {
            opening: None,
            ending: Ending::AwaitAnswers,
            ops: Vec::new(),
        })
    }

    /// The bytes that read back as this script.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::new();
        match self.opening {
            None => w.push(0),
            Some(user) => w.extend([1, user]),
        }
        w.push(match self.ending {
            Ending::Close => 0,
            Ending::Drop => 1,
            Ending::AwaitAnswers => 2,
        });
        for op in &self.ops {
            write_op(&mut w, op);
        }
        w
    }
}

impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let opening = match byte(u)? % 4 {
            0 => None,
            _ => Some(byte(u)? % USERS.len() as u8),
        };
        let ending = match byte(u)? % 4 {
            0 => Ending::Close,
            1 => Ending::Drop,
            _ => Ending::AwaitAnswers,
        };
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(read_op(u)?);
        }
        Ok(Script {
            opening,
            ending,
            ops,
        })
    }
}

fn byte(u: &mut Unstructured) -> arbitrary::Result<u8> {
    let mut b = [0u8; 1];
    u.fill_buffer(&mut b)?;
    Ok(b[0])
}

fn raw(u: &mut Unstructured, len: usize) -> arbitrary::Result<Vec<u8>> {
    let len = len.min(u.len());
    Ok(u.bytes(len)?.to_vec())
}

fn short_bytes(u: &mut Unstructured) -> arbitrary::Result<Vec<u8>> {
    let len = byte(u)? as usize;
    raw(u, len)
}

/// Small numbers in one byte; the edges and wide values in a few more.
fn num(u: &mut Unstructured) -> arbitrary::Result<u64> {
    Ok(match byte(u)? {
        b @ 0..250 => u64::from(b),
        250 => u64::MAX,
        251 => {
            let mut b = [0u8; 4];
            u.fill_buffer(&mut b)?;
            u64::from(u32::from_le_bytes(b))
        }
        _ => {
            let mut b = [0u8; 8];
            u.fill_buffer(&mut b)?;
            u64::from_le_bytes(b)
        }
    })
}

/// One byte chooses a pool value; the value past the pool's last means raw bytes.
fn pick(u: &mut Unstructured, pool: &[&str]) -> arbitrary::Result<Pick> {
    let choice = byte(u)? as usize % (pool.len() + 1);
    if choice == pool.len() {
        return Ok(Pick::Raw(short_bytes(u)?));
    }
    Ok(Pick::Pool(choice as u8))
}

fn list(u: &mut Unstructured, pool: &[&str]) -> arbitrary::Result<Vec<Pick>> {
    let count = byte(u)? as usize % (MAX_LIST + 1);
    (0..count).map(|_| pick(u, pool)).collect()
}

fn body(u: &mut Unstructured) -> arbitrary::Result<Body> {
    Ok(match byte(u)? % 3 {
        0 => Body::Bytes(short_bytes(u)?),
        1 => Body::AtLimit,
        _ => Body::OverLimit,
    })
}

fn read_op(u: &mut Unstructured) -> arbitrary::Result<Op> {
    Ok(match byte(u)? % OP_KINDS {
        0 => Op::Hello {
            token: pick(u, TOKENS)?,
            device: pick(u, DEVICES)?,
            checkpoint: num(u)?,
            compress_above: num(u)?,
        },
        1 => Op::Send {
            conversation: pick(u, CONVERSATIONS)?,
            key: pick(u, KEYS)?,
            kind: pick(u, KINDS)?,
            body: body(u)?,
        },
        2 => Op::Pull {
            after: num(u)?,
            limit: num(u)?,
        },
        3 => Op::Ack {
            checkpoint: num(u)?,
        },
        4 => Op::History {
            conversation: pick(u, CONVERSATIONS)?,
            before: num(u)?,
            limit: num(u)?,
        },
        5 => Op::Ping { nonce: num(u)? },
        6 => Op::CreateGroup {
            group: pick(u, GROUPS)?,
            name: pick(u, NAMES)?,
            members: list(u, USERS)?,
        },
        7 => Op::AddMembers {
            group: pick(u, GROUPS)?,
            users: list(u, USERS)?,
        },
        8 => Op::RemoveMembers {
            group: pick(u, GROUPS)?,
            users: list(u, USERS)?,
        },
        9 => Op::ListMembers {
            group: pick(u, GROUPS)?,
            after: pick(u, USERS)?,
            limit: num(u)?,
        },
        10 => Op::ListGroups,
        11 => Op::PullConversation {
            conversation: pick(u, CONVERSATIONS)?,
            after: num(u)?,
            limit: num(u)?,
        },
        12 => Op::ReadAck {
            conversation: pick(u, CONVERSATIONS)?,
            read_seq: num(u)?,
        },
        13 => Op::ConversationList { latest: num(u)? },
        14 => Op::RoomJoin {
            room: pick(u, ROOMS)?,
        },
        15 => Op::RoomLeave,
        16 => Op::RoomSend {
            room: pick(u, ROOMS)?,
            kind: pick(u, KINDS)?,
            body: body(u)?,
        },
        17 => Op::NoFrame,
        18 => {
            let mut len = [0u8; 2];
            u.fill_buffer(&mut len)?;
            let len = u16::from_le_bytes(len) as usize % (MAX_GARBAGE + 1);
            Op::Garbage(raw(u, len)?)
        }
        19 => Op::Text(short_bytes(u)?),
        20 => Op::Oversize { extra: num(u)? },
        21 => Op::Huge,
        _ => {
            let len = byte(u)? as usize % (MAX_PING_PAYLOAD + 1);
            Op::WsPing(raw(u, len)?)
        }
    })
}

fn write_num(w: &mut Vec<u8>, n: u64) {
    match n {
        0..250 => w.push(n as u8),
        u64::MAX => w.push(250),
        _ => match u32::try_from(n) {
            Ok(n) => {
                w.push(251);
                w.extend(n.to_le_bytes());
            }
            Err(_) => {
                w.push(252);
                w.extend(n.to_le_bytes());
            }
        },
    }
}

fn write_short_bytes(w: &mut Vec<u8>, bytes: &[u8]) {
    let len = u8::try_from(bytes.len()).expect("at most 255 raw bytes");
    w.push(len);
    w.extend(bytes);
}

fn write_pick(w: &mut Vec<u8>, pick: &Pick, pool: &[&str]) {
    match pick {
        Pick::Pool(i) => {
            assert!((*i as usize) < pool.len(), "pool index {i} out of range");
            w.push(*i);
        }
        Pick::Raw(bytes) => {
            w.push(pool.len() as u8);
            write_short_bytes(w, bytes);
        }
    }
}

fn write_list(w: &mut Vec<u8>, picks: &[Pick], pool: &[&str]) {
    assert!(picks.len() <= MAX_LIST, "at most {MAX_LIST} ids in a list");
    w.push(picks.len() as u8);
    for p in picks {
        write_pick(w, p, pool);
    }
}

fn write_body(w: &mut Vec<u8>, body: &Body) {
    match body {
        Body::Bytes(bytes) => {
            w.push(0);
            write_short_bytes(w, bytes);
        }
        Body::AtLimit => w.push(1),
        Body::OverLimit => w.push(2),
    }
}

fn write_op(w: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Hello {
            token,
            device,
            checkpoint,
            compress_above,
        } => {
            w.push(0);
            write_pick(w, token, TOKENS);
            write_pick(w, device, DEVICES);
            write_num(w, *checkpoint);
            write_num(w, *compress_above);
        }
        Op::Send {
            conversation,
            key,
            kind,
            body,
        } => {
            w.push(1);
            write_pick(w, conversation, CONVERSATIONS);
            write_pick(w, key, KEYS);
            write_pick(w, kind, KINDS);
            write_body(w, body);
        }
        Op::Pull { after, limit } => {
            w.push(2);
            write_num(w, *after);
            write_num(w, *limit);
        }
        Op::Ack { checkpoint } => {
            w.push(3);
            write_num(w, *checkpoint);
        }
        Op::History {
            conversation,
            before,
            limit,
        } => {
            w.push(4);
            write_pick(w, conversation, CONVERSATIONS);
            write_num(w, *before);
            write_num(w, *limit);
        }
        Op::Ping { nonce } => {
            w.push(5);
            write_num(w, *nonce);
        }
        Op::CreateGroup {
            group,
            name,
            members,
        } => {
            w.push(6);
            write_pick(w, group, GROUPS);
            write_pick(w, name, NAMES);
            write_list(w, members, USERS);
        }
        Op::AddMembers { group, users } => {
            w.push(7);
            write_pick(w, group, GROUPS);
            write_list(w, users, USERS);
        }
        Op::RemoveMembers { group, users } => {
            w.push(8);
            write_pick(w, group, GROUPS);
            write_list(w, users, USERS);
        }
        Op::ListMembers {
            group,
            after,
            limit,
        } => {
            w.push(9);
            write_pick(w, group, GROUPS);
            write_pick(w, after, USERS);
            write_num(w, *limit);
        }
        Op::ListGroups => w.push(10),
        Op::PullConversation {
            conversation,
            after,
            limit,
        } => {
            w.push(11);
            write_pick(w, conversation, CONVERSATIONS);
            write_num(w, *after);
            write_num(w, *limit);
        }
        Op::ReadAck {
            conversation,
            read_seq,
        } => {
            w.push(12);
            write_pick(w, conversation, CONVERSATIONS);
            write_num(w, *read_seq);
        }
        Op::ConversationList { latest } => {
            w.push(13);
            write_num(w, *latest);
        }
        Op::RoomJoin { room } => {
            w.push(14);
            write_pick(w, room, ROOMS);
        }
        Op::RoomLeave => w.push(15),
        Op::RoomSend { room, kind, body } => {
            w.push(16);
            write_pick(w, room, ROOMS);
            write_pick(w, kind, KINDS);
            write_body(w, body);
        }
        Op::NoFrame => w.push(17),
        Op::Garbage(bytes) => {
            assert!(
                bytes.len() <= MAX_GARBAGE,
                "at most {MAX_GARBAGE} garbage bytes"
            );
            w.push(18);
            w.extend((bytes.len() as u16).to_le_bytes());
            w.extend(bytes);
        }
        Op::Text(bytes) => {
            w.push(19);
            write_short_bytes(w, bytes);
        }
        Op::Oversize { extra } => {
            w.push(20);
            write_num(w, *extra);
        }
        Op::Huge => w.push(21),
        Op::WsPing(bytes) => {
            assert!(bytes.len() <= MAX_PING_PAYLOAD, "ping payload too long");
            w.push(22);
            w.push(bytes.len() as u8);
            w.extend(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_reads_back_from_its_bytes() {
        for (name, script) in crate::seeds::connection_scripts() {
            assert_eq!(Script::from_bytes(&script.to_bytes()), script, "{name}");
        }
    }

    #[test]
    fn any_bytes_are_a_script_within_bounds() {
        for bytes in [&[][..], &[0xff; 64], &[3, 7, 2, 18, 0xff, 0xff, 1, 2]] {
            let script = Script::from_bytes(bytes);
            assert!(script.ops.len() <= MAX_OPS);
        }
        assert_eq!(Script::from_bytes(&[]).ops, Vec::new());
    }
}
