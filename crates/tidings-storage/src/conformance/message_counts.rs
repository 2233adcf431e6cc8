//! Counting a store timeline's messages (unread counts): rows, not seqs,
//! across gaps and partitions, without one sender's messages, bounded.

use tidings_core::{Message, Seq, UserId};

use super::{message, unique_conversation};
use crate::{MAX_COUNT, Tables};

/// Message `conv_seq` of `conversation`, sent by `sender`.
fn sent_by(conversation: &str, conv_seq: Seq, sender: &str) -> Message {
    Message {
        sender_id: UserId::parse(sender).unwrap(),
        ..message(conversation, conv_seq)
    }
}

/// `(after, up_to, except_sender, limit, expected count)`.
type CountCase = (Seq, Seq, &'static str, usize, u64);

/// Seqs far apart (a restart skips a whole allocation step) count as the
/// messages they are; the range is `after < conv_seq <= up_to`; the
/// excluded sender's messages are not counted but still use up `limit`;
/// removed messages are as if never written; conversations whose ids share
/// a prefix stay apart.
pub async fn messages_count_rows_not_seqs(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    // Three partitions of the CQL backend's default layout, one empty
    // bucket between the last two.
    let sends = [
        (1, "bob"),
        (2, "alice"),
        (3, "bob"),
        (70_000, "bob"),
        (70_001, "alice"),
        (200_000, "carol"),
    ];
    let all: Vec<Message> = sends
        .iter()
        .map(|&(seq, sender)| sent_by(&conv, seq, sender))
        .collect();
    store.append_messages(&all).await.unwrap();
    // A neighbour whose id extends this one's, and an abandoned seq.
    let neighbour = format!("{conv}1");
    store
        .append_messages(&[sent_by(&neighbour, 4, "bob")])
        .await
        .unwrap();
    store
        .append_messages(&[sent_by(&conv, 150_000, "bob")])
        .await
        .unwrap();
    store
        .delete_messages(&[(conv.clone(), 150_000)])
        .await
        .unwrap();

    let cases: &[CountCase] = &[
        (0, Seq::MAX, "alice", MAX_COUNT, 4),
        (0, Seq::MAX, "nobody", MAX_COUNT, 6),
        (0, Seq::MAX, "bob", MAX_COUNT, 3),
        (1, 3, "alice", MAX_COUNT, 1),
        (3, 70_000, "alice", MAX_COUNT, 1),
        (3, 199_999, "alice", MAX_COUNT, 1),
        (3, 200_000, "alice", MAX_COUNT, 2),
        (2, 200_000, "nobody", MAX_COUNT, 4),
        // The first three messages, of which alice sent one.
        (0, Seq::MAX, "alice", 3, 2),
        (0, Seq::MAX, "bob", 4, 1),
        (0, Seq::MAX, "bob", 0, 0),
        (200_000, Seq::MAX, "alice", MAX_COUNT, 0),
        (70_001, 70_001, "bob", MAX_COUNT, 0),
        (9, 5, "bob", MAX_COUNT, 0),
    ];
    for &(after, up_to, except, limit, expected) in cases {
        let count = store
            .count_messages(&conv, after, up_to, except, limit)
            .await
            .unwrap();
        let case = format!("after={after} up_to={up_to} except={except} limit={limit}");
        assert_eq!(count, expected, "{case}");
    }
    let count = store
        .count_messages(&neighbour, 0, Seq::MAX, "alice", MAX_COUNT)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let stranger = unique_conversation();
    let count = store
        .count_messages(&stranger, 0, Seq::MAX, "alice", MAX_COUNT)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// A limit above `MAX_COUNT` looks at `MAX_COUNT` messages, so no count
/// reads a timeline without bound.
pub async fn messages_count_is_clamped_to_max_count(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let total = MAX_COUNT as Seq + 5;
    let all: Vec<Message> = (1..=total).map(|s| sent_by(&conv, s, "bob")).collect();
    for chunk in all.chunks(1000) {
        store.append_messages(chunk).await.unwrap();
    }
    let count = store
        .count_messages(&conv, 0, Seq::MAX, "alice", usize::MAX)
        .await
        .unwrap();
    assert_eq!(count, MAX_COUNT as u64);
    let count = store
        .count_messages(&conv, 10, total, "alice", usize::MAX)
        .await
        .unwrap();
    assert_eq!(count, total - 10);
}
