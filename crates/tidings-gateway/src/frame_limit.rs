//! The bound on server frames: the gateway never writes a frame larger than
//! the `max_frame_bytes` it announces in `Welcome`. Backends are asked for
//! answers that fit ([`answer_budget`]); an answer that still does not fit
//! is cut at its end when it is a page (`has_more` set, so the client goes
//! on from the last item it got), and answered `FRAME_TOO_LARGE` otherwise.
//! A push that does not fit is not written (push is a hint; pulls are cut).
//! A leaf module: the session and the frame families build on it.

use axum::body::Bytes;
use prost::Message as _;
use tidings_core::wire::delimited_len;
use tidings_core::{Error, ErrorCode};
use tidings_proto::client::v1::{ServerFrame, server_frame::Frame as Out};

/// Bytes a `ServerFrame` takes besides its answer, at most: the request id
/// (a tag and a varint of up to 10 bytes), the answer's tag (2 bytes: its
/// field number is above 15) and its length (up to 5 bytes).
const ENVELOPE: usize = 1 + 10 + 2 + 5;

/// Bytes `has_more = true` adds to a page that did not set it.
const HAS_MORE: usize = 2;

/// The `max_bytes` to ask a backend for: the largest answer that fits in a
/// frame of `max_frame_bytes` with its envelope.
pub(crate) fn answer_budget(max_frame_bytes: usize) -> u32 {
    let budget = max_frame_bytes.saturating_sub(ENVELOPE).max(1);
    u32::try_from(budget).unwrap_or(u32::MAX)
}

/// `answer` within `max_frame_bytes` once framed: as it is when it fits, a
/// page cut at its end when it does not, else the error to answer instead.
/// Compressed pull pages are not cut here: cut them before compressing.
pub(crate) fn fit(answer: Out, max_frame_bytes: usize) -> Result<Out, Error> {
    let size = framed_len(&answer);
    if size <= max_frame_bytes {
        return Ok(answer);
    }
    let answer = cut(answer, size - max_frame_bytes + HAS_MORE);
    let cut_size = framed_len(&answer);
    if cut_size <= max_frame_bytes {
        tracing::warn!(
            size,
            cut_size,
            max_frame_bytes,
            "answer larger than a frame; cut its page"
        );
        return Ok(answer);
    }
    tracing::warn!(
        size = cut_size,
        max_frame_bytes,
        "answer larger than a frame; refused"
    );
    Err(Error::new(
        ErrorCode::FrameTooLarge,
        format!(
            "the answer would be {cut_size} bytes, over the frame limit of \
             {max_frame_bytes}; ask for less"
        ),
    ))
}

/// Whether a push frame may be written; logs the ones that may not.
pub(crate) fn push_fits(frame: &Bytes, max_frame_bytes: usize) -> bool {
    let fits = frame.len() <= max_frame_bytes;
    if !fits {
        tracing::warn!(
            size = frame.len(),
            max_frame_bytes,
            "push larger than a frame; not sent"
        );
    }
    fits
}

/// The encoded size of `answer` in a frame with the largest request id.
fn framed_len(answer: &Out) -> usize {
    // A oneof's length counts its tag and length prefix: what is left is
    // the request id, whose tag and varint take 11 bytes at most.
    1 + 10 + answer.encoded_len()
}

/// Drops `excess` bytes of items, at least, from the end of a page.
fn cut(answer: Out, excess: usize) -> Out {
    match answer {
        Out::PullResult(mut page) if page.compressed_entries.is_empty() => {
            page.has_more |= drop_tail(&mut page.entries, excess);
            Out::PullResult(page)
        }
        Out::HistoryResult(mut page) => {
            page.has_more |= drop_tail(&mut page.messages, excess);
            Out::HistoryResult(page)
        }
        Out::PullConversationResult(mut page) => {
            page.has_more |= drop_tail(&mut page.messages, excess);
            Out::PullConversationResult(page)
        }
        Out::MembersResult(mut page) => {
            page.has_more |= drop_tail(&mut page.members, excess);
            Out::MembersResult(page)
        }
        other => other,
    }
}

/// Drops items from the end of `items` until `excess` bytes are gone,
/// keeping the first (a page with nothing in it would stop a reader that
/// follows `has_more`); whether any were dropped.
fn drop_tail<T: prost::Message>(items: &mut Vec<T>, mut excess: usize) -> bool {
    let mut dropped = false;
    while excess > 0 && items.len() > 1 {
        let Some(item) = items.pop() else { break };
        excess = excess.saturating_sub(delimited_len(item.encoded_len()));
        dropped = true;
    }
    dropped
}

