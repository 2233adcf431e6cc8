//! The conformance suite against a real CQL node, plus what only this
//! backend has: buckets, its statements' shape, its layout settings.
//!
//! Every test gets a fresh store on one keyspace per test binary
//! (`tidings_conformance_<pid>`, migrated once); the suite uses unique ids,
//! so tests share the keyspace safely.

mod common;

use std::time::Duration;

use tidings_storage::conformance::{
    conv_seqs, inbox_entry, inbox_seqs, message, unique_conversation, unique_id,
};
use tidings_storage::{PageLimit, StorageError, Tables};
use tidings_storage_scylla::{ScyllaConfig, ScyllaStore};
use tokio::sync::OnceCell;

static KEYSPACE: OnceCell<ScyllaConfig> = OnceCell::const_new();

/// The migrated keyspace of this test binary.
async fn config() -> &'static ScyllaConfig {
    KEYSPACE
        .get_or_init(|| async {
            let config =
                common::test_config(&format!("tidings_conformance_{}", std::process::id()));
            common::migrate_or_fail(&config).await;
            config
        })
        .await
}

async fn store() -> std::sync::Arc<ScyllaStore> {
    ScyllaStore::connect(config().await)
        .await
        .expect("connect to the test keyspace")
}

async fn fresh_tables() -> (Tables, ()) {
    (Tables::from_backend(store().await), ())
}

tidings_storage::storage_conformance_tests!(fresh_tables());

const LONG_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Every statement binds its table's whole partition key, so each runs on
/// the replicas (and shard) that own the data; the one full scan is the
/// routing table's.
#[tokio::test]
async fn every_statement_binds_the_whole_partition_key() {
    let store = store().await;
    let session = store.session();
    session.refresh_metadata().await.unwrap();
    let cluster = session.get_cluster_state();
    let keyspace = cluster
        .get_keyspace(&config().await.keyspace)
        .expect("keyspace metadata");
    let mut scans = Vec::new();
    for (name, binds_key, statement) in store.prepared_statements() {
        if !binds_key {
            scans.push(name);
            continue;
        }
        // The bind markers' metadata names the table.
        let table_name = statement.get_table_name().expect("statement binds values");
        let table = keyspace
            .tables
            .get(table_name)
            .unwrap_or_else(|| panic!("{name}: no table {table_name}"));
        let bound = statement.get_variable_pk_indexes().len();
        assert!(
            bound > 0 && bound == table.partition_key.len(),
            "{name} binds {bound} of the {} partition key columns of {table_name}",
            table.partition_key.len()
        );
        assert!(statement.is_token_aware(), "{name}");
    }
    assert_eq!(scans, ["list_sections"]);
}

/// Reads cross bucket boundaries in both directions, skipping empty buckets,
/// up to the last seqs a `u64` holds.
#[tokio::test]
async fn messages_span_buckets_with_gaps() {
    let tables = fresh_tables().await.0;
    let conv = unique_conversation();
    let seqs = [
        1,
        2,
        65_535,
        65_536,
        200_000,
        1 << 40,
        u64::MAX - 1,
        u64::MAX,
    ];
    let all: Vec<_> = seqs.iter().map(|&s| message(&conv, s)).collect();
    // One bucket at a time, newest first, as restarts would leave them.
    for m in all.iter().rev() {
        tables
            .messages
            .append_messages(std::slice::from_ref(m))
            .await
            .unwrap();
    }

    // Seqs and `has_more` of one page, oldest first or newest first.
    let (messages, conv) = (&tables.messages, conv.as_str());
    let forward = move |after, up_to, limit| async move {
        let page = messages
            .read_messages(conv, after, up_to, PageLimit::entries(limit))
            .await
            .unwrap();
        (conv_seqs(&page.items), page.has_more)
    };
    let backward = move |before, limit| async move {
        let page = messages
            .read_history(conv, before, PageLimit::entries(limit))
            .await
            .unwrap();
        (conv_seqs(&page.items), page.has_more)
    };

    assert_eq!(forward(0, None, 3).await, (vec![1, 2, 65_535], true));
    assert_eq!(
        forward(65_535, None, 2).await,
        (vec![65_536, 200_000], true)
    );
    assert_eq!(
        forward(200_000, Some(u64::MAX - 1), 10).await,
        (vec![1 << 40, u64::MAX - 1], false)
    );
    let page = messages
        .read_messages(conv, 0, None, PageLimit::entries(100))
        .await
        .unwrap();
    assert_eq!(page.items, all);

    assert_eq!(
        backward(None, 3).await,
        (vec![u64::MAX, u64::MAX - 1, 1 << 40], true)
    );
    assert_eq!(
        backward(Some(200_000), 2).await,
        (vec![65_536, 65_535], true)
    );
    assert_eq!(
        backward(Some(65_536), 10).await,
        (vec![65_535, 2, 1], false)
    );
}

