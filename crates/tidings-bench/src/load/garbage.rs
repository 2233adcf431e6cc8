//! The garbage a flooding connection ([`super::flood`], [`Frames::Garbage`])
//! sends: binary WebSocket frames that are not valid requests.
//!
//! Nine frames in ten are random bytes that do not decode as a `ClientFrame`
//! (the server answers `MALFORMED_FRAME`); the tenth is a well-formed
//! `ClientFrame` carrying only a field number no server knows (answered
//! `UNKNOWN_FRAME`), as a client built against a newer protocol would send.
//! The frames come from a pool built once from a fixed seed, so the flooder
//! spends its CPU on sending rather than on generating, and every run sends
//! the same bytes.
//!
//! [`Frames::Garbage`]: super::flood::Frames::Garbage

use bytes::Bytes;
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint};
use tidings_proto::client::v1::ClientFrame;

/// Distinct frames in the pool the flood cycles through.
pub(super) const POOL: usize = 1_000;

/// One frame in this many is a valid `ClientFrame` of an unknown type.
const UNKNOWN_EVERY: usize = 10;

/// A field number no `ClientFrame` of this protocol uses (its frame types
/// are 10 to 26): what a frame type added in a later version looks like to
/// this server.
const UNKNOWN_FIELD: u32 = 999;

/// Seed of the frame pool: the same garbage in every run.
pub(super) const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The frames a flood cycles through, each with whether it is a valid frame
/// of an unknown type.
pub(super) struct GarbagePool {
    frames: Vec<(Bytes, bool)>,
}

impl GarbagePool {
    pub(super) fn new(size: usize, seed: u64) -> GarbagePool {
        let mut random = XorShift(seed | 1);
        let frames = (0..size.max(1))
            .map(|i| {
                if i % UNKNOWN_EVERY == UNKNOWN_EVERY - 1 {
                    (unknown_frame(i as u64 + 1, &mut random), true)
                } else {
                    (malformed_frame(&mut random), false)
                }
            })
            .collect();
        GarbagePool { frames }
    }

    pub(super) fn frame(&self, index: usize) -> (Bytes, bool) {
        let (frame, unknown) = &self.frames[index % self.frames.len()];
        (frame.clone(), *unknown)
    }
}

/// 16 to 255 random bytes that do not decode as a `ClientFrame`; most
/// random bytes do not, the few that do are drawn again.
fn malformed_frame(random: &mut XorShift) -> Bytes {
    loop {
        let len = 16 + (random.next() % 240) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
        if ClientFrame::decode(bytes.as_slice()).is_err() {
            return bytes.into();
        }
    }
}

/// A `ClientFrame` with `request_id` and only [`UNKNOWN_FIELD`], holding a
/// few random bytes.
fn unknown_frame(request_id: u64, random: &mut XorShift) -> Bytes {
    let mut bytes = ClientFrame {
        request_id,
        frame: None,
    }
    .encode_to_vec();
    let payload: Vec<u8> = (0..8 + random.next() % 56)
        .map(|_| random.next() as u8)
        .collect();
    encode_key(UNKNOWN_FIELD, WireType::LengthDelimited, &mut bytes);
    encode_varint(payload.len() as u64, &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes.into()
}

/// xorshift64: reproducible garbage without a dependency for it.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_undecodable_bytes_and_frames_of_an_unknown_type() {
        let pool = GarbagePool::new(100, SEED);
        let mut unknown = 0;
        for i in 0..100 {
            let (bytes, is_unknown) = pool.frame(i);
            let decoded = ClientFrame::decode(bytes.as_ref());
            if is_unknown {
                unknown += 1;
                let frame = decoded.expect("a valid ClientFrame");
                assert_eq!(frame.frame, None, "no frame type this server knows");
                assert_eq!(frame.request_id, i as u64 + 1);
            } else {
                assert!(decoded.is_err(), "frame {i} decodes");
            }
        }
        assert_eq!(unknown, 100 / UNKNOWN_EVERY);
        let again = GarbagePool::new(100, SEED);
        assert_eq!(pool.frame(7), again.frame(7), "same seed, same garbage");
    }
}