/// `answer` framed for `request_id`, within `max_frame_bytes`: cut, or the
/// error that refuses it.
pub(crate) fn encode_answer(request_id: u64, answer: Out, max_frame_bytes: usize) -> Bytes {
    let answer = fit(answer, max_frame_bytes)
        .unwrap_or_else(|error| Out::Error(error.to_client_frame(true)));
    ServerFrame {
        request_id,
        frame: Some(answer),
    }
    .encode_to_vec()
    .into()
}

#[cfg(test)]
mod tests {
    use tidings_proto::client::v1::{
        GroupsResult, HistoryResult, PullConversationResult, PullResult,
    };
    use tidings_proto::common::v1::{InboxEntry, Message};

    use super::*;

    const LIMIT: usize = 64 * 1024;

    fn message(conv_seq: u64, body: usize) -> Message {
        Message {
            message_id: format!("message-{conv_seq}"),
            conversation_id: "dm:alice:bob".into(),
            conv_seq,
            sender_id: "alice".into(),
            kind: "text".into(),
            body: vec![b'x'; body],
            ..Default::default()
        }
    }

    fn pull(entries: u64, body: usize) -> PullResult {
        PullResult {
            entries: (1..=entries)
                .map(|seq| InboxEntry {
                    seq,
                    conversation_id: "dm:alice:bob".into(),
                    conv_seq: seq,
                    message: Some(message(seq, body)),
                })
                .collect(),
            head: entries,
            ..Default::default()
        }
    }

    fn framed(request_id: u64, answer: Out) -> ServerFrame {
        let bytes = encode_answer(request_id, answer, LIMIT);
        assert!(bytes.len() <= LIMIT, "{} bytes", bytes.len());
        ServerFrame::decode(bytes).unwrap()
    }

    #[test]
    fn pages_over_the_limit_are_cut_at_the_end_with_has_more() {
        let frame = framed(u64::MAX, Out::PullResult(pull(10, 20_000)));
        let Some(Out::PullResult(page)) = frame.frame else {
            panic!("{frame:?}")
        };
        let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert!(page.has_more);
        assert_eq!(page.head, 10);

        let history = HistoryResult {
            messages: (1..=10).rev().map(|s| message(s, 30_000)).collect(),
            has_more: false,
        };
        let frame = framed(7, Out::HistoryResult(history));
        let Some(Out::HistoryResult(page)) = frame.frame else {
            panic!("{frame:?}")
        };
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.conv_seq).collect();
        assert_eq!((seqs, page.has_more), (vec![10, 9], true));

        let pulled = PullConversationResult {
            messages: (1..=3).map(|s| message(s, 40_000)).collect(),
            head: 3,
            has_more: false,
        };
        let frame = framed(8, Out::PullConversationResult(pulled));
        let Some(Out::PullConversationResult(page)) = frame.frame else {
            panic!("{frame:?}")
        };
        assert_eq!((page.messages.len(), page.has_more), (1, true));
    }

    #[test]
    fn answers_that_fit_are_sent_as_they_are() {
        let page = pull(3, 10_000);
        let frame = framed(1, Out::PullResult(page.clone()));
        assert_eq!(frame.frame, Some(Out::PullResult(page)));
    }

    #[test]
    fn what_cannot_be_cut_is_refused_not_sent() {
        let frame = framed(3, Out::PullResult(pull(1, 70_000)));
        let Some(Out::Error(error)) = frame.frame else {
            panic!("{frame:?}")
        };
        assert_eq!(error.code, ErrorCode::FrameTooLarge.to_client() as i32);
        assert!(error.connection_kept);
        assert_eq!(frame.request_id, 3);

        let groups = GroupsResult {
            groups: vec![Default::default(); 1],
        };
        assert!(fit(Out::GroupsResult(groups.clone()), LIMIT).is_ok());
        let many = GroupsResult {
            groups: (0..5_000)
                .map(|i| tidings_proto::client::v1::GroupResult {
                    group_id: format!("group-{i}"),
                    conversation_id: format!("g:group-{i}"),
                    ..Default::default()
                })
                .collect(),
        };
        let error = fit(Out::GroupsResult(many), LIMIT).unwrap_err();
        assert_eq!(error.code, ErrorCode::FrameTooLarge);
    }

    #[test]
    fn the_budget_leaves_room_for_the_largest_envelope() {
        let budget = answer_budget(LIMIT) as usize;
        let page = PullResult {
            compressed_entries: vec![0; budget - 4],
            ..Default::default()
        };
        assert!(page.encoded_len() <= budget);
        let frame = ServerFrame {
            request_id: u64::MAX,
            frame: Some(Out::PullResult(page.clone())),
        };
        assert!(frame.encoded_len() <= LIMIT);
        assert_eq!(framed_len(&Out::PullResult(page)), frame.encoded_len());
    }
}
