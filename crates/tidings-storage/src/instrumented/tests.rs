//! What the decorator records, read back through a recorder local to the
//! test thread. `#[tokio::test]` runs on that one thread, which polls the
//! decorated calls, so their metrics land in the local recorder.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

use super::{ERRORS, OPERATION_DURATION};
use crate::conformance::{inbox_entry, message, unique_conversation, unique_id};
use crate::embedded::EmbeddedStore;
use crate::{DedupeKey, DedupeRecord, DedupeState, DedupeStore, PageLimit, StorageError, Tables};

/// A dedupe table whose backend is down.
struct UnreachableDedupe;

#[async_trait]
impl DedupeStore for UnreachableDedupe {
    async fn get_dedupe(&self, _: &[DedupeKey]) -> Result<Vec<Option<DedupeRecord>>, StorageError> {
        Err(StorageError::Unavailable("unreachable".to_string()))
    }

    async fn put_dedupe(
        &self,
        _: &[(DedupeKey, DedupeRecord)],
        _: Duration,
    ) -> Result<(), StorageError> {
        Err(StorageError::Unavailable("unreachable".to_string()))
    }
}

/// Everything recorded, as `(kind, name, labels sorted by key, value)`.
type Recorded = Vec<(MetricKind, String, Vec<(String, String)>, DebugValue)>;

/// Takes everything recorded so far. This drains the recorder, so a test
/// takes it once, at the end.
fn take(snapshotter: &Snapshotter) -> Recorded {
    let snapshot = snapshotter.snapshot().into_vec();
    let entries = snapshot.into_iter().map(|(key, _, _, value)| {
        let mut labels: Vec<_> = key
            .key()
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect();
        labels.sort();
        (key.kind(), key.key().name().to_string(), labels, value)
    });
    entries.collect()
}

/// The value recorded as `kind` under `name` for the embedded backend's
/// `table` and `op`, if any.
fn find<'a>(
    recorded: &'a Recorded,
    kind: MetricKind,
    name: &str,
    table: &str,
    op: &str,
) -> Option<&'a DebugValue> {
    let wanted = [("backend", "embedded"), ("op", op), ("table", table)];
    recorded.iter().find_map(|(k, n, labels, value)| {
        let same_labels = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .eq(wanted);
        (*k == kind && n == name && same_labels).then_some(value)
    })
}

/// Number of samples of the duration histogram of `table` and `op`.
fn samples(recorded: &Recorded, table: &str, op: &str) -> usize {
    match find(
        recorded,
        MetricKind::Histogram,
        OPERATION_DURATION,
        table,
        op,
    ) {
        Some(DebugValue::Histogram(values)) => {
            assert!(values.iter().all(|v| v.0 >= 0.0), "negative duration");
            values.len()
        }
        other => panic!("no duration histogram for {table}.{op}: {other:?}"),
    }
}

#[tokio::test]
async fn every_call_records_its_duration_by_table_and_operation() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = tempfile::tempdir().unwrap();
    let tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
    let tables = tables.instrumented("embedded");
    let conv = unique_conversation();
    let stored = vec![message(&conv, 1), message(&conv, 2)];

    let _local = metrics::set_default_local_recorder(&recorder);
    tables.messages.append_messages(&stored).await.unwrap();
    let page = tables
        .messages
        .read_messages(&conv, 0, None, PageLimit::entries(10))
        .await
        .unwrap();
    let again = tables
        .messages
        .read_messages(&conv, 1, None, PageLimit::entries(10))
        .await
        .unwrap();

    assert_eq!(page.items, stored);
    assert_eq!(again.items, stored[1..]);
    let recorded = take(&snapshotter);
    assert_eq!(samples(&recorded, "messages", "append_messages"), 1);
    assert_eq!(samples(&recorded, "messages", "read_messages"), 2);
    let errors = find(
        &recorded,
        MetricKind::Counter,
        ERRORS,
        "messages",
        "read_messages",
    );
    assert!(errors.is_none(), "no call failed: {errors:?}");
}

