//! What a commit answers for each seq (DESIGN §9). A send retried after a
//! lost answer must learn that its seqs are committed, so that it answers the
//! client with the same seqs; a seq that was abandoned, or never handed out,
//! is told apart from one whose fate this instance cannot know.

use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tidings_sequence::{Allocator, SequenceConfig};
use tidings_sequence_client::CommitOutcome::{self, Abandoned, Committed, Unknown};
use tidings_storage::SectionStore;
use tidings_storage::embedded::EmbeddedStore;
use tidings_telemetry::metrics::names;

const KEY: &str = "user:alice";

fn config() -> SequenceConfig {
    SequenceConfig {
        sections: 4,
        step: 5,
        commit_deadline_ms: 60_000,
        lease_ms: 60_000,
        instance_id: "seq-a".to_string(),
        ..SequenceConfig::default()
    }
}

struct Fixture {
    allocator: Arc<Allocator>,
    _store: Arc<dyn SectionStore>,
    _dir: tempfile::TempDir,
}

fn start(config: SequenceConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn SectionStore> = EmbeddedStore::open(dir.path()).unwrap();
    Fixture {
        allocator: Arc::new(Allocator::new(config, store.clone(), "127.0.0.1:1")),
        _store: store,
        _dir: dir,
    }
}

async fn allocate(allocator: &Allocator, keys: &[&str]) -> Vec<(String, u64)> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let seqs = allocator.allocate(&keys).await.unwrap();
    keys.into_iter().zip(seqs).collect()
}

async fn commit(allocator: &Allocator, refs: &[(String, u64)]) -> Vec<CommitOutcome> {
    allocator.commit(refs).await.unwrap()
}

fn heads(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[tokio::test]
async fn retried_commit_learns_its_seqs_are_committed() {
    let f = start(config());
    let refs = allocate(&f.allocator, &[KEY, KEY, "conv:dm:alice:bob"]).await;
    assert_eq!(
        commit(&f.allocator, &refs).await,
        [Committed, Committed, Committed]
    );
    // The answer was lost; the writer retries the same commit.
    assert_eq!(
        commit(&f.allocator, &refs).await,
        [Committed, Committed, Committed]
    );
    // One seq of the batch alone, and with a fresh pending one beside it.
    let fresh = allocate(&f.allocator, &[KEY]).await;
    let mixed = [refs[0].clone(), fresh[0].clone()];
    assert_eq!(commit(&f.allocator, &mixed).await, [Committed, Committed]);
    assert_eq!(
        f.allocator.heads(&heads(&[KEY])).await.unwrap(),
        [fresh[0].1]
    );
}

#[tokio::test]
async fn abandoned_seq_answers_abandoned_for_good() {
    let f = start(config());
    let refs = allocate(&f.allocator, &[KEY, KEY]).await;
    f.allocator.abandon(&refs[..1]).await.unwrap();
    // The head moves past the abandoned seq at once, up to the pending one.
    assert_eq!(
        f.allocator.heads(&heads(&[KEY])).await.unwrap(),
        [refs[0].1]
    );
    assert_eq!(commit(&f.allocator, &refs).await, [Abandoned, Committed]);
    assert_eq!(commit(&f.allocator, &refs).await, [Abandoned, Committed]);
    // Abandoning a committed seq does not undo its commit.
    f.allocator.abandon(&refs[1..]).await.unwrap();
    assert_eq!(commit(&f.allocator, &refs[1..]).await, [Committed]);
}

#[tokio::test]
async fn seq_past_its_deadline_answers_abandoned() {
    let deadline = Duration::from_millis(50);
    let f = start(SequenceConfig {
        commit_deadline_ms: deadline.as_millis() as u64,
        ..config()
    });
    // Committed too late, before any reaper ran: refused all the same.
    let late = allocate(&f.allocator, &[KEY]).await;
    tokio::time::sleep(deadline * 3).await;
    assert_eq!(commit(&f.allocator, &late).await, [Abandoned]);

    // Abandoned by the reaper, then committed.
    let reaped = allocate(&f.allocator, &[KEY]).await;
    tokio::time::sleep(deadline * 3).await;
    assert_eq!(f.allocator.abandon_expired().await, 1);
    assert_eq!(
        f.allocator.heads(&heads(&[KEY])).await.unwrap(),
        [reaped[0].1]
    );
    assert_eq!(commit(&f.allocator, &reaped).await, [Abandoned]);
    assert_eq!(commit(&f.allocator, &late).await, [Abandoned]);
}

#[tokio::test]
async fn seq_never_allocated_answers_abandoned() {
    let f = start(config());
    let given = allocate(&f.allocator, &[KEY]).await[0].1;
    let never = [
        (KEY.to_string(), given + 1),
        (KEY.to_string(), given + 1_000),
        ("user:nobody".to_string(), 1),
        (KEY.to_string(), 0),
    ];
    assert_eq!(
        commit(&f.allocator, &never).await,
        [Abandoned, Abandoned, Abandoned, Abandoned]
    );
    // Saying so does not stop the seq being handed out and committed later.
    let next = allocate(&f.allocator, &[KEY]).await;
    assert_eq!(next[0].1, given + 1);
    assert_eq!(commit(&f.allocator, &next).await, [Committed]);
}

#[tokio::test]
async fn seq_of_an_earlier_claim_answers_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn SectionStore> = EmbeddedStore::open(dir.path()).unwrap();
    let before = Allocator::new(config(), store.clone(), "127.0.0.1:1");
    let committed = allocate(&before, &[KEY]).await;
    commit(&before, &committed).await;
    let abandoned = allocate(&before, &[KEY]).await;
    before.abandon(&abandoned).await.unwrap();
    let pending = allocate(&before, &[KEY]).await;
    drop(before);

    let after = Allocator::new(config(), store, "127.0.0.1:2");
    let earlier = [
        committed[0].clone(),
        abandoned[0].clone(),
        pending[0].clone(),
    ];
    assert_eq!(commit(&after, &earlier).await, [Unknown, Unknown, Unknown]);
}

