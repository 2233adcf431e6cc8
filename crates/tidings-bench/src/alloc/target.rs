//! What an allocation row calls: the in-memory baseline, the allocator in
//! this process, or the sequence service over gRPC; and the keys it cycles
//! through.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use tidings_proto::sequence::v1::sequence_service_client::SequenceServiceClient;
use tidings_proto::sequence::v1::{AllocateRequest, CommitRequest, CommitStatus, SeqRef};
use tidings_sequence::Allocator;
use tidings_sequence_client::CommitOutcome;
use tidings_testkit::ServiceChannel;
use tokio::sync::Mutex;

use super::AllocOp;

/// The thing under measurement. Cloned once per task; clones share state.
#[derive(Clone)]
pub(crate) enum Target {
    /// `HashMap<String, u64>` incremented under a tokio Mutex: what allocation
    /// costs without sections, persistence or pending seqs.
    Baseline(Arc<Mutex<HashMap<String, u64>>>),
    /// `tidings_sequence::Allocator` on the embedded store, in this process.
    InProcess(Arc<Allocator>),
    /// The sequence service of a running all-in-one, over gRPC.
    Grpc(SequenceServiceClient<ServiceChannel>),
}

impl Target {
    pub(crate) fn baseline() -> Self {
        Target::Baseline(Arc::default())
    }

    /// One call: allocates a seq for each key (one lock or one request for the
    /// whole batch), then commits them if `op` says so. Returns how many
    /// commits were refused (0 when nothing is committed).
    pub(crate) async fn call(&mut self, keys: &[String], op: AllocOp) -> anyhow::Result<u64> {
        match self {
            Target::Baseline(counters) => {
                let mut counters = counters.lock().await;
                let mut seqs = Vec::with_capacity(keys.len());
                for key in keys {
                    let seq = match counters.get_mut(key.as_str()) {
                        Some(cur) => {
                            *cur += 1;
                            *cur
                        }
                        None => {
                            counters.insert(key.clone(), 1);
                            1
                        }
                    };
                    seqs.push(seq);
                }
                black_box(seqs);
                Ok(0)
            }
            Target::InProcess(allocator) => {
                let seqs = allocator.allocate(keys).await?;
                if op == AllocOp::Allocate {
                    black_box(seqs);
                    return Ok(0);
                }
                let refs: Vec<(String, u64)> = keys.iter().cloned().zip(seqs).collect();
                let outcomes = allocator.commit(&refs).await?;
                Ok(outcomes
                    .iter()
                    .filter(|&&outcome| outcome != CommitOutcome::Committed)
                    .count() as u64)
            }
            Target::Grpc(client) => {
                let seqs = client
                    .allocate(AllocateRequest {
                        keys: keys.to_vec(),
                    })
                    .await?
                    .into_inner()
                    .seqs;
                anyhow::ensure!(
                    seqs.len() == keys.len(),
                    "sequence service answered {} seqs for {} keys",
                    seqs.len(),
                    keys.len()
                );
                if op == AllocOp::Allocate {
                    return Ok(0);
                }
                let seqs: Vec<SeqRef> = keys
                    .iter()
                    .zip(seqs)
                    .map(|(key, seq)| SeqRef {
                        key: key.clone(),
                        seq,
                    })
                    .collect();
                let count = seqs.len();
                let statuses = client
                    .commit(CommitRequest { seqs })
                    .await?
                    .into_inner()
                    .statuses;
                let accepted = statuses
                    .iter()
                    .filter(|&&status| status == CommitStatus::Committed as i32)
                    .count();
                Ok((count - accepted.min(count)) as u64)
            }
        }
    }
}

/// Keys laid out so that any `batch` consecutive keys from a position below
/// the number of distinct keys form one slice, wrapping around.
pub(crate) struct KeyRing {
    keys: Vec<String>,
    distinct: usize,
}

impl KeyRing {
    /// `count` distinct inbox keys.
    pub(crate) fn distinct(count: usize, max_batch: usize) -> Self {
        Self::new(
            (0..count).map(|i| format!("user:bench-{i}")).collect(),
            max_batch,
        )
    }

    /// One key that every call uses: its section's ceiling is raised (and
    /// persisted) every `step` allocations.
    pub(crate) fn hot(max_batch: usize) -> Self {
        Self::new(vec!["user:bench-hot".to_string()], max_batch)
    }

    fn new(mut keys: Vec<String>, max_batch: usize) -> Self {
        let distinct = keys.len();
        assert!(distinct > 0, "a key ring needs keys");
        for i in 0..max_batch.saturating_sub(1) {
            keys.push(keys[i % distinct].clone());
        }
        KeyRing { keys, distinct }
    }

    pub(crate) fn distinct_keys(&self) -> &[String] {
        &self.keys[..self.distinct]
    }

    pub(crate) fn len(&self) -> usize {
        self.distinct
    }

    /// `batch` keys starting at `position` (below [`KeyRing::len`]).
    pub(crate) fn slice(&self, position: usize, batch: usize) -> &[String] {
        &self.keys[position..position + batch]
    }

    /// The position after a slice of `batch` keys at `position`.
    pub(crate) fn advance(&self, position: usize, batch: usize) -> usize {
        (position + batch) % self.distinct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_slices_wrap_around() {
        let ring = KeyRing::distinct(5, 3);
        assert_eq!(ring.len(), 5);
        assert_eq!(
            ring.slice(4, 3),
            ["user:bench-4", "user:bench-0", "user:bench-1"]
        );
        assert_eq!(ring.advance(4, 3), 2);
        let hot = KeyRing::hot(2);
        assert_eq!(hot.slice(0, 2), ["user:bench-hot", "user:bench-hot"]);
        assert_eq!(hot.advance(0, 1), 0);
    }

    #[tokio::test]
    async fn baseline_counts_per_key() {
        let mut target = Target::baseline();
        let keys = vec!["a".to_string(), "b".to_string(), "a".to_string()];
        target.call(&keys, AllocOp::Allocate).await.unwrap();
        let Target::Baseline(counters) = &target else {
            unreachable!()
        };
        let counters = counters.lock().await;
        assert_eq!(counters["a"], 2);
        assert_eq!(counters["b"], 1);
    }
}
