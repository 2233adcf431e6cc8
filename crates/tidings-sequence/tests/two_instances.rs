//! Two allocator instances on one section table: whatever happens to the
//! lease (it expires while the holder is paused, or another instance is
//! forced onto the section), no seq is ever handed out twice, and a restarted
//! instance never goes backwards. A restarted instance answers heads at
//! once and tells commits of its previous life `unknown`; an instance taking
//! a section over from another waits out the commit deadline first.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tidings_core::{ErrorCode, now_ms};
use tidings_sequence::{Allocator, SequenceConfig, section_of};
use tidings_sequence_client::CommitOutcome;
use tidings_storage::SectionStore;
use tidings_storage::embedded::EmbeddedStore;

fn config(instance: &str, lease_ms: u64) -> SequenceConfig {
    SequenceConfig {
        sections: 4,
        step: 5,
        commit_deadline_ms: 100,
        lease_ms,
        instance_id: instance.to_string(),
        ..SequenceConfig::default()
    }
}

fn with_deadline(config: SequenceConfig, commit_deadline_ms: u64) -> SequenceConfig {
    SequenceConfig {
        commit_deadline_ms,
        ..config
    }
}

const KEY: &str = "user:shared";

/// Allocates `n` seqs for KEY one at a time, recording them; stops at the
/// first refusal.
async fn allocate(allocator: &Allocator, n: usize, seen: &mut Vec<u64>) -> Result<(), ErrorCode> {
    for _ in 0..n {
        let seq = allocator
            .allocate(&[KEY.to_string()])
            .await
            .map_err(|e| e.code)?[0];
        seen.push(seq);
    }
    Ok(())
}

fn assert_unique(seen: &[u64]) {
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a seq was handed out twice: {seen:?}"
    );
}

pub async fn expired_lease_of_a_paused_instance(store: Arc<dyn SectionStore>) {
    let lease = Duration::from_millis(600);
    let a = Allocator::new(config("seq-a", 600), store.clone(), "10.0.0.1:7403");
    let b = Allocator::new(config("seq-b", 600), store.clone(), "10.0.0.2:7403");
    let mut seen = Vec::new();
    allocate(&a, 7, &mut seen).await.unwrap();
    let in_flight = *seen.last().unwrap();

    // While A's lease runs, B is refused and told who owns the section.
    let refused = b.allocate(&[KEY.to_string()]).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::WrongOwner);
    let info = refused.info().expect("the refusal names the owner");
    assert_eq!(info.metadata["owner"], "seq-a@10.0.0.1:7403");
    assert_eq!(
        info.metadata["section"],
        section_of(KEY, 4).to_string(),
        "{info:?}"
    );

    // A is "paused" (no renewals) until its lease has expired; B takes over.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    allocate(&b, 7, &mut seen).await.unwrap();

    // A wakes up: it must not serve the section any more, nor tell a late
    // writer that its seq is committed; the new owner cannot tell either.
    assert_eq!(allocate(&a, 1, &mut seen).await, Err(ErrorCode::WrongOwner));
    let late = [(KEY.to_string(), in_flight)];
    assert_eq!(
        a.commit(&late).await.map_err(|e| e.code),
        Err(ErrorCode::WrongOwner)
    );
    assert_eq!(b.commit(&late).await.unwrap(), [CommitOutcome::Unknown]);
    assert_unique(&seen);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "one timeline, in order: {seen:?}"
    );
}

pub async fn instance_forced_onto_a_live_section(store: Arc<dyn SectionStore>) {
    let a = Allocator::new(config("seq-a", 60_000), store.clone(), "10.0.0.1:7403");
    let mut seen = Vec::new();
    allocate(&a, 3, &mut seen).await.unwrap();

    // Another instance is forced onto the section while A still believes it
    // owns it (a clock far ahead claims past A's lease).
    let section = section_of(KEY, 4);
    let forced = store
        .claim_section(section, "seq-b@10.0.0.2:7403", now_ms() + 120_000, 60_000)
        .await
        .unwrap();
    let b_base = forced.max_seq;
    let b = Allocator::new(config("seq-b", 60_000), store.clone(), "10.0.0.2:7403");
    // B re-claims as itself (same instance) and serves from above A's ceiling.
    let mut seen_b = Vec::new();
    allocate(&b, 10, &mut seen_b).await.unwrap();
    assert!(seen_b.iter().all(|s| *s > b_base));

    // A keeps going until it needs to raise its ceiling, which the epoch
    // fences; whatever it handed out stays below B's base.
    let result = allocate(&a, 20, &mut seen).await;
    assert!(
        result.is_err(),
        "A must be fenced before handing out 20 more"
    );
    assert!(
        seen.iter().all(|s| *s <= b_base),
        "A crossed into B's range: {seen:?}"
    );
    seen.extend(seen_b);
    assert_unique(&seen);
}

pub async fn restarted_instance_never_goes_backwards(store: Arc<dyn SectionStore>) {
    let mut last = 0;
    for _ in 0..4 {
        let a = Allocator::new(config("seq-a", 60_000), store.clone(), "10.0.0.1:7403");
        let mut seen = Vec::new();
        allocate(&a, 6, &mut seen).await.unwrap();
        assert!(
            seen[0] > last,
            "restart went backwards: {} after {last}",
            seen[0]
        );
        last = *seen.last().unwrap();
    }
}

