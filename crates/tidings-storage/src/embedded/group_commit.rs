//! Group commit: many writers, one fsync.
//!
//! Writers commit their batch to fjall without syncing, then call
//! [`GroupCommit::wait_durable`]. That takes a ticket and waits until a sync
//! that *began after the ticket was taken* has finished, so the writer's batch
//! (already in the journal) is on disk. One syncer at a time runs on the
//! blocking pool; every writer that queued while it was syncing is served by
//! its next round, so N concurrent writers cost about two fsyncs, not N.
//!
//! The syncer only exists while someone waits, and it drops its handle on the
//! database before releasing the last waiters, so once every call has returned
//! nothing here keeps the data directory open.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::StorageError;

/// Makes everything committed so far durable (fjall: `persist(SyncData)`).
pub(super) type SyncFn = Arc<dyn Fn() -> Result<(), StorageError> + Send + Sync>;

/// Shared between waiters and the syncer.
pub(super) struct GroupCommit {
    sync: SyncFn,
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Highest ticket whose sync has finished, and the first sync failure.
    progress: watch::Sender<Progress>,
}

#[derive(Default)]
struct Queue {
    /// Last ticket handed out.
    issued: u64,
    /// A syncer is running and will look at `issued` again before it stops.
    syncing: bool,
    /// Syncs performed so far (observability and tests).
    syncs: u64,
}

#[derive(Clone, Default)]
struct Progress {
    settled: u64,
    /// Sticky: once a sync failed, fjall refuses every later write anyway.
    /// Kept as classified by the sync (a disk I/O failure is unavailable).
    error: Option<StorageError>,
}

impl GroupCommit {
    pub(super) fn new(sync: SyncFn) -> Self {
        GroupCommit {
            sync,
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                progress: watch::Sender::new(Progress::default()),
            }),
        }
    }

    /// Returns once everything committed before this call is durable.
    pub(super) async fn wait_durable(&self) -> Result<(), StorageError> {
        if !self.shared.lock().syncing {
            // No sync is running, so this one would start it. Let the rest of
            // the caller's task run first: writes made in the same poll (the
            // branches of a `join!`, e.g. a message and its inbox entries)
            // then take their tickets before the syncer reads the last one,
            // and one fsync covers them all. Costs a re-poll, no thread.
            tokio::task::yield_now().await;
        }
        let mut progress = self.shared.progress.subscribe();
        let ticket = {
            let mut queue = self.shared.lock();
            queue.issued += 1;
            if !queue.syncing {
                queue.syncing = true;
                let sync = self.sync.clone();
                let shared = self.shared.clone();
                tokio::task::spawn_blocking(move || run_syncer(sync, shared));
            }
            queue.issued
        };
        let progress = progress
            .wait_for(|p| p.settled >= ticket)
            .await
            .map_err(|_| StorageError::Backend("group commit syncer vanished".into()))?;
        match &progress.error {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Number of syncs performed so far.
    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.shared.lock().syncs
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue holds plain counters that are never left half-updated.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, settled: u64, result: Result<(), StorageError>) {
        self.progress.send_modify(|progress| {
            progress.settled = progress.settled.max(settled);
            if let Err(error) = result {
                progress.error.get_or_insert(error);
            }
        });
    }
}

/// Syncs until no waiter is left; runs on the blocking pool.
fn run_syncer(sync: SyncFn, shared: Arc<Shared>) {
    loop {
        // Every ticket up to here was taken after its batch was committed, and
        // the sync below begins after this read: it covers all of them.
        let target = shared.lock().issued;
        let result = sync();
        if let Err(error) = &result {
            tracing::error!(error = %error, "journal sync failed");
        }
        let done = {
            let mut queue = shared.lock();
            queue.syncs += 1;
            let done = queue.issued == target;
            if done {
                queue.syncing = false;
            }
            done
        };
        if done {
            // Release the database before the last waiters return, so a caller
            // may drop the store and reopen its directory right away.
            drop(sync);
            shared.publish(target, result);
            return;
        }
        shared.publish(target, result);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    fn slow_sync(count: Arc<AtomicU64>) -> SyncFn {
        Arc::new(move || {
            std::thread::sleep(Duration::from_millis(30));
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_syncs() {
        let count = Arc::new(AtomicU64::new(0));
        let commit = Arc::new(GroupCommit::new(slow_sync(count.clone())));
        let mut waiters = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let commit = commit.clone();
            waiters.spawn(async move { commit.wait_durable().await });
        }
        while let Some(result) = waiters.join_next().await {
            result.unwrap().unwrap();
        }
        let syncs = count.load(Ordering::SeqCst);
        assert!((1..10).contains(&syncs), "40 waiters took {syncs} syncs");
        assert_eq!(commit.syncs(), syncs);
    }

    #[tokio::test]
    async fn every_wait_gets_a_sync_that_began_after_it() {
        let count = Arc::new(AtomicU64::new(0));
        let commit = GroupCommit::new(slow_sync(count.clone()));
        for expected in 1..=3 {
            commit.wait_durable().await.unwrap();
            assert_eq!(count.load(Ordering::SeqCst), expected);
        }
    }

    #[tokio::test]
    async fn a_failed_sync_fails_its_waiters() {
        let commit = GroupCommit::new(Arc::new(|| {
            Err(StorageError::Unavailable("disk on fire".to_string()))
        }));
        for _ in 0..2 {
            // The first failure is sticky, and keeps its class.
            match commit.wait_durable().await {
                Err(StorageError::Unavailable(detail)) => assert_eq!(detail, "disk on fire"),
                other => panic!("expected the sync's error, got {other:?}"),
            }
        }
    }
}
