//! Send idempotency records: exact keys and expiry.

use super::{LONG_TTL, PAST_SHORT_TTL, SHORT_TTL, unique_id};
use crate::{DedupeRecord, Tables};

fn record(conversation: &str, conv_seq: u64) -> DedupeRecord {
    DedupeRecord {
        conversation_id: conversation.to_string(),
        conv_seq,
        message_id: format!("msg-{conv_seq}"),
        created_at_ms: 1_700_000_000_000 + conv_seq as i64,
    }
}

/// A record is found under exactly its `(sender, client_msg_id)`.
pub async fn dedupe_put_then_get(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let sender = unique_id("sender");
    let conv = unique_id("conv");
    assert_eq!(dedupe.get_dedupe(&sender, "c1").await.unwrap(), None);

    let first = record(&conv, 7);
    dedupe
        .put_dedupe(&sender, "c1", &first, LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        dedupe.get_dedupe(&sender, "c1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(dedupe.get_dedupe(&sender, "c2").await.unwrap(), None);
    assert_eq!(
        dedupe.get_dedupe(&unique_id("sender"), "c1").await.unwrap(),
        None
    );

    // ("<s>a", "bc") and ("<s>ab", "c") must be different keys.
    let (short, long) = (format!("{sender}a"), format!("{sender}ab"));
    let second = record(&conv, 8);
    dedupe
        .put_dedupe(&short, "bc", &second, LONG_TTL)
        .await
        .unwrap();
    assert_eq!(dedupe.get_dedupe(&long, "c").await.unwrap(), None);
    assert_eq!(dedupe.get_dedupe(&short, "bc").await.unwrap(), Some(second));
    assert_eq!(dedupe.get_dedupe(&sender, "c1").await.unwrap(), Some(first));
}

/// A record is gone after its TTL; one with a longer TTL is not.
pub async fn dedupe_expires_after_ttl(tables: &Tables) {
    let dedupe = &tables.dedupe;
    let sender = unique_id("sender");
    let conv = unique_id("conv");
    dedupe
        .put_dedupe(&sender, "short", &record(&conv, 1), SHORT_TTL)
        .await
        .unwrap();
    dedupe
        .put_dedupe(&sender, "long", &record(&conv, 2), LONG_TTL)
        .await
        .unwrap();
    assert_eq!(
        dedupe.get_dedupe(&sender, "short").await.unwrap(),
        Some(record(&conv, 1))
    );
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(dedupe.get_dedupe(&sender, "short").await.unwrap(), None);
    assert_eq!(
        dedupe.get_dedupe(&sender, "long").await.unwrap(),
        Some(record(&conv, 2))
    );
}
