//! Property: across any interleaving of allocations and restarts (the
//! allocator dropped and rebuilt on the same on-disk store), every key's seqs
//! strictly increase: never repeated, never backwards.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use tidings_sequence::{Allocator, SequenceConfig};
use tidings_sequence_client::CommitOutcome;
use tidings_storage::embedded::EmbeddedStore;

#[derive(Debug, Clone)]
enum Op {
    /// Allocate for these key indexes in one batch.
    Allocate(Vec<usize>),
    /// Commit everything pending, then allocate nothing.
    Commit,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(0usize..6, 1..8).prop_map(Op::Allocate),
        1 => Just(Op::Commit),
        2 => Just(Op::Restart),
    ]
}

fn config() -> SequenceConfig {
    SequenceConfig {
        // Few sections and a tiny step, so batches cross the persisted
        // ceiling often and keys share sections.
        sections: 3,
        step: 4,
        commit_deadline_ms: 60_000,
        lease_ms: 60_000,
        instance_id: "seq-test".to_string(),
        ..SequenceConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn seqs_never_repeat_or_go_backwards_across_restarts(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let keys: Vec<String> = (0..6)
                .map(|i| if i % 2 == 0 { format!("user:u{i}") } else { format!("conv:dm:a:u{i}") })
                .collect();
            let mut last: HashMap<String, u64> = HashMap::new();
            let mut pending: Vec<(String, u64)> = Vec::new();
            let mut store = EmbeddedStore::open(dir.path()).unwrap();
            let mut allocator = Allocator::new(config(), store.clone(), "127.0.0.1:1");
            for op in ops {
                match op {
                    Op::Allocate(indexes) => {
                        let batch: Vec<String> = indexes.iter().map(|&i| keys[i].clone()).collect();
                        let seqs = allocator.allocate(&batch).await.unwrap();
                        for (key, seq) in batch.into_iter().zip(seqs) {
                            let previous = last.insert(key.clone(), seq).unwrap_or(0);
                            prop_assert!(seq > previous, "{key}: {seq} after {previous}");
                            pending.push((key, seq));
                        }
                    }
                    Op::Commit => {
                        let outcomes = allocator.commit(&pending).await.unwrap();
                        prop_assert!(outcomes.iter().all(|o| *o == CommitOutcome::Committed));
                        // Committing again (a retry) learns the same.
                        let again = allocator.commit(&pending).await.unwrap();
                        prop_assert_eq!(again, outcomes);
                        pending.clear();
                    }
                    Op::Restart => {
                        drop(allocator);
                        drop(store);
                        pending.clear();
                        store = EmbeddedStore::open(dir.path()).unwrap();
                        allocator = Allocator::new(config(), store.clone(), "127.0.0.1:1");
                    }
                }
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn heads_after_restart_cover_every_earlier_seq() {
    let dir = tempfile::tempdir().unwrap();
    let key = vec!["user:alice".to_string()];
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let allocator = Allocator::new(config(), store.clone(), "127.0.0.1:1");
    let first = allocator.allocate(&key).await.unwrap()[0];
    allocator.commit(&[(key[0].clone(), first)]).await.unwrap();
    let second = allocator.allocate(&key).await.unwrap()[0];
    drop(allocator);
    drop(store);

    let store = EmbeddedStore::open(dir.path()).unwrap();
    let allocator = Arc::new(Allocator::new(
        SequenceConfig {
            commit_deadline_ms: 200,
            ..config()
        },
        store,
        "127.0.0.1:1",
    ));
    // The head resumes from persisted state, above every earlier seq; the
    // restarted instance answers at once (no other instance held the
    // section), and a late commit of `second` cannot be told committed.
    let head = allocator.heads(&key).await.unwrap()[0];
    assert!(head >= second, "head {head} must cover {second}");
    let outcomes = allocator
        .commit(&[(key[0].clone(), first), (key[0].clone(), second)])
        .await
        .unwrap();
    assert_eq!(outcomes, [CommitOutcome::Unknown, CommitOutcome::Unknown]);
    let third = allocator.allocate(&key).await.unwrap()[0];
    assert!(third > head);
}