#[tokio::test]
async fn forgotten_abandonment_answers_unknown_never_committed() {
    let f = start(SequenceConfig {
        abandoned_per_section: 1,
        ..config()
    });
    let refs = allocate(&f.allocator, &[KEY, KEY, KEY]).await;
    f.allocator.abandon(&refs[..1]).await.unwrap();
    // Remembering this one drops the first for space.
    f.allocator.abandon(&refs[1..2]).await.unwrap();
    assert_eq!(
        commit(&f.allocator, &refs).await,
        [Unknown, Abandoned, Committed]
    );
}

#[tokio::test]
async fn only_new_commits_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let f = start(config());
    let refs = allocate(&f.allocator, &[KEY, KEY, KEY]).await;
    f.allocator.abandon(&refs[2..]).await.unwrap();
    commit(&f.allocator, &refs).await;
    commit(&f.allocator, &refs).await;

    // A snapshot drains counters: take one.
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str, label: Option<(&str, &str)>| -> u64 {
        snapshot
            .iter()
            .filter(|(key, _, _, _)| {
                let key = key.key();
                key.name() == name
                    && label
                        .is_none_or(|(k, v)| key.labels().any(|l| l.key() == k && l.value() == v))
            })
            .map(|(_, _, _, value)| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    };
    assert_eq!(counter(names::SEQ_COMMITS, None), 2);
    assert_eq!(
        counter(names::SEQ_ABANDONMENTS, Some(("reason", "explicit"))),
        1
    );
}

/// A restarted instance claims its sections back before it serves (each
/// claim raises the section's epoch), and leaves other instances' alone.
#[tokio::test]
async fn a_restarted_instance_takes_back_only_its_own_sections() {
    let fixture = start(config());
    allocate(&fixture.allocator, &[KEY]).await;
    let other = Allocator::new(
        SequenceConfig {
            instance_id: "seq-b".to_string(),
            ..config()
        },
        fixture._store.clone(),
        "127.0.0.1:2",
    );
    // seq-b holds another section of its own.
    let foreign_key = (0..64)
        .map(|i| format!("user:u{i}"))
        .find(|k| {
            tidings_sequence_client::section_of(k, 4) != tidings_sequence_client::section_of(KEY, 4)
        })
        .unwrap();
    other.allocate(&[foreign_key]).await.unwrap();
    let before = fixture._store.list_sections().await.unwrap();

    let restarted = Allocator::new(config(), fixture._store.clone(), "127.0.0.1:3");
    assert_eq!(restarted.take_back_own_sections().await, 1);
    let after = fixture._store.list_sections().await.unwrap();
    for ((id, old), (_, new)) in before.iter().zip(&after) {
        if old.owner.starts_with("seq-a@") {
            assert_eq!(new.epoch, old.epoch + 1, "section {id} claimed again");
            assert!(new.owner.ends_with("127.0.0.1:3"), "{new:?}");
        } else {
            assert_eq!(new, old, "section {id} of seq-b untouched");
        }
    }
}

/// A clean shutdown releases the sections: another instance takes them over
/// before the lease would have ended, and answers heads without waiting a
/// commit deadline (the clock is tokio's, paused: a wait would show as
/// elapsed virtual time). The released instance answers nothing any more.
#[tokio::test(start_paused = true)]
async fn released_sections_are_taken_over_at_once() {
    let fixture = start(config());
    let seqs = allocate(&fixture.allocator, &[KEY]).await;
    assert_eq!(commit(&fixture.allocator, &seqs).await, vec![Committed]);
    assert_eq!(fixture.allocator.release_all().await, 1);
    assert!(fixture.allocator.allocate(&heads(&[KEY])).await.is_err());

    let successor = Allocator::new(
        SequenceConfig {
            instance_id: "seq-b".to_string(),
            ..config()
        },
        fixture._store.clone(),
        "127.0.0.1:2",
    );
    let started = tokio::time::Instant::now();
    let head = successor.heads(&heads(&[KEY])).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(config().commit_deadline_ms),
        "heads waited {:?}",
        started.elapsed()
    );
    assert!(head[0] >= seqs[0].1, "the committed seq stays visible");
    let next = allocate(&successor, &[KEY]).await;
    assert!(next[0].1 > head[0]);
}
