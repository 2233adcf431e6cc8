//! Sizes on the wire: how many bytes messages and inbox entries take once
//! encoded as protobuf, computed without encoding them, and the byte budget
//! of an internal answer.
//!
//! Pages are cut by bytes as well as by count (a page of 500 bodies of
//! 32 KiB is 16 MB, far over any frame or gRPC limit), so the code that
//! builds a page must know each item's size before the answer exists.

use crate::ids::ConversationId;
use crate::message::{InboxEntry, Message};

/// The gRPC message limit of a client left at its defaults (tonic's, and
/// most gRPC libraries' decoding limit). Tidings' own services accept more
/// (`tidings_proto::MAX_GRPC_MESSAGE_BYTES`), but their answers stay under
/// this, so a product's backend calling with default settings reads every
/// page.
pub const DEFAULT_GRPC_MESSAGE_LIMIT: usize = 4 << 20;

/// The most bytes an internal answer holds. Under
/// [`DEFAULT_GRPC_MESSAGE_LIMIT`] with room for what a page's budget does
/// not count: its first item is returned whatever its size (so that a
/// reader always moves on), and a message body is at most 1 MiB.
pub const MAX_ANSWER_BYTES: usize = DEFAULT_GRPC_MESSAGE_LIMIT - (1 << 20) - (64 << 10);

/// The byte budget of an answer whose request asked for `requested` bytes:
/// 0 (the caller named none) and anything above [`MAX_ANSWER_BYTES`] mean
/// [`MAX_ANSWER_BYTES`], so no answer can pass the default gRPC limit.
pub fn answer_budget(requested: u32) -> usize {
    match requested as usize {
        0 => MAX_ANSWER_BYTES,
        n => n.min(MAX_ANSWER_BYTES),
    }
}

/// Bytes a frame or an answer carrying one message takes besides the
/// message's body, at most, with room to spare: the ids (a message id of up
/// to 200 bytes, a conversation id of up to 133, sender, device, client id
/// and kind of up to 64 each), seqs, times, tags and length prefixes, and
/// the page's and the frame's own fields come to under 1 KiB. A frame
/// limit of at least the body limit plus this always fits one message.
pub const MESSAGE_OVERHEAD: usize = 4096;

// One item past the budget (a body of at most 1 MiB and its ids) still fits
// the default gRPC limit.
const _: () =
    assert!(MAX_ANSWER_BYTES + (1 << 20) + MESSAGE_OVERHEAD <= DEFAULT_GRPC_MESSAGE_LIMIT);

