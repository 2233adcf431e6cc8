//! Send idempotency records: exact keys, batches, overwrites and expiry.

use super::{LONG_TTL, PAST_SHORT_TTL, SHORT_TTL, unique_conversation, unique_id};
use crate::{DedupeKey, DedupeRecord, DedupeState, Tables};

fn key(sender: &str, client_msg_id: &str) -> DedupeKey {
    DedupeKey {
        sender: sender.to_string(),
        client_msg_id: client_msg_id.to_string(),
    }
}

/// A committed record with no inbox seqs and nothing stale.
fn record(conversation: &str, conv_seq: u64) -> DedupeRecord {
    DedupeRecord {
        conversation_id: conversation.to_string(),
        message_id: format!("msg-{conv_seq}"),
        created_at_ms: 1_700_000_000_000 + conv_seq as i64,
        conv_seq,
        inbox_seqs: Vec::new(),
        state: DedupeState::Committed,
        stale_conv_seqs: Vec::new(),
        stale_inbox_seqs: Vec::new(),
    }
}

/// A reserved record of a second try: new seqs, and those of the first try.
fn reserved(conversation: &str, conv_seq: u64, users: &[&str]) -> DedupeRecord {
    let seqs = |base: u64| {
        users
            .iter()
            .enumerate()
            .map(|(i, user)| (user.to_string(), base + i as u64))
            .collect()
    };
    DedupeRecord {
        inbox_seqs: seqs(conv_seq * 10),
        state: DedupeState::Reserved,
        stale_conv_seqs: vec![conv_seq - 2, conv_seq - 1],
        stale_inbox_seqs: seqs(conv_seq * 10 - 5),
        ..record(conversation, conv_seq)
    }
}

/// A record is found under exactly its `(sender, client_msg_id)`.
pub async fn dedupe_put_then_get(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let sender = unique_id("sender");
    let conv = unique_conversation();
    let c1 = key(&sender, "c1");
    assert_eq!(
        dedupe.get_dedupe(std::slice::from_ref(&c1)).await.unwrap(),
        [None]
    );

    let first = record(&conv, 7);
    dedupe
        .put_dedupe(&[(c1.clone(), first.clone())], LONG_TTL)
        .await
        .unwrap();
    let found = dedupe
        .get_dedupe(&[
            c1.clone(),
            key(&sender, "c2"),
            key(&unique_id("sender"), "c1"),
        ])
        .await
        .unwrap();
    assert_eq!(found, [Some(first.clone()), None, None]);

    // ("<s>a", "bc") and ("<s>ab", "c") must be different keys.
    let (short, long) = (format!("{sender}a"), format!("{sender}ab"));
    let second = record(&conv, 8);
    dedupe
        .put_dedupe(&[(key(&short, "bc"), second.clone())], LONG_TTL)
        .await
        .unwrap();
    let found = dedupe
        .get_dedupe(&[key(&long, "c"), key(&short, "bc"), c1])
        .await
        .unwrap();
    assert_eq!(found, [None, Some(second), Some(first)]);
}

/// A record is gone after its TTL; one with a longer TTL is not.
pub async fn dedupe_expires_after_ttl(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let sender = unique_id("sender");
    let conv = unique_conversation();
    let (short, long) = (key(&sender, "short"), key(&sender, "long"));
    dedupe
        .put_dedupe(&[(short.clone(), record(&conv, 1))], SHORT_TTL)
        .await
        .unwrap();
    dedupe
        .put_dedupe(&[(long.clone(), record(&conv, 2))], LONG_TTL)
        .await
        .unwrap();
    let both = [short, long];
    assert_eq!(
        dedupe.get_dedupe(&both).await.unwrap(),
        [Some(record(&conv, 1)), Some(record(&conv, 2))]
    );
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        dedupe.get_dedupe(&both).await.unwrap(),
        [None, Some(record(&conv, 2))]
    );
}

/// One get answers every key in the order asked (a key asked twice twice),
/// whatever mix of present, never written and expired keys it holds, and
/// however the records were put (one call for many, or alone). Empty calls
/// are fine.
pub async fn dedupe_batch_mixes_present_absent_and_expired(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let (alice, bob) = (unique_id("alice"), unique_id("bob"));
    let conv = unique_conversation();
    let long_lived: Vec<(DedupeKey, DedupeRecord)> = (1..=20)
        .map(|n| {
            let sender = if n % 2 == 0 { &alice } else { &bob };
            (key(sender, &format!("c{n}")), record(&conv, n))
        })
        .collect();
    dedupe.put_dedupe(&long_lived, LONG_TTL).await.unwrap();
    let expiring = [
        (key(&alice, "gone-1"), record(&conv, 31)),
        (key(&bob, "gone-2"), reserved(&conv, 32, &[&alice])),
    ];
    dedupe.put_dedupe(&expiring, SHORT_TTL).await.unwrap();
    dedupe.put_dedupe(&[], LONG_TTL).await.unwrap();
    assert!(dedupe.get_dedupe(&[]).await.unwrap().is_empty());

    tokio::time::sleep(PAST_SHORT_TTL).await;

    let asked = [
        long_lived[3].0.clone(),
        key(&alice, "never"),
        expiring[0].0.clone(),
        long_lived[0].0.clone(),
        key(&bob, "c2"),
        expiring[1].0.clone(),
        long_lived[3].0.clone(),
        long_lived[19].0.clone(),
    ];
    let found = dedupe.get_dedupe(&asked).await.unwrap();
    assert_eq!(
        found,
        [
            Some(long_lived[3].1.clone()),
            None,
            None,
            Some(long_lived[0].1.clone()),
            None,
            None,
            Some(long_lived[3].1.clone()),
            Some(long_lived[19].1.clone()),
        ]
    );
    let every_key: Vec<DedupeKey> = long_lived.iter().map(|(k, _)| k.clone()).collect();
    let every_record: Vec<Option<DedupeRecord>> =
        long_lived.into_iter().map(|(_, r)| Some(r)).collect();
    assert_eq!(dedupe.get_dedupe(&every_key).await.unwrap(), every_record);
}