#[tokio::test]
async fn a_failed_call_is_counted_and_its_error_passed_through() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = tempfile::tempdir().unwrap();
    let mut tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
    tables.dedupe = Arc::new(UnreachableDedupe);
    let tables = tables.instrumented("embedded");

    let _local = metrics::set_default_local_recorder(&recorder);
    let keys = ["c1", "c2"].map(|client_msg_id| DedupeKey {
        sender: "alice".to_string(),
        client_msg_id: client_msg_id.to_string(),
    });
    let first = tables.dedupe.get_dedupe(&keys).await;
    let second = tables.dedupe.get_dedupe(&keys[1..]).await;

    for result in [first, second] {
        match result {
            Err(StorageError::Unavailable(detail)) => assert_eq!(detail, "unreachable"),
            other => panic!("expected the backend error, got {other:?}"),
        }
    }
    let recorded = take(&snapshotter);
    let errors = find(
        &recorded,
        MetricKind::Counter,
        ERRORS,
        "dedupe",
        "get_dedupe",
    );
    assert_eq!(errors, Some(&DebugValue::Counter(2)));
    assert_eq!(samples(&recorded, "dedupe", "get_dedupe"), 2);
}

/// The batched calls of the send path are timed under their own names, each
/// batch once whatever its size.
#[tokio::test]
async fn batched_calls_are_timed_once_per_batch() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = tempfile::tempdir().unwrap();
    let tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
    let tables = tables.instrumented("embedded");
    let (conv, user) = (unique_conversation(), unique_id("user"));
    let stored = vec![message(&conv, 1), message(&conv, 2)];
    let key = DedupeKey {
        sender: user.clone(),
        client_msg_id: "c1".to_string(),
    };
    let record = DedupeRecord {
        conversation_id: conv.clone(),
        message_id: "m2".to_string(),
        created_at_ms: 2,
        conv_seq: 2,
        inbox_seqs: vec![(user.clone(), 1)],
        state: DedupeState::Reserved,
        stale_conv_seqs: vec![1],
        stale_inbox_seqs: Vec::new(),
    };
    let ttl = Duration::from_secs(60);

    let _local = metrics::set_default_local_recorder(&recorder);
    let dedupe = &tables.dedupe;
    dedupe
        .put_dedupe(&[(key.clone(), record.clone())], ttl)
        .await
        .unwrap();
    let found = dedupe.get_dedupe(&[key.clone(), key]).await.unwrap();
    tables.messages.append_messages(&stored).await.unwrap();
    let deletes = [(conv.clone(), 1), (conv.clone(), 3)];
    tables.messages.delete_messages(&deletes).await.unwrap();
    let entries = [(user.clone(), inbox_entry(1, &conv, 2))];
    tables.inbox.append_inbox(&entries, ttl).await.unwrap();
    tables
        .inbox
        .delete_inbox(&[(user.clone(), 1)])
        .await
        .unwrap();
    let touches = [(user.clone(), stored[1].clone()), (user, stored[0].clone())];
    let conversations = &tables.conversations;
    conversations.touch_conversations(&touches).await.unwrap();

    assert_eq!(found, [Some(record.clone()), Some(record)]);
    let recorded = take(&snapshotter);
    let ops = [
        ("dedupe", "put_dedupe"),
        ("dedupe", "get_dedupe"),
        ("messages", "delete_messages"),
        ("inbox", "delete_inbox"),
        ("conversations", "touch_conversations"),
    ];
    for (table, op) in ops {
        assert_eq!(samples(&recorded, table, op), 1, "{table}.{op}");
        let errors = find(&recorded, MetricKind::Counter, ERRORS, table, op);
        assert!(errors.is_none(), "{table}.{op} failed: {errors:?}");
    }
}
