//! How rows are laid out in fjall: keys and values of every keyspace.
//!
//! Keys are `id ++ 0x00 ++ big-endian number` so that byte order equals
//! timeline order and a range scan never crosses into another timeline: ids are
//! validated upstream to printable ASCII, so the 0x00 separator cannot occur in
//! them, and "dm:a:b" can never be a key prefix of "dm:a:bb". Values reuse the
//! proto wire format (prost) so that a data directory outlives refactors of the
//! domain types; rows with a TTL carry an 8-byte big-endian expiry in front.

use tidings_core::Seq;
use tidings_proto::common::v1 as pb;

use crate::StorageError;

/// Separates an id from what follows it in a key.
const SEPARATOR: u8 = 0x00;

/// `id ++ 0x00`: the prefix shared by every row of one timeline or owner.
pub(super) fn id_prefix(id: &str) -> Result<Vec<u8>, StorageError> {
    if id.as_bytes().contains(&SEPARATOR) {
        return Err(StorageError::Backend(format!(
            "id {id:?} contains a NUL byte and cannot be used as a key"
        )));
    }
    let mut key = Vec::with_capacity(id.len() + 1 + 8);
    key.extend_from_slice(id.as_bytes());
    key.push(SEPARATOR);
    Ok(key)
}

/// `id ++ 0x01`: the first key after every row of `id` (an exclusive end).
pub(super) fn prefix_end(id: &str) -> Result<Vec<u8>, StorageError> {
    let mut key = id_prefix(id)?;
    key.pop();
    key.push(SEPARATOR + 1);
    Ok(key)
}

/// `id ++ 0x00 ++ n (u64 BE)`: one position of a timeline.
pub(super) fn numbered_key(id: &str, n: u64) -> Result<Vec<u8>, StorageError> {
    let mut key = id_prefix(id)?;
    key.extend_from_slice(&n.to_be_bytes());
    Ok(key)
}

/// `id ++ 0x00 ++ name`: one named row of an owner (a device, a client id).
pub(super) fn named_key(id: &str, name: &str) -> Result<Vec<u8>, StorageError> {
    let mut key = id_prefix(id)?;
    key.extend_from_slice(name.as_bytes());
    Ok(key)
}

/// The first key after `named_key(id, name)`: where the rows of `id` whose
/// name sorts after `name` begin (`name ++ 0x00` is the next byte string).
pub(super) fn after_named_key(id: &str, name: &str) -> Result<Vec<u8>, StorageError> {
    let mut key = named_key(id, name)?;
    key.push(SEPARATOR);
    Ok(key)
}

/// The name at the end of a key written by [`named_key`].
pub(super) fn key_name(
    table: &'static str,
    prefix_len: usize,
    key: &[u8],
) -> Result<String, StorageError> {
    let tail = key
        .get(prefix_len..)
        .ok_or_else(|| corrupt(table, "key shorter than its prefix"))?;
    String::from_utf8(tail.to_vec()).map_err(|_| corrupt(table, "key name is not UTF-8"))
}

/// A big-endian u64 value (inbox window maxima, expired floors).
pub(super) fn encode_u64(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub(super) fn decode_u64(table: &'static str, value: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| corrupt(table, "expected an 8-byte number"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// `expires_at_ms (u64 BE) ++ body`: a row that stops existing at a deadline.
pub(super) fn encode_expiring(expires_at_ms: u64, body: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + body.len());
    value.extend_from_slice(&expires_at_ms.to_be_bytes());
    value.extend_from_slice(body);
    value
}

/// Splits a value written by [`encode_expiring`]; `None` when it is too short.
pub(super) fn split_expiring(value: &[u8]) -> Option<(u64, &[u8])> {
    let (head, body) = value.split_at_checked(8)?;
    Some((u64::from_be_bytes(head.try_into().ok()?), body))
}

/// A stored message, its ids parsed; a row that does not parse is corrupt.
pub(super) fn message_from_row(
    table: &'static str,
    row: tidings_proto::common::v1::Message,
) -> Result<tidings_core::Message, StorageError> {
    tidings_core::Message::try_from(row).map_err(|e| corrupt(table, e.message))
}

pub(super) fn corrupt(table: &'static str, detail: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        table,
        detail: detail.into(),
    }
}

/// Decodes a prost value, naming the table on failure.
pub(super) fn decode<M: prost::Message + Default>(
    table: &'static str,
    bytes: &[u8],
) -> Result<M, StorageError> {
    M::decode(bytes).map_err(|e| corrupt(table, e.to_string()))
}

/// Persisted allocator state of a section (`seq_sections`).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SectionRow {
    #[prost(uint64, tag = "1")]
    pub max_seq: Seq,
    #[prost(uint64, tag = "2")]
    pub epoch: u64,
    #[prost(string, tag = "3")]
    pub owner: String,
    #[prost(int64, tag = "4")]
    pub lease_until_ms: i64,
}

