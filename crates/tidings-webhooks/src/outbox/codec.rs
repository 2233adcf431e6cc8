//! On-disk layout of the fjall outbox; part of the on-disk format.
//!
//! - `events`: key = idempotency id, value = a row: version (1 byte), kind
//!   (1), failed attempts (u32), created_at_ms (u64), due_at_ms (u64), all
//!   big-endian, then the payload.
//! - `due`: key = due_at_ms (u64 big-endian) ++ id, value empty; keys sort
//!   by due time, so due events are a scan from the start.
//! - `dead`: same key and row as `events`, for events given up.

use crate::WebhookError;
use crate::outbox::{EventKind, OutboxEvent, PendingEvent};

const VERSION: u8 = 1;
const HEADER_BYTES: usize = 1 + 1 + 4 + 8 + 8;

/// A decoded `events` row.
pub(crate) struct Row {
    pub pending: PendingEvent,
    pub due_at_ms: u64,
}

fn kind_code(kind: EventKind) -> u8 {
    match kind {
        EventKind::OfflinePush => 1,
        EventKind::MessageCommitted => 2,
        EventKind::MembershipChanged => 3,
    }
}

fn kind_from_code(code: u8) -> Option<EventKind> {
    EventKind::ALL
        .into_iter()
        .find(|kind| kind_code(*kind) == code)
}

pub(crate) fn encode_row(event: &OutboxEvent, failed_attempts: u32, due_at_ms: u64) -> Vec<u8> {
    let mut row = Vec::with_capacity(HEADER_BYTES + event.payload.len());
    row.push(VERSION);
    row.push(kind_code(event.kind));
    row.extend_from_slice(&failed_attempts.to_be_bytes());
    row.extend_from_slice(&event.created_at_ms.to_be_bytes());
    row.extend_from_slice(&due_at_ms.to_be_bytes());
    row.extend_from_slice(&event.payload);
    row
}

pub(crate) fn decode_row(id: &[u8], row: &[u8]) -> Result<Row, WebhookError> {
    let corrupt = |what: &str| {
        WebhookError::Corrupt(format!("{what} in row {:?}", String::from_utf8_lossy(id)))
    };
    if row.len() < HEADER_BYTES {
        return Err(corrupt("short header"));
    }
    if row[0] != VERSION {
        return Err(corrupt("unknown version"));
    }
    let kind = kind_from_code(row[1]).ok_or_else(|| corrupt("unknown event kind"))?;
    let u32_at = |at: usize| u32::from_be_bytes(row[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_be_bytes(row[at..at + 8].try_into().expect("8 bytes"));
    let id = String::from_utf8(id.to_vec()).map_err(|_| corrupt("non-UTF-8 id"))?;
    Ok(Row {
        pending: PendingEvent {
            event: OutboxEvent {
                id,
                kind,
                payload: row[HEADER_BYTES..].to_vec(),
                created_at_ms: u64_at(6),
            },
            failed_attempts: u32_at(2),
        },
        due_at_ms: u64_at(14),
    })
}

pub(crate) fn due_key(due_at_ms: u64, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&due_at_ms.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// Splits a `due` key into its due time and id.
pub(crate) fn split_due_key(key: &[u8]) -> Result<(u64, &[u8]), WebhookError> {
    if key.len() <= 8 {
        return Err(WebhookError::Corrupt("short due key".into()));
    }
    let (due, id) = key.split_at(8);
    Ok((u64::from_be_bytes(due.try_into().expect("8 bytes")), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let event = OutboxEvent {
            id: "msg-1/user-2".into(),
            kind: EventKind::MembershipChanged,
            payload: br#"{"a":1}"#.to_vec(),
            created_at_ms: 1_234,
        };
        let row = decode_row(event.id.as_bytes(), &encode_row(&event, 7, 9_999)).unwrap();
        assert_eq!(row.pending.event, event);
        assert_eq!(row.pending.failed_attempts, 7);
        assert_eq!(row.due_at_ms, 9_999);
        let key = due_key(9_999, &event.id);
        assert_eq!(split_due_key(&key).unwrap(), (9_999, event.id.as_bytes()));
    }

    #[test]
    fn damaged_rows_are_reported() {
        assert!(matches!(
            decode_row(b"x", b"\x01\x01"),
            Err(WebhookError::Corrupt(_))
        ));
        let mut row = encode_row(
            &OutboxEvent {
                id: "x".into(),
                kind: EventKind::OfflinePush,
                payload: vec![],
                created_at_ms: 0,
            },
            0,
            0,
        );
        row[1] = 99;
        assert!(matches!(
            decode_row(b"x", &row),
            Err(WebhookError::Corrupt(_))
        ));
    }
}
