//! Store timelines: ranges, paging, isolation, idempotency.

use tidings_core::Message;

use super::{conv_seqs, message, unique_conversation, unique_id};
use crate::{MAX_PAGE, PageLimit, Tables};

/// `(after, up_to, limit, expected conv seqs, has_more)`.
type ReadCase = (u64, Option<u64>, usize, &'static [u64], bool);
/// `(before, limit, expected conv seqs, has_more)`.
type HistoryCase = (Option<u64>, usize, &'static [u64], bool);

/// `after < conv_seq <= up_to`, oldest first, `limit` and `has_more` exact,
/// including gaps in the seqs (abandoned allocations).
pub async fn messages_read_range_after_up_to_limit(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let all: Vec<Message> = (1..=10).map(|s| message(&conv, s)).collect();
    store.append_messages(&all).await.unwrap();

    let page = store
        .read_messages(&conv, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(page.items, all);
    assert!(!page.has_more);

    let cases: &[ReadCase] = &[
        (3, Some(7), 100, &[4, 5, 6, 7], false),
        (0, None, 3, &[1, 2, 3], true),
        (7, None, 3, &[8, 9, 10], false),
        (3, Some(5), 2, &[4, 5], false),
        (3, Some(6), 2, &[4, 5], true),
        (8, Some(100), 5, &[9, 10], false),
        (10, None, 5, &[], false),
        (5, Some(5), 5, &[], false),
        (6, Some(5), 5, &[], false),
        (0, Some(0), 5, &[], false),
    ];
    for &(after, up_to, limit, expected, has_more) in cases {
        let page = store
            .read_messages(&conv, after, up_to, PageLimit::entries(limit))
            .await
            .unwrap();
        let case = format!("after={after} up_to={up_to:?} limit={limit}");
        assert_eq!(conv_seqs(&page.items), expected, "{case}");
        assert_eq!(page.has_more, has_more, "{case}");
    }

    let gappy = unique_conversation();
    let sparse: Vec<Message> = [1, 2, 5, 9].iter().map(|&s| message(&gappy, s)).collect();
    store.append_messages(&sparse).await.unwrap();
    let page = store
        .read_messages(&gappy, 2, None, PageLimit::entries(1))
        .await
        .unwrap();
    assert_eq!(conv_seqs(&page.items), [5]);
    assert!(page.has_more);
    let page = store
        .read_messages(&gappy, 5, Some(8), PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(conv_seqs(&page.items), Vec::<u64>::new());
    assert!(!page.has_more);
}

/// A limit above `MAX_PAGE` returns `MAX_PAGE` items and `has_more`.
pub async fn messages_page_is_clamped_to_max_page(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let total = MAX_PAGE as u64 + 5;
    let all: Vec<Message> = (1..=total).map(|s| message(&conv, s)).collect();
    store.append_messages(&all).await.unwrap();

    let page = store
        .read_messages(&conv, 0, None, PageLimit::entries(usize::MAX))
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_PAGE);
    assert_eq!(page.items.last().unwrap().conv_seq, MAX_PAGE as u64);
    assert!(page.has_more);

    let page = store
        .read_history(&conv, None, PageLimit::entries(MAX_PAGE + 50))
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_PAGE);
    assert_eq!(page.items.first().unwrap().conv_seq, total);
    assert_eq!(page.items.last().unwrap().conv_seq, 6);
    assert!(page.has_more);
}

/// Conversations whose ids share a prefix never see each other's messages.
pub async fn messages_isolated_between_prefix_conversations(tables: &Tables) {
    let store = &tables.messages;
    // The first user id sorts below "b", as dm ids require.
    let base = unique_id("a");
    let ids = [
        format!("dm:{base}:b"),
        format!("dm:{base}:bb"),
        format!("dm:{base}:b.x"),
    ];
    for (i, conv) in ids.iter().enumerate() {
        let count = i as u64 + 2;
        let messages: Vec<Message> = (1..=count).map(|s| message(conv, s)).collect();
        store.append_messages(&messages).await.unwrap();
    }
    for (i, conv) in ids.iter().enumerate() {
        let count = i as u64 + 2;
        let expected: Vec<Message> = (1..=count).map(|s| message(conv, s)).collect();
        let page = store
            .read_messages(conv, 0, None, PageLimit::entries(100))
            .await
            .unwrap();
        assert_eq!(page.items, expected, "forward read of {conv}");
        let history = store
            .read_history(conv, None, PageLimit::entries(100))
            .await
            .unwrap();
        let newest_first: Vec<Message> = expected.into_iter().rev().collect();
        assert_eq!(history.items, newest_first, "history of {conv}");
    }
    let unknown = format!("dm:{base}");
    let page = store
        .read_messages(&unknown, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert!(page.items.is_empty() && !page.has_more);
    let history = store
        .read_history(&unknown, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert!(history.items.is_empty() && !history.has_more);
}

/// Appending the same key again leaves one message; a later write replaces
/// the earlier one (the documented overwrite).
pub async fn messages_reappend_is_idempotent(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let all: Vec<Message> = (1..=3).map(|s| message(&conv, s)).collect();
    store.append_messages(&all).await.unwrap();
    store.append_messages(&all[1..2]).await.unwrap();
    store
        .append_messages(&[all[2].clone(), all[2].clone()])
        .await
        .unwrap();
    let page = store
        .read_messages(&conv, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(page.items, all);

    let mut edited = all[1].clone();
    edited.body = b"replaced".to_vec();
    store.append_messages(&[edited.clone()]).await.unwrap();
    let page = store
        .read_messages(&conv, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(page.items, vec![all[0].clone(), edited, all[2].clone()]);
}

/// Roaming: history pages newest first, `before` exclusive, down to seq 1.
pub async fn messages_history_pages_newest_first(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let all: Vec<Message> = (1..=7).map(|s| message(&conv, s)).collect();
    store.append_messages(&all).await.unwrap();

    let cases: &[HistoryCase] = &[
        (None, 3, &[7, 6, 5], true),
        (Some(5), 3, &[4, 3, 2], true),
        (Some(2), 3, &[1], false),
        (Some(4), 3, &[3, 2, 1], false),
        (Some(1), 3, &[], false),
        (Some(0), 3, &[], false),
        (Some(100), 10, &[7, 6, 5, 4, 3, 2, 1], false),
        (None, 7, &[7, 6, 5, 4, 3, 2, 1], false),
    ];
    for &(before, limit, expected, has_more) in cases {
        let page = store
            .read_history(&conv, before, PageLimit::entries(limit))
            .await
            .unwrap();
        let case = format!("before={before:?} limit={limit}");
        assert_eq!(conv_seqs(&page.items), expected, "{case}");
        assert_eq!(page.has_more, has_more, "{case}");
    }

    // What a new device does: page until has_more is false.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .read_history(&conv, before, PageLimit::entries(2))
            .await
            .unwrap();
        seen.extend(page.items.iter().cloned());
        if !page.has_more {
            break;
        }
        before = page.items.last().map(|m| m.conv_seq);
    }
    let newest_first: Vec<Message> = all.into_iter().rev().collect();
    assert_eq!(seen, newest_first);
}

/// Every field survives storage, including empty and binary bodies.
pub async fn messages_round_trip_every_field(tables: &Tables) {
    let store = &tables.messages;
    let conv = format!("g:{}", unique_id("group"));
    let mut empty = message(&conv, 1);
    empty.body.clear();
    empty.kind = String::new();
    let mut large = message(&conv, 2);
    large.body = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    large.created_at_ms = -5;
    let mut wide = message(&conv, u64::MAX - 1);
    wide.kind = "émoji ✓".to_string();
    let all = vec![empty, large, wide];
    store.append_messages(&all).await.unwrap();

    let page = store
        .read_messages(&conv, 0, None, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(page.items, all);
    let page = store
        .read_messages(&conv, 2, Some(u64::MAX), PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(page.items, all[2..]);
}

/// Concurrent appends to one conversation all land and are all readable.
pub async fn messages_concurrent_appends_all_land(tables: &Tables) {
    let conv = unique_conversation();
    let mut writers = tokio::task::JoinSet::new();
    for seq in 1..=32 {
        let store = tables.messages.clone();
        let conv = conv.clone();
        writers.spawn(async move { store.append_messages(&[message(&conv, seq)]).await });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("writer task").unwrap();
    }
    let page = tables
        .messages
        .read_messages(&conv, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(conv_seqs(&page.items), (1..=32).collect::<Vec<_>>());
}

/// Removing rows (abandoned seqs) leaves the timeline exactly as if they had
/// never been written: every forward read and history page, `has_more`
/// included, equals that of a conversation written without them, also when a
/// whole bucket's worth of seqs is removed and reads span the gap. Absent
/// rows, repeated ones and empty calls are ignored; other conversations,
/// including one whose id extends this one's, keep every row.
pub async fn messages_delete_as_if_never_written(tables: &Tables) {
    let store = &tables.messages;
    let conv = unique_conversation();
    let (neighbour, never_written) = (format!("{conv}x"), unique_conversation());
    let reference = unique_conversation();
    // Seqs far apart land in different partitions of a bucketed backend.
    let seqs = [1, 2, 3, 4, 5, 70_000, 70_001, 140_000];
    let removed = [2, 5, 70_000, 70_001];
    let kept: Vec<u64> = seqs.into_iter().filter(|s| !removed.contains(s)).collect();
    for id in [&conv, &neighbour] {
        let all: Vec<Message> = seqs.iter().map(|&s| message(id, s)).collect();
        store.append_messages(&all).await.unwrap();
    }
    let without: Vec<Message> = kept.iter().map(|&s| message(&reference, s)).collect();
    store.append_messages(&without).await.unwrap();

    let mut deletes: Vec<(String, u64)> = removed.iter().map(|&s| (conv.clone(), s)).collect();
    deletes.extend([
        (conv.clone(), 999),
        (conv.clone(), 2),
        (never_written.clone(), 1),
    ]);
    store.delete_messages(&deletes).await.unwrap();
    store.delete_messages(&deletes[..2]).await.unwrap();
    store.delete_messages(&[]).await.unwrap();

    let page = store
        .read_messages(&conv, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    let expected: Vec<Message> = kept.iter().map(|&s| message(&conv, s)).collect();
    assert_eq!(page.items, expected);
    assert!(!page.has_more);
    let page = store
        .read_messages(&conv, 4, None, PageLimit::entries(1))
        .await
        .unwrap();
    assert_eq!(
        (conv_seqs(&page.items), page.has_more),
        (vec![140_000], false)
    );
    let page = store
        .read_messages(&conv, 0, Some(70_001), PageLimit::entries(3))
        .await
        .unwrap();
    assert_eq!(
        (conv_seqs(&page.items), page.has_more),
        (vec![1, 3, 4], false)
    );
    let page = store
        .read_history(&conv, Some(140_000), PageLimit::entries(3))
        .await
        .unwrap();
    assert_eq!(
        (conv_seqs(&page.items), page.has_more),
        (vec![4, 3, 1], false)
    );

    let afters = [0, 1, 2, 3, 4, 5, 69_999, 70_001, 140_000];
    let up_tos = [None, Some(4), Some(5), Some(70_001), Some(140_000)];
    for after in afters {
        for up_to in up_tos {
            for limit in [1, 2, 10] {
                let got = store
                    .read_messages(&conv, after, up_to, PageLimit::entries(limit))
                    .await
                    .unwrap();
                let want = store
                    .read_messages(&reference, after, up_to, PageLimit::entries(limit))
                    .await
                    .unwrap();
                let case = format!("after={after} up_to={up_to:?} limit={limit}");
                assert_eq!(conv_seqs(&got.items), conv_seqs(&want.items), "{case}");
                assert_eq!(got.has_more, want.has_more, "{case}");
            }
        }
    }
    let befores = [None, Some(140_000), Some(70_001), Some(6), Some(5), Some(3)];
    for before in befores {
        for limit in [1, 2, 10] {
            let got = store
                .read_history(&conv, before, PageLimit::entries(limit))
                .await
                .unwrap();
            let want = store
                .read_history(&reference, before, PageLimit::entries(limit))
                .await
                .unwrap();
            let case = format!("before={before:?} limit={limit}");
            assert_eq!(conv_seqs(&got.items), conv_seqs(&want.items), "{case}");
            assert_eq!(got.has_more, want.has_more, "{case}");
        }
    }

    let page = store
        .read_messages(&neighbour, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(conv_seqs(&page.items), seqs);
    let history = store
        .read_history(&neighbour, None, PageLimit::entries(100))
        .await
        .unwrap();
    let newest_first: Vec<u64> = seqs.into_iter().rev().collect();
    assert_eq!(conv_seqs(&history.items), newest_first);
    let page = store
        .read_messages(&never_written, 0, None, PageLimit::entries(10))
        .await
        .unwrap();
    assert!(page.items.is_empty() && !page.has_more);
}