/// Inbox reads cross buckets too, and an entry with a short TTL expiring
/// beside a long-lived one in the same bucket hides nothing else.
#[tokio::test]
async fn inbox_spans_buckets_and_mixed_ttls() {
    let tables = fresh_tables().await.0;
    let user = unique_id("user");
    let conv = unique_conversation();
    let long: Vec<_> = [1, 65_536, 300_000]
        .iter()
        .map(|&s| (user.clone(), inbox_entry(s, &conv, s)))
        .collect();
    tables.inbox.append_inbox(&long, LONG_TTL).await.unwrap();
    let short = [(user.clone(), inbox_entry(2, &conv, 2))];
    tables
        .inbox
        .append_inbox(&short, Duration::from_secs(1))
        .await
        .unwrap();

    let page = tables
        .inbox
        .read_inbox(&user, 0, 400_000, PageLimit::entries(2))
        .await
        .unwrap();
    assert_eq!(inbox_seqs(&page.entries), [1, 2]);
    assert!(page.has_more);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = tables
        .inbox
        .read_inbox(&user, 0, 400_000, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(inbox_seqs(&page.entries), [1, 65_536, 300_000]);
    assert!(
        !page.has_more && page.truncated,
        "entry 2 expired after checkpoint 0"
    );
    let page = tables
        .inbox
        .read_inbox(&user, 2, 400_000, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(inbox_seqs(&page.entries), [65_536, 300_000]);
    assert!(!page.truncated, "nothing after checkpoint 2 expired");
}

/// Entries whose TTL outlasts the margins expire through an expiry window
/// (not straight into the floor): nothing is reported while they are alive,
/// their expiry is reported once they are gone, and still after the window
/// has been folded into the floor.
#[tokio::test]
async fn inbox_expiry_through_a_window() {
    let tables = fresh_tables().await.0;
    let user = unique_id("user");
    let conv = unique_conversation();
    let entries: Vec<_> = (1..=2)
        .map(|s| (user.clone(), inbox_entry(s, &conv, s)))
        .collect();
    tables
        .inbox
        .append_inbox(&entries, Duration::from_secs(4))
        .await
        .unwrap();
    let page = tables
        .inbox
        .read_inbox(&user, 0, 10, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(inbox_seqs(&page.entries), [1, 2]);
    assert!(!page.truncated, "nothing can have expired yet");

    tokio::time::sleep(Duration::from_millis(4500)).await;
    for _ in 0..2 {
        let page = tables
            .inbox
            .read_inbox(&user, 0, 10, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(page.entries.is_empty() && page.truncated);
        let page = tables
            .inbox
            .read_inbox(&user, 1, 10, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(page.truncated, "entry 2 expired after checkpoint 1");
        let page = tables
            .inbox
            .read_inbox(&user, 2, 10, PageLimit::entries(10))
            .await
            .unwrap();
        assert!(!page.truncated, "nothing after checkpoint 2 expired");
    }
}

/// Two stores on one keyspace (two service instances) see each other's
/// writes, and a claim by one fences the other.
#[tokio::test]
async fn instances_share_state() {
    let (a, b) = (fresh_tables().await.0, fresh_tables().await.0);
    let conv = unique_conversation();
    a.messages
        .append_messages(&[message(&conv, 1)])
        .await
        .unwrap();
    let page = b
        .messages
        .read_messages(&conv, 0, None, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(conv_seqs(&page.items), [1]);

    let section = tidings_storage::conformance::unique_section();
    let first = a
        .sections
        .claim_section(section, "seq-0@a", 0, 1_000)
        .await
        .unwrap();
    let second = b
        .sections
        .claim_section(section, "seq-1@b", 1_000, 1_000)
        .await
        .unwrap();
    assert_eq!(second.epoch, first.epoch + 1);
    match a.sections.advance_max_seq(section, first.epoch, 10).await {
        Err(StorageError::Fenced { current, .. }) => assert_eq!(current, second.epoch),
        other => panic!("the old owner must be fenced, got {other:?}"),
    }
}

/// The bucket widths a keyspace was laid out with cannot change.
#[tokio::test]
async fn connect_refuses_other_bucket_widths() {
    let mut other = config().await.clone();
    other.message_bucket_bits = 12;
    let error = ScyllaStore::connect(&other).await.err().expect("refused");
    assert!(
        error.to_string().contains("scylla.message_bucket_bits"),
        "{error}"
    );
}
