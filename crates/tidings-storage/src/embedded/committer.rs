//! Group commit on a thread of its own: many writers, one fsync, and no
//! async thread ever waits for the disk.
//!
//! Every write is a job sent to one committer thread. The thread takes the
//! first job, then every job queued behind it, runs them in order (each
//! commits its fjall batch to the journal without syncing), syncs once, and
//! answers each job with the sync's result. Writers that arrive during a sync
//! wait in the queue and are served by the next round, so N concurrent writers
//! cost about two fsyncs, not N.
//!
//! Why a thread rather than committing on the caller's thread and syncing on
//! the blocking pool: fjall holds its journal lock for the whole of
//! `persist`, so a batch committed while a sync runs blocks its thread until
//! the disk answers. On a tokio worker that stalls every connection served by
//! it; on two cores, a slow `fdatasync` (tens of milliseconds at the tail
//! here) stalled the whole gateway. With one committer the journal lock is
//! never contended, and reads keep running on the blocking pool.
//!
//! The thread holds the database while jobs are queued. Dropping the
//! [`Committer`] closes the queue and joins the thread after its last round,
//! so once the store is dropped nothing here keeps the data directory open.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::StorageError;

/// Most jobs one round runs before it syncs: bounds the latency a long queue
/// adds to the first job of a round.
const MAX_JOBS_PER_ROUND: usize = 256;

/// What a job hands back once it ran: told the round's sync result.
type Settle = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
type Job<S> = Box<dyn FnOnce(&S) -> Settle + Send>;

/// Runs writes against `S` on one thread and syncs after each round.
pub(super) struct Committer<S> {
    jobs: Mutex<Option<mpsc::Sender<Job<S>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<S: Send + Sync + 'static> Committer<S> {
    /// Starts the thread; `sync` makes everything its jobs wrote durable.
    pub(super) fn start<F>(state: Arc<S>, sync: F) -> std::io::Result<Self>
    where
        F: Fn(&S) -> Result<(), StorageError> + Send + 'static,
    {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        let thread = std::thread::Builder::new()
            .name("tidings-commit".into())
            .spawn(move || run(&*state, &queue, &sync))?;
        Ok(Committer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` on the committer thread and returns its outcome once the
    /// round's sync finished, even when `work` wrote nothing or failed: its
    /// answer may rest on another job's write of the same round (e.g. a
    /// `max_seq` already higher) that must be on disk first.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&S) -> Result<T, StorageError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            let outcome = catch_unwind(AssertUnwindSafe(|| work(state)))
                .unwrap_or_else(|_| Err(StorageError::Backend("a storage write panicked".into())));
            Box::new(move |synced: Result<(), StorageError>| {
                // The caller may have gone (its request was cancelled); the
                // write stands either way.
                let _ = answer.send(synced.and(outcome));
            })
        });
        self.send(job)?;
        answered
            .await
            .map_err(|_| StorageError::Backend("the storage committer stopped".into()))?
    }
}

impl<S: Send + Sync + 'static> Committer<S> {
    fn send(&self, job: Job<S>) -> Result<(), StorageError> {
        let sent = match &*self.jobs.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(StorageError::Unavailable(
                "the embedded store is closed".into(),
            ))
        }
    }
}

impl<S> Drop for Committer<S> {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the jobs already in it.
        self.jobs
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}

/// The committer thread: rounds of jobs, one sync each, until the queue
/// closes.
fn run<S>(
    state: &S,
    queue: &mpsc::Receiver<Job<S>>,
    sync: &dyn Fn(&S) -> Result<(), StorageError>,
) {
    // Sticky: once a sync failed, fjall refuses every later write anyway, and
    // the first failure says why (a disk I/O failure is unavailable).
    let mut failed: Option<StorageError> = None;
    let mut round: Vec<Settle> = Vec::new();
    while let Ok(first) = queue.recv() {
        round.push(first(state));
        while round.len() < MAX_JOBS_PER_ROUND {
            match queue.try_recv() {
                Ok(job) => round.push(job(state)),
                Err(_) => break,
            }
        }
        let result = match &failed {
            Some(error) => Err(error.clone()),
            None => catch_unwind(AssertUnwindSafe(|| sync(state)))
                .unwrap_or_else(|_| Err(StorageError::Backend("the journal sync panicked".into()))),
        };
        if let Err(error) = &result
            && failed.is_none()
        {
            tracing::error!(error = %error, "journal sync failed");
            failed = Some(error.clone());
        }
        for settle in round.drain(..) {
            settle(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    /// Counts writes and syncs; a sync takes 30 ms.
    #[derive(Default)]
    struct Disk {
        written: AtomicU64,
        synced: AtomicU64,
        syncs: AtomicU64,
    }

    fn slow_disk() -> (Arc<Disk>, Committer<Disk>) {
        let disk = Arc::new(Disk::default());
        let committer = Committer::start(disk.clone(), |disk: &Disk| {
            std::thread::sleep(Duration::from_millis(30));
            disk.synced
                .store(disk.written.load(Ordering::SeqCst), Ordering::SeqCst);
            disk.syncs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        (disk, committer)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_syncs_and_return_after_theirs() {
        let (disk, committer) = slow_disk();
        let committer = Arc::new(committer);
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let committer = committer.clone();
            let disk = disk.clone();
            writers.spawn(async move {
                let mine = committer
                    .write(|disk: &Disk| Ok(disk.written.fetch_add(1, Ordering::SeqCst) + 1))
                    .await
                    .unwrap();
                // Durable on return: a sync covered this write.
                assert!(disk.synced.load(Ordering::SeqCst) >= mine);
            });
        }
        while let Some(result) = writers.join_next().await {
            result.unwrap();
        }
        let syncs = disk.syncs.load(Ordering::SeqCst);
        assert!((1..10).contains(&syncs), "40 writers took {syncs} syncs");
    }

    #[tokio::test]
    async fn a_failed_write_still_waits_for_the_sync_and_keeps_its_error() {
        let (disk, committer) = slow_disk();
        let outcome = committer
            .write(|_: &Disk| {
                Err::<(), _>(StorageError::Corrupt {
                    table: "t",
                    detail: "no".into(),
                })
            })
            .await;
        assert!(matches!(outcome, Err(StorageError::Corrupt { .. })));
        assert_eq!(disk.syncs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone() {
        let (_disk, committer) = slow_disk();
        let panicked = committer.write(|_: &Disk| -> Result<(), StorageError> { panic!("bug") });
        assert!(matches!(panicked.await, Err(StorageError::Backend(_))));
        committer.write(|_: &Disk| Ok(())).await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_later_write_with_its_class() {
        let committer = Committer::start(Arc::new(()), |_: &()| {
            Err(StorageError::Unavailable("disk on fire".into()))
        })
        .unwrap();
        for _ in 0..2 {
            match committer.write(|_: &()| Ok(())).await {
                Err(StorageError::Unavailable(detail)) => assert_eq!(detail, "disk on fire"),
                other => panic!("expected the sync's error, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn dropping_it_releases_the_state() {
        let (disk, committer) = slow_disk();
        committer.write(|_: &Disk| Ok(())).await.unwrap();
        drop(committer);
        assert_eq!(
            Arc::strong_count(&disk),
            1,
            "the thread let go of the state"
        );
    }
}
