//! Pages cut by bytes: store timelines (forwards and history) and inboxes
//! stop before the item that would pass the byte budget, say `has_more`,
//! always hold one item when the range has one, and a reader that follows
//! `has_more` gets every item once, in order.

use tidings_core::{InboxEntry, Message};

use super::{
    LONG_TTL, conv_seqs, inbox_entry, inbox_seqs, message, unique_conversation, unique_id,
};
use crate::{PageItem, PageLimit, Tables};

/// Seqs spread over several partitions of a bucketed backend, so that cuts
/// also fall in a later bucket than the first.
const SEQS: [u64; 8] = [1, 2, 3, 4, 70_000, 70_001, 70_002, 140_000];

/// A message whose body size depends on its seq: items of a page differ.
fn sized_message(conversation: &str, conv_seq: u64) -> Message {
    let mut m = message(conversation, conv_seq);
    m.body = vec![b'x'; 1000 + (conv_seq % 7) as usize * 300];
    m
}

fn sized_entry(seq: u64, conversation: &str) -> InboxEntry {
    let mut e = inbox_entry(seq, conversation, seq);
    e.message = sized_message(conversation, seq);
    e
}

/// Bytes of the first `n` items.
fn bytes_of<T: PageItem>(items: &[T], n: usize) -> usize {
    items[..n].iter().map(PageItem::page_bytes).sum()
}

/// A forward read and a history read stop exactly at the byte budget (a
/// budget equal to three items' bytes takes three, one byte less takes
/// two); the count still bounds; a budget below one item returns that one.
pub async fn messages_pages_cut_by_bytes(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let all: Vec<Message> = SEQS.iter().map(|&s| sized_message(&conv, s)).collect();
    store.append_messages(&all).await.unwrap();
    let newest_first: Vec<Message> = all.iter().rev().cloned().collect();

    let three = bytes_of(&all, 3);
    let cases: &[(u64, PageLimit, &[u64], bool)] = &[
        (0, PageLimit::new(100, three), &[1, 2, 3], true),
        (0, PageLimit::new(100, three - 1), &[1, 2], true),
        (0, PageLimit::new(2, three), &[1, 2], true),
        (0, PageLimit::new(100, 1), &[1], true),
        (0, PageLimit::new(100, 0), &[1], true),
        (70_002, PageLimit::new(100, 1), &[140_000], false),
        (
            4,
            PageLimit::new(100, bytes_of(&all[4..], 4)),
            &[70_000, 70_001, 70_002, 140_000],
            false,
        ),
        (0, PageLimit::new(100, usize::MAX), &SEQS, false),
    ];
    for &(after, limit, expected, has_more) in cases {
        let page = store
            .read_messages(&conv, after, None, limit)
            .await
            .unwrap();
        let case = format!("after={after} {limit:?}");
        assert_eq!(conv_seqs(&page.items), expected, "{case}");
        assert_eq!(page.has_more, has_more, "{case}");
    }
    // `up_to` ends the range: a page that reaches it has no more.
    let limit = PageLimit::new(100, bytes_of(&all, 4));
    let page = store.read_messages(&conv, 0, Some(4), limit).await.unwrap();
    assert_eq!(
        (conv_seqs(&page.items), page.has_more),
        (vec![1, 2, 3, 4], false)
    );

    let three = bytes_of(&newest_first, 3);
    let page = store
        .read_history(&conv, None, PageLimit::new(100, three))
        .await
        .unwrap();
    assert_eq!(page.items, newest_first[..3]);
    assert!(page.has_more);
    // From before 70_000: 4, 3, then 2 passes a budget of two items' bytes.
    let two = bytes_of(&newest_first[4..], 2);
    for (budget, expected) in [(two, vec![4, 3]), (two - 1, vec![4])] {
        let limit = PageLimit::new(100, budget);
        let page = store
            .read_history(&conv, Some(70_000), limit)
            .await
            .unwrap();
        assert_eq!(conv_seqs(&page.items), expected, "budget={budget}");
        assert!(page.has_more);
    }
    let page = store
        .read_history(&conv, Some(2), PageLimit::new(100, 0))
        .await
        .unwrap();
    assert_eq!((conv_seqs(&page.items), page.has_more), (vec![1], false));
}

