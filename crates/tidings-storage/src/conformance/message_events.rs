//! The event index: events found by the conv seq of the message they name,
//! in fold order, idempotent by (target, event seq), across partitions.

use tidings_core::{Message, Seq};

use super::{message, unique_conversation};
use crate::{MAX_COUNT, Tables};

/// Event `event_seq` of `conversation`, naming the message at `target`.
fn event(conversation: &str, target: Seq, event_seq: Seq) -> (Seq, Message) {
    let event = Message {
        kind: "tidings.reaction".into(),
        body: format!("on {target}").into_bytes(),
        ..message(conversation, event_seq)
    };
    (target, event)
}

/// Reads come back ordered by target then event seq whatever the append
/// order; appending again stores nothing twice; the target range is
/// inclusive on both ends and spans partitions of the CQL layout (targets
/// 1 and 70,000 lie in different buckets); another conversation's events
/// stay apart; the limit says `has_more`.
pub async fn message_events_by_target_in_fold_order(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let other = format!("{conv}x");
    // The targets are messages; the CQL backend finds their partitions
    // through the buckets their messages indexed.
    let targets: Vec<Message> = [1, 2, 70_000]
        .iter()
        .map(|&seq| message(&conv, seq))
        .collect();
    store.append_messages(&targets).await.unwrap();
    store.append_messages(&[message(&other, 2)]).await.unwrap();
    let events = [
        event(&conv, 2, 80_002),
        event(&conv, 1, 80_001),
        event(&conv, 2, 80_000),
        event(&conv, 70_000, 80_003),
    ];
    store.append_events(&events).await.unwrap();
    store.append_events(&events[..2]).await.unwrap();
    store
        .append_events(&[event(&other, 2, 80_004)])
        .await
        .unwrap();

    let keys = |page: &crate::Page<(Seq, Message)>| -> Vec<(Seq, Seq)> {
        page.items.iter().map(|(t, e)| (*t, e.conv_seq)).collect()
    };
    let all = store
        .read_events(&conv, 1, 70_000, MAX_COUNT)
        .await
        .unwrap();
    assert_eq!(
        keys(&all),
        [(1, 80_001), (2, 80_000), (2, 80_002), (70_000, 80_003)]
    );
    assert!(!all.has_more);
    assert_eq!(all.items[0].1.body, b"on 1");
    assert_eq!(all.items[0].1.kind, "tidings.reaction");

    let middle = store.read_events(&conv, 2, 2, MAX_COUNT).await.unwrap();
    assert_eq!(keys(&middle), [(2, 80_000), (2, 80_002)]);
    let cut = store.read_events(&conv, 1, 70_000, 2).await.unwrap();
    assert_eq!(keys(&cut), [(1, 80_001), (2, 80_000)]);
    assert!(cut.has_more);
    let none = store
        .read_events(&conv, 3, 69_999, MAX_COUNT)
        .await
        .unwrap();
    assert!(none.items.is_empty() && !none.has_more);
    let theirs = store
        .read_events(&other, 1, 70_000, MAX_COUNT)
        .await
        .unwrap();
    assert_eq!(keys(&theirs), [(2, 80_004)]);
}