pub async fn restarted_instance_answers_heads_at_once(store: Arc<dyn SectionStore>) {
    // A deadline far longer than the bound below: waiting for it would fail.
    let config = with_deadline(config("seq-a", 60_000), 60_000);
    let key = vec![KEY.to_string()];
    let a = Allocator::new(config.clone(), store.clone(), "10.0.0.1:7403");
    let committed = a.allocate(&key).await.unwrap()[0];
    assert_eq!(
        a.commit(&[(KEY.to_string(), committed)]).await.unwrap(),
        [CommitOutcome::Committed]
    );
    let pending = a.allocate(&key).await.unwrap()[0];
    drop(a);

    // The same instance comes back (at a new address): it held the section
    // last, so no one else can still commit there.
    let a = Allocator::new(config, store.clone(), "10.0.0.9:7403");
    let head = tokio::time::timeout(Duration::from_secs(10), a.heads(&key))
        .await
        .expect("heads must not wait for the commit deadline after a restart")
        .unwrap()[0];
    assert!(head >= pending, "head {head} must cover {pending}");
    // Its previous life's seqs: this life cannot tell what became of them.
    let earlier = [(KEY.to_string(), committed), (KEY.to_string(), pending)];
    assert_eq!(
        a.commit(&earlier).await.unwrap(),
        [CommitOutcome::Unknown, CommitOutcome::Unknown]
    );
    // Its own seqs are told as before.
    let fresh = a.allocate(&key).await.unwrap()[0];
    assert!(fresh > head);
    let own = [(KEY.to_string(), fresh)];
    assert_eq!(a.commit(&own).await.unwrap(), [CommitOutcome::Committed]);
    assert_eq!(a.commit(&own).await.unwrap(), [CommitOutcome::Committed]);
    assert_eq!(a.heads(&key).await.unwrap(), [fresh]);
}

pub async fn takeover_from_another_instance_waits_for_the_deadline(store: Arc<dyn SectionStore>) {
    let lease = Duration::from_millis(600);
    let deadline = Duration::from_millis(400);
    let key = vec![KEY.to_string()];
    let a = Allocator::new(config("seq-a", 600), store.clone(), "10.0.0.1:7403");
    let in_flight = a.allocate(&key).await.unwrap()[0];
    // A stops renewing (paused, or dead); B takes over once the lease ended.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let b = Allocator::new(
        with_deadline(config("seq-b", 600), deadline.as_millis() as u64),
        store.clone(),
        "10.0.0.2:7403",
    );
    let asked = tokio::time::Instant::now();
    let head = b.heads(&key).await.unwrap()[0];
    // A may be alive and paused mid-commit: B's heads wait a deadline.
    assert!(
        asked.elapsed() >= deadline,
        "heads answered after {:?}, before the deadline",
        asked.elapsed()
    );
    assert!(head >= in_flight);
    assert_eq!(
        b.commit(&[(KEY.to_string(), in_flight)]).await.unwrap(),
        [CommitOutcome::Unknown]
    );
    drop(a);
}

/// A fresh keyspace on the CQL node of the tests (`TIDINGS_TEST_SCYLLA`, else
/// `TIDINGS_TEST_CQL`, else 127.0.0.1:19042), where claims use lightweight
/// transactions.
async fn cql(name: &str) -> Arc<dyn SectionStore> {
    let contact = std::env::var("TIDINGS_TEST_SCYLLA")
        .or_else(|_| std::env::var("TIDINGS_TEST_CQL"))
        .unwrap_or_else(|_| "127.0.0.1:19042".into());
    let config = tidings_storage_scylla::ScyllaConfig {
        contact_points: vec![contact.clone()],
        keyspace: format!("tidings_seq_{name}_{}", std::process::id()),
        ..Default::default()
    };
    tidings_storage_scylla::migrate(&config)
        .await
        .unwrap_or_else(|e| {
            panic!("no CQL node at {contact} ({e}); run scripts/cassandra.sh start")
        });
    tidings_storage_scylla::ScyllaStore::connect(&config)
        .await
        .expect("connect to the CQL node")
}

#[tokio::test]
async fn cql_expired_lease_of_a_paused_instance() {
    expired_lease_of_a_paused_instance(cql("paused").await).await;
}

#[tokio::test]
async fn cql_instance_forced_onto_a_live_section() {
    instance_forced_onto_a_live_section(cql("forced").await).await;
}

#[tokio::test]
async fn cql_restarted_instance_never_goes_backwards() {
    restarted_instance_never_goes_backwards(cql("restart").await).await;
}

#[tokio::test]
async fn cql_restarted_instance_answers_heads_at_once() {
    restarted_instance_answers_heads_at_once(cql("heads_at_once").await).await;
}

#[tokio::test]
async fn cql_takeover_from_another_instance_waits_for_the_deadline() {
    takeover_from_another_instance_waits_for_the_deadline(cql("takeover").await).await;
}

fn embedded() -> (Arc<dyn SectionStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (EmbeddedStore::open(dir.path()).unwrap(), dir)
}

#[tokio::test]
async fn embedded_expired_lease_of_a_paused_instance() {
    let (store, _dir) = embedded();
    expired_lease_of_a_paused_instance(store).await;
}

#[tokio::test]
async fn embedded_instance_forced_onto_a_live_section() {
    let (store, _dir) = embedded();
    instance_forced_onto_a_live_section(store).await;
}

#[tokio::test]
async fn embedded_restarted_instance_never_goes_backwards() {
    let (store, _dir) = embedded();
    restarted_instance_never_goes_backwards(store).await;
}

#[tokio::test]
async fn embedded_restarted_instance_answers_heads_at_once() {
    let (store, _dir) = embedded();
    restarted_instance_answers_heads_at_once(store).await;
}

#[tokio::test]
async fn embedded_takeover_from_another_instance_waits_for_the_deadline() {
    let (store, _dir) = embedded();
    takeover_from_another_instance_waits_for_the_deadline(store).await;
}