/// Following `has_more` through byte-cut pages, forwards and backwards,
/// yields every message once, in order, whatever the budget.
pub async fn messages_byte_cut_pages_join_up(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let all: Vec<Message> = SEQS.iter().map(|&s| sized_message(&conv, s)).collect();
    store.append_messages(&all).await.unwrap();
    let one = all[0].page_bytes();
    for budget in [0, one, 2 * one + 1, 3 * one] {
        let limit = PageLimit::new(100, budget);
        let (mut seen, mut after) = (Vec::new(), 0);
        loop {
            let page = store
                .read_messages(&conv, after, None, limit)
                .await
                .unwrap();
            assert!(!page.items.is_empty(), "budget={budget}");
            assert!(page.items.len() == 1 || bytes_of(&page.items, page.items.len()) <= budget);
            after = page.items.last().unwrap().conv_seq;
            seen.extend(page.items);
            if !page.has_more {
                break;
            }
        }
        assert_eq!(seen, all, "budget={budget}");

        let (mut seen, mut before) = (Vec::new(), None);
        loop {
            let page = store.read_history(&conv, before, limit).await.unwrap();
            before = page.items.last().map(|m| m.conv_seq);
            seen.extend(page.items);
            if !page.has_more {
                break;
            }
        }
        seen.reverse();
        assert_eq!(seen, all, "history budget={budget}");
    }
}

/// Inbox pages stop exactly at the byte budget, say `has_more`, always hold
/// one entry, and join up when followed.
pub async fn inbox_pages_cut_by_bytes(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let all: Vec<InboxEntry> = SEQS.iter().map(|&s| sized_entry(s, &conv)).collect();
    let rows: Vec<(String, InboxEntry)> = all.iter().map(|e| (user.clone(), e.clone())).collect();
    inbox.append_inbox(&rows, LONG_TTL).await.unwrap();
    let head = 140_000;

    let three = bytes_of(&all, 3);
    let cases: &[(u64, PageLimit, &[u64], bool)] = &[
        (0, PageLimit::new(100, three), &[1, 2, 3], true),
        (0, PageLimit::new(100, three - 1), &[1, 2], true),
        (0, PageLimit::new(2, three), &[1, 2], true),
        (0, PageLimit::new(100, 0), &[1], true),
        (70_002, PageLimit::new(100, 0), &[140_000], false),
        (
            3,
            PageLimit::new(100, bytes_of(&all[3..], 3)),
            &[4, 70_000, 70_001],
            true,
        ),
        (0, PageLimit::new(100, usize::MAX), &SEQS, false),
    ];
    for &(after, limit, expected, has_more) in cases {
        let page = inbox.read_inbox(&user, after, head, limit).await.unwrap();
        let case = format!("after={after} {limit:?}");
        assert_eq!(inbox_seqs(&page.entries), expected, "{case}");
        assert_eq!(page.has_more, has_more, "{case}");
        assert!(!page.truncated, "{case}");
    }
    // The visible head ends the range: a page that reaches it has no more.
    let page = inbox
        .read_inbox(&user, 0, 4, PageLimit::new(100, bytes_of(&all, 4)))
        .await
        .unwrap();
    assert_eq!(
        (inbox_seqs(&page.entries), page.has_more),
        (vec![1, 2, 3, 4], false)
    );

    for budget in [0, all[0].page_bytes(), three] {
        let (mut seen, mut after) = (Vec::new(), 0);
        loop {
            let limit = PageLimit::new(100, budget);
            let page = inbox.read_inbox(&user, after, head, limit).await.unwrap();
            after = page.entries.last().expect("a page holds an entry").seq;
            seen.extend(page.entries);
            if !page.has_more {
                break;
            }
        }
        assert_eq!(seen, all, "budget={budget}");
    }
}
