//! Sync timelines: ranges bounded by the visible head, isolation between
//! users, expiry and the `truncated` signal.

use tidings_core::InboxEntry;

use super::{
    LONG_TTL, PAST_SHORT_TTL, SHORT_TTL, inbox_entry, inbox_seqs, unique_conversation, unique_id,
};
use crate::{InboxPage, MAX_PAGE, PageLimit, Tables};

/// `(after, up_to, limit, expected seqs, has_more)`.
type ReadCase = (u64, u64, usize, &'static [u64], bool);
/// `(after, up_to, expected seqs, truncated)`.
type ExpiryCase = (u64, u64, &'static [u64], bool);

/// `after < seq <= up_to`, oldest first whatever the append order; `limit`
/// and `has_more` exact; nothing beyond `up_to` (the visible head) leaks.
pub async fn inbox_read_range_limit_and_order(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let entries: Vec<(String, InboxEntry)> = [4, 1, 6, 2, 5, 3]
        .iter()
        .map(|&seq| (user.clone(), inbox_entry(seq, &conv, seq + 100)))
        .collect();
    inbox.append_inbox(&entries, LONG_TTL).await.unwrap();

    let page = inbox
        .read_inbox(&user, 0, 6, PageLimit::entries(100))
        .await
        .unwrap();
    let expected: Vec<InboxEntry> = (1..=6).map(|s| inbox_entry(s, &conv, s + 100)).collect();
    assert_eq!(
        page,
        InboxPage {
            entries: expected,
            has_more: false,
            truncated: false
        }
    );

    let cases: &[ReadCase] = &[
        (0, 4, 100, &[1, 2, 3, 4], false),
        (0, 6, 2, &[1, 2], true),
        (2, 4, 2, &[3, 4], false),
        (2, 5, 2, &[3, 4], true),
        (5, 100, 10, &[6], false),
        (6, 100, 10, &[], false),
        (4, 4, 10, &[], false),
        (5, 4, 10, &[], false),
    ];
    for &(after, up_to, limit, expected, has_more) in cases {
        let page = inbox
            .read_inbox(&user, after, up_to, PageLimit::entries(limit))
            .await
            .unwrap();
        let case = format!("after={after} up_to={up_to} limit={limit}");
        assert_eq!(inbox_seqs(&page.entries), expected, "{case}");
        assert_eq!(page.has_more, has_more, "{case}");
        assert!(!page.truncated, "{case}");
    }
}

/// A limit above `MAX_PAGE` returns `MAX_PAGE` entries and `has_more`.
pub async fn inbox_page_is_clamped_to_max_page(tables: &Tables) {
    let user = unique_id("user");
    let conv = unique_conversation();
    let total = MAX_PAGE as u64 + 5;
    let entries: Vec<(String, InboxEntry)> = (1..=total)
        .map(|seq| (user.clone(), inbox_entry(seq, &conv, seq)))
        .collect();
    tables.inbox.append_inbox(&entries, LONG_TTL).await.unwrap();
    let page = tables
        .inbox
        .read_inbox(&user, 0, total, PageLimit::entries(usize::MAX))
        .await
        .unwrap();
    assert_eq!(page.entries.len(), MAX_PAGE);
    assert_eq!(page.entries.last().unwrap().seq, MAX_PAGE as u64);
    assert!(page.has_more);
}

/// Users whose ids share a prefix ("u1", "u10") have separate inboxes, even
/// when one call appends to both.
pub async fn inbox_isolated_between_prefix_users(tables: &Tables) {
    let inbox = &tables.inbox;
    let base = unique_id("u");
    let (short, long) = (format!("{base}1"), format!("{base}10"));
    let (conv_a, conv_b) = (unique_conversation(), unique_conversation());
    let mut entries = Vec::new();
    for seq in 1..=3 {
        entries.push((short.clone(), inbox_entry(seq, &conv_a, seq)));
    }
    for seq in 1..=2 {
        entries.push((long.clone(), inbox_entry(seq, &conv_b, seq + 10)));
    }
    inbox.append_inbox(&entries, LONG_TTL).await.unwrap();

    let page = inbox
        .read_inbox(&short, 0, 100, PageLimit::entries(100))
        .await
        .unwrap();
    let expected: Vec<InboxEntry> = (1..=3).map(|s| inbox_entry(s, &conv_a, s)).collect();
    assert_eq!(page.entries, expected);
    let page = inbox
        .read_inbox(&long, 0, 100, PageLimit::entries(100))
        .await
        .unwrap();
    let expected: Vec<InboxEntry> = (1..=2).map(|s| inbox_entry(s, &conv_b, s + 10)).collect();
    assert_eq!(page.entries, expected);
    let page = inbox
        .read_inbox(&base, 0, 100, PageLimit::entries(100))
        .await
        .unwrap();
    assert!(page.entries.is_empty() && !page.has_more && !page.truncated);
}

/// Appending the same entries again (a retried fan-out) stores them once.
pub async fn inbox_reappend_is_idempotent(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let entries: Vec<(String, InboxEntry)> = (1..=3)
        .map(|seq| (user.clone(), inbox_entry(seq, &conv, seq)))
        .collect();
    inbox.append_inbox(&entries, LONG_TTL).await.unwrap();
    inbox.append_inbox(&entries[1..], LONG_TTL).await.unwrap();
    inbox
        .append_inbox(&[entries[0].clone(), entries[0].clone()], LONG_TTL)
        .await
        .unwrap();
    let page = inbox
        .read_inbox(&user, 0, 10, PageLimit::entries(10))
        .await
        .unwrap();
    let expected: Vec<InboxEntry> = entries.into_iter().map(|(_, e)| e).collect();
    assert_eq!(page.entries, expected);
    assert!(!page.has_more && !page.truncated);
}

/// Expired entries are gone; a reader whose checkpoint is below one of them is
/// told `truncated`, a reader above all of them is not.
pub async fn inbox_expired_entries_are_gone_and_reported(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let short: Vec<(String, InboxEntry)> = (1..=3)
        .map(|seq| (user.clone(), inbox_entry(seq, &conv, seq)))
        .collect();
    inbox.append_inbox(&short, SHORT_TTL).await.unwrap();
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let long: Vec<(String, InboxEntry)> = (4..=5)
        .map(|seq| (user.clone(), inbox_entry(seq, &conv, seq)))
        .collect();
    inbox.append_inbox(&long, LONG_TTL).await.unwrap();

    let cases: &[ExpiryCase] = &[
        (0, 5, &[4, 5], true),
        (2, 5, &[4, 5], true),
        (0, 3, &[], true),
        (3, 5, &[4, 5], false),
        (4, 5, &[5], false),
        (5, 5, &[], false),
    ];
    for &(after, up_to, expected, truncated) in cases {
        let page = inbox
            .read_inbox(&user, after, up_to, PageLimit::entries(100))
            .await
            .unwrap();
        let case = format!("after={after} up_to={up_to}");
        assert_eq!(inbox_seqs(&page.entries), expected, "{case}");
        assert_eq!(page.truncated, truncated, "{case}");
        assert!(!page.has_more, "{case}");
    }
}

/// Expiry is noticed by reads alone: no later append has to happen first,
/// and the answer is the same on every read.
pub async fn inbox_expiry_reported_without_later_appends(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let entries: Vec<(String, InboxEntry)> = (1..=2)
        .map(|seq| (user.clone(), inbox_entry(seq, &conv, seq)))
        .collect();
    inbox.append_inbox(&entries, SHORT_TTL).await.unwrap();
    tokio::time::sleep(PAST_SHORT_TTL).await;
    for _ in 0..2 {
        let page = inbox
            .read_inbox(&user, 0, 10, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(page.entries.is_empty() && !page.has_more);
        assert!(page.truncated, "entries 1..=2 expired after checkpoint 0");
        let page = inbox
            .read_inbox(&user, 1, 10, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(page.truncated, "entry 2 expired after checkpoint 1");
        let page = inbox
            .read_inbox(&user, 2, 10, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(!page.truncated, "nothing after checkpoint 2 expired");
    }
}

/// Nothing expired: never `truncated`, also for a user with no inbox at all.
pub async fn inbox_not_truncated_without_expiry(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let entries: Vec<(String, InboxEntry)> = (1..=3)
        .map(|seq| (user.clone(), inbox_entry(seq, &conv, seq)))
        .collect();
    inbox.append_inbox(&entries, LONG_TTL).await.unwrap();
    for after in 0..=3 {
        let page = inbox
            .read_inbox(&user, after, 3, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(!page.truncated, "after={after}");
        assert_eq!(page.entries.len(), 3 - after as usize, "after={after}");
    }
    let nobody = unique_id("user");
    let page = inbox
        .read_inbox(&nobody, 0, 100, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(
        page,
        InboxPage {
            entries: Vec::new(),
            has_more: false,
            truncated: false
        }
    );
}

/// Removing entries (abandoned seqs) leaves the inbox exactly as if they had
/// never been written: every page, `has_more` and `truncated` equals that of
/// an inbox written without them, also when a whole bucket's worth of seqs is
/// removed. Absent entries, repeated ones and empty calls are ignored; other
/// users, including one whose id extends this one's, keep every entry.
pub async fn inbox_delete_as_if_never_written(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let (neighbour, nobody) = (format!("{user}0"), unique_id("user"));
    let reference = unique_id("user");
    let conv = unique_conversation();
    // Seqs far apart land in different partitions of a bucketed backend.
    let seqs = [1, 2, 3, 4, 5, 70_000, 70_001, 140_000];
    let removed = [2, 5, 70_000, 70_001];
    let kept: Vec<u64> = seqs.into_iter().filter(|s| !removed.contains(s)).collect();
    let mut entries: Vec<(String, InboxEntry)> = Vec::new();
    for id in [&user, &neighbour] {
        entries.extend(seqs.iter().map(|&s| (id.clone(), inbox_entry(s, &conv, s))));
    }
    entries.extend(
        kept.iter()
            .map(|&s| (reference.clone(), inbox_entry(s, &conv, s))),
    );
    inbox.append_inbox(&entries, LONG_TTL).await.unwrap();

    let mut deletes: Vec<(String, u64)> = removed.iter().map(|&s| (user.clone(), s)).collect();
    deletes.extend([(user.clone(), 999), (user.clone(), 5), (nobody.clone(), 1)]);
    inbox.delete_inbox(&deletes).await.unwrap();
    inbox.delete_inbox(&deletes[..2]).await.unwrap();
    inbox.delete_inbox(&[]).await.unwrap();

    let page = inbox
        .read_inbox(&user, 0, 200_000, PageLimit::entries(100))
        .await
        .unwrap();
    let expected: Vec<InboxEntry> = kept.iter().map(|&s| inbox_entry(s, &conv, s)).collect();
    assert_eq!(
        page,
        InboxPage {
            entries: expected,
            has_more: false,
            truncated: false
        }
    );
    let page = inbox
        .read_inbox(&user, 4, 200_000, PageLimit::entries(1))
        .await
        .unwrap();
    assert_eq!(
        (inbox_seqs(&page.entries), page.has_more),
        (vec![140_000], false)
    );
    let page = inbox
        .read_inbox(&user, 0, 70_001, PageLimit::entries(3))
        .await
        .unwrap();
    assert_eq!(
        (inbox_seqs(&page.entries), page.has_more),
        (vec![1, 3, 4], false)
    );

    let afters = [0, 1, 2, 3, 4, 5, 69_999, 70_001, 140_000];
    let up_tos = [4, 5, 70_001, 140_000, 200_000];
    for after in afters {
        for up_to in up_tos {
            for limit in [1, 2, 10] {
                let got = inbox
                    .read_inbox(&user, after, up_to, PageLimit::entries(limit))
                    .await
                    .unwrap();
                let want = inbox
                    .read_inbox(&reference, after, up_to, PageLimit::entries(limit))
                    .await
                    .unwrap();
                let case = format!("after={after} up_to={up_to} limit={limit}");
                assert_eq!(
                    inbox_seqs(&got.entries),
                    inbox_seqs(&want.entries),
                    "{case}"
                );
                assert_eq!(got.has_more, want.has_more, "{case}");
                assert_eq!(got.truncated, want.truncated, "{case}");
            }
        }
    }

    let page = inbox
        .read_inbox(&neighbour, 0, 200_000, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(inbox_seqs(&page.entries), seqs);
    let page = inbox
        .read_inbox(&nobody, 0, 10, PageLimit::entries(10))
        .await
        .unwrap();
    assert!(page.entries.is_empty() && !page.has_more && !page.truncated);
}

/// Removing entries never hides an expiry: entries that expired are still
/// reported to a reader below them, whichever entries around them (alive or
/// expired) were removed.
pub async fn inbox_delete_keeps_expiry_reported(tables: &Tables) {
    let inbox = &tables.inbox;
    let user = unique_id("user");
    let conv = unique_conversation();
    let entry = |seq| (user.clone(), inbox_entry(seq, &conv, seq));
    inbox
        .append_inbox(&[entry(1), entry(2)], SHORT_TTL)
        .await
        .unwrap();
    inbox
        .append_inbox(&[entry(3), entry(4)], LONG_TTL)
        .await
        .unwrap();
    inbox
        .delete_inbox(&[(user.clone(), 1), (user.clone(), 4)])
        .await
        .unwrap();
    tokio::time::sleep(PAST_SHORT_TTL).await;

    let cases: &[ExpiryCase] = &[
        (0, 10, &[3], true),
        (1, 10, &[3], true),
        (2, 10, &[3], false),
        (3, 10, &[], false),
    ];
    for &(after, up_to, expected, truncated) in cases {
        let page = inbox
            .read_inbox(&user, after, up_to, PageLimit::entries(10))
            .await
            .unwrap();
        let case = format!("after={after} up_to={up_to}");
        assert_eq!(inbox_seqs(&page.entries), expected, "{case}");
        assert_eq!(page.truncated, truncated, "{case}");
        assert!(!page.has_more, "{case}");
    }
}