/// What a send reserved or stored (`dedupe`), after the expiry header.
///
/// Tags 1 to 4 are the layout of the first release, which wrote a record
/// only once its send had committed: a row without the later fields decodes
/// as committed, with no inbox seqs and nothing stale.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct DedupeRow {
    #[prost(string, tag = "1")]
    pub conversation_id: String,
    #[prost(uint64, tag = "2")]
    pub conv_seq: Seq,
    #[prost(string, tag = "3")]
    pub message_id: String,
    #[prost(int64, tag = "4")]
    pub created_at_ms: i64,
    #[prost(message, repeated, tag = "5")]
    pub inbox_seqs: Vec<UserSeqRow>,
    #[prost(enumeration = "DedupeStateRow", tag = "6")]
    pub state: i32,
    #[prost(uint64, repeated, tag = "7")]
    pub stale_conv_seqs: Vec<Seq>,
    #[prost(message, repeated, tag = "8")]
    pub stale_inbox_seqs: Vec<UserSeqRow>,
}

/// The state of a [`DedupeRow`]. Committed is 0, the value an absent field
/// decodes to, because rows of the first release are all committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(super) enum DedupeStateRow {
    Committed = 0,
    Reserved = 1,
}

/// A seq in one user's inbox (`dedupe` inbox seqs).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct UserSeqRow {
    #[prost(string, tag = "1")]
    pub user: String,
    #[prost(uint64, tag = "2")]
    pub seq: Seq,
}

/// A device's recorded checkpoint (`device_checkpoints`).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct CheckpointRow {
    #[prost(uint64, tag = "1")]
    pub checkpoint: Seq,
    #[prost(int64, tag = "2")]
    pub updated_at_ms: i64,
}

/// A device's push token (`push_tokens`); the device id is in the key.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct PushTokenRow {
    #[prost(string, tag = "1")]
    pub platform: String,
    #[prost(string, tag = "2")]
    pub token: String,
    #[prost(int64, tag = "3")]
    pub updated_at_ms: i64,
}

/// A group (`groups`).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct GroupRow {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub owner: String,
    #[prost(int64, tag = "3")]
    pub created_at_ms: i64,
    #[prost(bool, tag = "4")]
    pub large: bool,
}

/// A membership, as seen from the group (`group_members`).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct MemberRow {
    #[prost(string, tag = "1")]
    pub role: String,
    #[prost(int64, tag = "2")]
    pub joined_at_ms: i64,
}

/// One conversation of a user's list (`conversations`).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ConversationRow {
    #[prost(uint64, tag = "1")]
    pub last_conv_seq: Seq,
    #[prost(message, optional, tag = "2")]
    pub last_message: Option<pb::Message>,
    #[prost(uint64, tag = "3")]
    pub read_seq: Seq,
    #[prost(int64, tag = "4")]
    pub updated_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_keys_sort_by_number_within_an_id() {
        let small = numbered_key("c", 2).unwrap();
        let large = numbered_key("c", 256).unwrap();
        assert!(small < large);
        assert_eq!(&large[large.len() - 8..], &256u64.to_be_bytes());
    }

    #[test]
    fn an_id_is_never_a_prefix_of_a_longer_ids_rows() {
        let short = id_prefix("dm:a:b").unwrap();
        let long_row = numbered_key("dm:a:bb", 1).unwrap();
        assert!(!long_row.starts_with(&short));
    }

    #[test]
    fn ids_with_nul_are_refused() {
        assert!(id_prefix("a\0b").is_err());
    }

    #[test]
    fn expiring_values_round_trip() {
        let value = encode_expiring(42, b"body");
        assert_eq!(split_expiring(&value), Some((42, &b"body"[..])));
        assert_eq!(split_expiring(b"short"), None);
    }

    #[test]
    fn prefix_bounds_enclose_exactly_one_id() {
        let (start, end) = (id_prefix("g1").unwrap(), prefix_end("g1").unwrap());
        let inside = named_key("g1", "zzz").unwrap();
        let other = named_key("g10", "a").unwrap();
        assert!(start <= inside && inside < end);
        assert!(other >= end, "g10 rows lie past the end of g1");
        let after = after_named_key("g1", "u1").unwrap();
        assert!(named_key("g1", "u1").unwrap() < after);
        assert!(after <= named_key("g1", "u10").unwrap());
        assert!(after <= named_key("g1", "u1.").unwrap());
    }

    #[test]
    fn named_keys_round_trip() {
        let prefix = id_prefix("u1").unwrap();
        let key = named_key("u1", "phone").unwrap();
        assert_eq!(key_name("t", prefix.len(), &key).unwrap(), "phone");
    }
}
