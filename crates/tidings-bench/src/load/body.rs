//! The body of every benchmark message: 64 bytes that say which sender sent
//! it, its number in that sender's run, and the instant it was due (the
//! moment the sender sent it in a closed loop, the moment it was scheduled in
//! an open loop), so the receiver can time it without asking anyone.

use std::time::Duration;

/// Size of every benchmark body, in bytes.
pub const BODY_BYTES: usize = 64;

/// First bytes of a benchmark body.
const MAGIC: &[u8; 4] = b"TBv1";

/// What a body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sender's index in its scenario.
    pub sender: u32,
    /// The message's number in its sender's run, from 0.
    pub number: u64,
    /// When the message was due, since the scenario's epoch.
    pub due: Duration,
}

impl Stamp {
    /// The 64-byte body: magic, sender, number, due nanos (little endian),
    /// then padding.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(BODY_BYTES);
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&self.sender.to_le_bytes());
        body.extend_from_slice(&self.number.to_le_bytes());
        let nanos = u64::try_from(self.due.as_nanos()).unwrap_or(u64::MAX);
        body.extend_from_slice(&nanos.to_le_bytes());
        body.resize(BODY_BYTES, b'.');
        body
    }

    /// The stamp of a benchmark body; `None` for any other body.
    pub fn decode(body: &[u8]) -> Option<Stamp> {
        if body.len() < 24 || &body[..4] != MAGIC {
            return None;
        }
        let sender = u32::from_le_bytes(body[4..8].try_into().ok()?);
        let number = u64::from_le_bytes(body[8..16].try_into().ok()?);
        let nanos = u64::from_le_bytes(body[16..24].try_into().ok()?);
        Some(Stamp {
            sender,
            number,
            due: Duration::from_nanos(nanos),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_through_64_byte_bodies() {
        let stamp = Stamp {
            sender: 63,
            number: 1_234_567,
            due: Duration::from_nanos(9_876_543_210),
        };
        let body = stamp.encode();
        assert_eq!(body.len(), BODY_BYTES);
        assert_eq!(Stamp::decode(&body), Some(stamp));
        assert_eq!(Stamp::decode(b"hello"), None);
        assert_eq!(Stamp::decode(&[b'.'; 64]), None);
    }
}