/// A send reserves, then commits: the later put of a key replaces the whole
/// record (lists included, also when they shrink to nothing) and its expiry,
/// longer or shorter, in a batch with other keys or alone; a retry may
/// reserve again over a reservation.
pub async fn dedupe_reserved_then_committed_overwrites(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let sender = unique_id("sender");
    let (user_a, user_b) = (unique_id("user"), unique_id("user"));
    let conv = unique_conversation();
    let (send, other, shortened) = (
        key(&sender, "send"),
        key(&sender, "other"),
        key(&sender, "shortened"),
    );

    // The send path reserves with `put_dedupe_ordered`: readable at once, like a put.
    let first_try = reserved(&conv, 5, &[&user_a, &user_b]);
    dedupe
        .put_dedupe_ordered(&[(send.clone(), first_try.clone())], LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        dedupe
            .get_dedupe(std::slice::from_ref(&send))
            .await
            .unwrap(),
        [Some(first_try)]
    );

    let second_try = reserved(&conv, 9, &[&user_b]);
    let batch = [
        (send.clone(), second_try.clone()),
        (shortened.clone(), record(&conv, 3)),
    ];
    dedupe.put_dedupe(&batch, LONG_TTL).await.unwrap();
    assert_eq!(
        dedupe
            .get_dedupe(&[send.clone(), shortened.clone()])
            .await
            .unwrap(),
        [Some(second_try.clone()), Some(record(&conv, 3))]
    );
    // The same records again with a short TTL: their expiry moves closer.
    dedupe.put_dedupe(&batch, SHORT_TTL).await.unwrap();

    let committed = DedupeRecord {
        state: DedupeState::Committed,
        stale_conv_seqs: Vec::new(),
        stale_inbox_seqs: Vec::new(),
        ..second_try
    };
    let unrelated = record(&conv, 11);
    dedupe
        .put_dedupe(
            &[
                (other.clone(), unrelated.clone()),
                (send.clone(), committed.clone()),
            ],
            LONG_TTL,
        )
        .await
        .unwrap();
    let asked = [send.clone(), other.clone(), shortened];
    assert_eq!(
        dedupe.get_dedupe(&asked[..2]).await.unwrap(),
        [Some(committed.clone()), Some(unrelated.clone())]
    );

    // The committed record was written with a long TTL and outlives the
    // short one of the reservation it replaced; the shortened record does not.
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        dedupe.get_dedupe(&asked).await.unwrap(),
        [Some(committed), Some(unrelated), None]
    );

    // A key put twice in one call keeps the later record.
    let (early, late) = (record(&conv, 20), record(&conv, 21));
    let twice = key(&sender, "twice");
    dedupe
        .put_dedupe(
            &[(twice.clone(), early), (twice.clone(), late.clone())],
            LONG_TTL,
        )
        .await
        .unwrap();
    assert_eq!(dedupe.get_dedupe(&[twice]).await.unwrap(), [Some(late)]);
}

/// Every field survives storage: many inbox seqs, extreme seqs and times,
/// non-ASCII ids, empty and non-empty lists in either state.
pub async fn dedupe_round_trips_every_field(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let sender = unique_id("sender");
    let conv = unique_id("g");
    let members: Vec<(String, u64)> = (0..300)
        .map(|i| (format!("{sender}-member-{i}"), 1_000_000 + i))
        .collect();
    let wide = DedupeRecord {
        conversation_id: conv.clone(),
        message_id: "msg-ünïcode ✓".to_string(),
        created_at_ms: -5,
        conv_seq: u64::MAX,
        inbox_seqs: members.clone(),
        state: DedupeState::Reserved,
        stale_conv_seqs: vec![u64::MAX - 2, u64::MAX - 1, 0],
        stale_inbox_seqs: vec![
            (members[7].0.clone(), u64::MAX),
            (members[7].0.clone(), 1),
            (sender.clone(), 0),
        ],
    };
    let bare = DedupeRecord {
        conversation_id: String::new(),
        message_id: String::new(),
        created_at_ms: 0,
        conv_seq: 0,
        inbox_seqs: Vec::new(),
        state: DedupeState::Committed,
        stale_conv_seqs: Vec::new(),
        stale_inbox_seqs: Vec::new(),
    };
    let committed_group = DedupeRecord {
        state: DedupeState::Committed,
        stale_conv_seqs: vec![3],
        ..wide.clone()
    };
    let reserved_bare = DedupeRecord {
        state: DedupeState::Reserved,
        ..bare.clone()
    };
    let records = [
        (key(&sender, "wide"), wide),
        (key(&sender, "bare"), bare),
        (key(&sender, "client id with spaces ✓"), committed_group),
        (key(&sender, "x"), reserved_bare),
    ];
    dedupe.put_dedupe(&records, LONG_TTL).await.unwrap();
    let keys: Vec<DedupeKey> = records.iter().map(|(k, _)| k.clone()).collect();
    let expected: Vec<Option<DedupeRecord>> = records.into_iter().map(|(_, r)| Some(r)).collect();
    assert_eq!(dedupe.get_dedupe(&keys).await.unwrap(), expected);
}
