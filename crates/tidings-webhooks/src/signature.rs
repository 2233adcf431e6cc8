//! Request signatures.
//!
//! Every webhook request carries
//!
//! ```text
//! X-Tidings-Signature: t=<unix_ms>,v1=<hex HMAC-SHA256 of "<unix_ms>.<body>">
//! ```
//!
//! keyed with the endpoint's secret: `t` is when the request was signed
//! (milliseconds since the Unix epoch, in decimal), the MAC covers those
//! same decimal digits, one `.` and the raw body bytes, and `v1` is the MAC
//! in lowercase hexadecimal. Because the timestamp is signed, a receiver that
//! refuses old timestamps also refuses replays of captured requests.
//!
//! A receiver checks it with [`verify`]: recompute the MAC over the body it
//! received (before parsing it), compare in constant time, and refuse
//! timestamps further than a tolerance from its clock. Several `v1` entries
//! may appear (a sender rotating its secret signs with both); one match is
//! enough. Unknown entries (a future `v2`) are ignored.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-tidings-signature";
/// The idempotency id of the event: the same on every retry of one event, so
/// a receiver drops what it has already handled.
pub const EVENT_ID_HEADER: &str = "x-tidings-event-id";
/// The event's name (`before_send`, `offline_push`, ...).
pub const EVENT_HEADER: &str = "x-tidings-event";
/// Which attempt this request is, from 1.
pub const ATTEMPT_HEADER: &str = "x-tidings-attempt";

/// A tolerance that absorbs ordinary clock skew and retry latency while
/// keeping the replay window short.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<digits>,v1=<hex>[,...]`.
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    /// No `v1` entry matches the body under the secret.
    #[error("signature does not match the body")]
    Mismatch,
    /// The signature matches but was made too far from now: a replay, or a
    /// clock off by more than the tolerance.
    #[error("signature timestamp is {skew_ms} ms away from now")]
    Expired { skew_ms: u64 },
}

/// The header value for `body` signed at `timestamp_ms`.
pub fn sign(secret: &[u8], timestamp_ms: u64, body: &[u8]) -> String {
    let digest = keyed(secret, timestamp_ms, body).finalize().into_bytes();
    let mut header = format!("t={timestamp_ms},v1=");
    for byte in digest {
        header.push(char::from(HEX[usize::from(byte >> 4)]));
        header.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    header
}

/// Checks a received `X-Tidings-Signature` header against the raw `body`,
/// refusing timestamps more than `tolerance` away from `now_ms`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_ms: u64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for entry in header.split(',') {
        let (key, value) = entry
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("an entry without '='"))?;
        match key {
            "t" if timestamp.is_some() => return Err(SignatureError::Malformed("two timestamps")),
            "t" => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("t is not a decimal number"));
                }
                let parsed: u64 = value
                    .parse()
                    .map_err(|_| SignatureError::Malformed("t is out of range"))?;
                timestamp = Some(parsed);
            }
            "v1" => candidates.push(
                decode_hex(value).ok_or(SignatureError::Malformed("v1 is not 64 hex digits"))?,
            ),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no t entry"))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("no v1 entry"));
    }
    // The MAC is checked first so that a forged request is reported as one,
    // not as merely old.
    let mac = keyed(secret, timestamp, body);
    let matched = candidates
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let skew_ms = now_ms.abs_diff(timestamp);
    if u128::from(skew_ms) > tolerance.as_millis() {
        return Err(SignatureError::Expired { skew_ms });
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn keyed(secret: &[u8], timestamp_ms: u64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length (long ones are hashed first).
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let nibble = |digit: u8| char::from(digit).to_digit(16).map(|n| n as u8);
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of sixteen+ bytes";
    const NOW: u64 = 1_780_000_000_000;

    #[test]
    fn a_signed_body_verifies() {
        let body = br#"{"event":"message_committed"}"#;
        let header = sign(SECRET, NOW, body);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(header.len(), format!("t={NOW},v1=").len() + 64);
        verify(SECRET, &header, body, NOW + 1_000, DEFAULT_TOLERANCE).unwrap();
    }

    #[test]
    fn matches_an_independent_implementation() {
        // Computed with Python's hmac module: HMAC-SHA256 under "Jefe" of
        // "1700000000000.what do ya want for nothing?".
        let header = sign(b"Jefe", 1_700_000_000_000, b"what do ya want for nothing?");
        assert_eq!(
            header,
            "t=1700000000000,v1=67c32eec367f08da9b08bed2fa1ad06d820a1b6cf0f7dc32c293102c301c776c"
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign(SECRET, NOW, br#"{"text":"hello"}"#);
        let error = verify(
            SECRET,
            &header,
            br#"{"text":"hellO"}"#,
            NOW,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(error, Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_tampered_timestamp_or_secret_is_refused() {
        let body = b"{}";
        let header = sign(SECRET, NOW, body).replace(&NOW.to_string(), &(NOW + 1).to_string());
        assert_eq!(
            verify(SECRET, &header, body, NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        let header = sign(b"another secret entirely", NOW, body);
        assert_eq!(
            verify(SECRET, &header, body, NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_or_future_timestamp_is_refused() {
        let body = b"{}";
        let old = sign(SECRET, NOW - 10 * 60_000, body);
        assert_eq!(
            verify(SECRET, &old, body, NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Expired { skew_ms: 600_000 })
        );
        let future = sign(SECRET, NOW + 10 * 60_000, body);
        assert!(matches!(
            verify(SECRET, &future, body, NOW, DEFAULT_TOLERANCE),
            Err(SignatureError::Expired { .. })
        ));
    }

    #[test]
    fn any_matching_v1_is_enough_and_unknown_entries_are_ignored() {
        let body = b"{}";
        let good = sign(SECRET, NOW, body);
        let good_mac = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v1={good_mac},v2=whatever", "0".repeat(64));
        verify(SECRET, &header, body, NOW, DEFAULT_TOLERANCE).unwrap();
    }

    #[test]
    fn malformed_headers_are_refused() {
        let body = b"{}";
        let mac = "0".repeat(64);
        for header in [
            String::new(),
            format!("v1={mac}"),
            format!("t={NOW}"),
            format!("t=-5,v1={mac}"),
            format!("t={NOW},t={NOW},v1={mac}"),
            format!("t={NOW},v1=abc"),
            format!("t={NOW},v1={}", "g".repeat(64)),
            format!("t={NOW};v1={mac}"),
        ] {
            assert!(
                matches!(
                    verify(SECRET, &header, body, NOW, DEFAULT_TOLERANCE),
                    Err(SignatureError::Malformed(_))
                ),
                "{header:?} should be malformed"
            );
        }
    }
}