/// Bytes of a varint holding `value`.
pub fn varint_len(value: u64) -> usize {
    // 7 bits per byte; 0 still takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of a length-delimited field numbered 1 to 15 (one-byte tag) that
/// holds `len` bytes: how an encoded message counts as an element of a
/// repeated field, as the items of every page do.
pub fn delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A proto3 string or bytes field: absent when empty.
fn bytes_field(len: usize) -> usize {
    if len == 0 { 0 } else { delimited_len(len) }
}

/// A proto3 integer field: absent when zero. Negative `int64`s take ten
/// bytes, as their two's complement does.
fn varint_field(value: u64) -> usize {
    if value == 0 { 0 } else { 1 + varint_len(value) }
}

/// Bytes of a conversation id's string form (`dm:<a>:<b>`, `g:<group>`).
fn conversation_id_len(conversation: &ConversationId) -> usize {
    match conversation {
        ConversationId::Direct(a, b) => "dm::".len() + a.as_str().len() + b.as_str().len(),
        ConversationId::Group(g) => "g:".len() + g.as_str().len(),
    }
}

impl Message {
    /// Bytes of this message encoded as `tidings.common.v1.Message`.
    pub fn encoded_len(&self) -> usize {
        bytes_field(self.message_id.as_str().len())
            + bytes_field(conversation_id_len(&self.conversation_id))
            + varint_field(self.conv_seq)
            + bytes_field(self.sender_id.as_str().len())
            + bytes_field(self.sender_device.as_str().len())
            + bytes_field(self.client_msg_id.len())
            + bytes_field(self.kind.len())
            + bytes_field(self.body.len())
            + varint_field(self.created_at_ms as u64)
    }
}

impl InboxEntry {
    /// Bytes of this entry encoded as `tidings.common.v1.InboxEntry`.
    pub fn encoded_len(&self) -> usize {
        varint_field(self.seq)
            + bytes_field(conversation_id_len(&self.conversation_id))
            + varint_field(self.conv_seq)
            // The message is always present, even if it encodes to nothing.
            + delimited_len(self.message.encoded_len())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use tidings_proto::client::v1::InboxEntries;
    use tidings_proto::common::v1 as pb;

    use super::*;
    use crate::{DeviceId, MessageId, UserId};

    fn message(conv_seq: u64, body: usize, created_at_ms: i64) -> Message {
        Message {
            message_id: MessageId::parse("m-1").unwrap(),
            conversation_id: ConversationId::parse(if body.is_multiple_of(3) {
                "dm:alice:bob"
            } else {
                "g:team-1"
            })
            .unwrap(),
            conv_seq,
            sender_id: UserId::parse("alice").unwrap(),
            sender_device: DeviceId::parse("phone").unwrap(),
            client_msg_id: if body.is_multiple_of(2) {
                String::new()
            } else {
                "c".repeat(64)
            },
            kind: "text".into(),
            body: vec![7; body],
            created_at_ms,
        }
    }

    #[test]
    fn sizes_match_the_protobuf_encoding() {
        for conv_seq in [0, 1, 127, 128, 1 << 40, u64::MAX] {
            for body in [0, 1, 127, 128, 16_383, 16_384, 32 * 1024, 1 << 20] {
                for created in [0, 1, -1, 1_700_000_000_000] {
                    let m = message(conv_seq, body, created);
                    let wire = pb::Message::from(m.clone());
                    assert_eq!(m.encoded_len(), wire.encoded_len(), "{conv_seq} {body}");
                    let entry = InboxEntry {
                        seq: conv_seq / 2,
                        conversation_id: m.conversation_id.clone(),
                        conv_seq: 0,
                        message: m,
                    };
                    let wire = pb::InboxEntry::from(entry.clone());
                    assert_eq!(entry.encoded_len(), wire.encoded_len());
                }
            }
        }
    }

    #[test]
    fn a_page_item_counts_its_tag_and_length_prefix() {
        let m = message(5, 300, 9);
        let page = InboxEntries {
            entries: vec![pb::InboxEntry {
                seq: 1,
                message: Some(m.clone().into()),
                ..Default::default()
            }],
        };
        let item = pb::InboxEntry {
            seq: 1,
            message: Some(m.into()),
            ..Default::default()
        };
        assert_eq!(page.encoded_len(), delimited_len(item.encoded_len()));
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn one_message_with_the_longest_ids_fits_in_its_overhead() {
        use tidings_proto::client::v1::{PullResult, ServerFrame, server_frame::Frame};

        let id = "u".repeat(64);
        let body = 32 * 1024;
        let message = pb::Message {
            message_id: "m".repeat(200),
            conversation_id: format!("dm:{id}:{id}"),
            conv_seq: u64::MAX,
            sender_id: id.clone(),
            sender_device: id.clone(),
            client_msg_id: id.clone(),
            kind: id.clone(),
            body: vec![0; body],
            created_at_ms: -1,
            state: None,
        };
        let frame = ServerFrame {
            request_id: u64::MAX,
            frame: Some(Frame::PullResult(PullResult {
                entries: vec![pb::InboxEntry {
                    seq: u64::MAX,
                    conversation_id: message.conversation_id.clone(),
                    conv_seq: u64::MAX,
                    message: Some(message),
                }],
                head: u64::MAX,
                has_more: true,
                truncated: true,
                ..Default::default()
            })),
        };
        assert!(frame.encoded_len() - body < MESSAGE_OVERHEAD / 4);
    }

    #[test]
    fn budgets_never_pass_the_grpc_limit() {
        assert_eq!(answer_budget(0), MAX_ANSWER_BYTES);
        assert_eq!(answer_budget(u32::MAX), MAX_ANSWER_BYTES);
        assert_eq!(answer_budget(65_000), 65_000);
    }
}
