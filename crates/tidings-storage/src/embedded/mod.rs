//! The embedded backend: every table in one fjall database in a data
//! directory, for the all-in-one shape (DESIGN §2).
//!
//! One process owns a data directory at a time (fjall locks it). Writes run
//! on one committer thread (`committer`) that commits each to the journal
//! and syncs once per round, so a method returns only once its write is
//! durable while concurrent writers share fsyncs, and no async thread waits
//! for the disk. Reads block too, so they run on tokio's blocking pool. The
//! row layout is in `codec`, expiry in `ttl`, and one module per table
//! implements its trait.

mod checkpoints;
mod codec;
mod committer;
mod conversations;
mod dedupe;
mod groups;
mod inbox;
mod message_events;
mod messages;
mod push_tokens;
mod sections;
mod ttl;

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::{PageBuilder, PageItem, PageLimit, StorageError};
use committer::Committer;

/// Keyspace names; they are part of the on-disk format.
mod keyspace {
    pub const MESSAGES: &str = "messages";
    pub const MESSAGE_EVENTS: &str = "message_events";
    pub const INBOX: &str = "inbox";
    pub const INBOX_WINDOWS: &str = "inbox_windows";
    pub const INBOX_FLOORS: &str = "inbox_floors";
    pub const SECTIONS: &str = "seq_sections";
    pub const DEDUPE: &str = "dedupe";
    pub const CHECKPOINTS: &str = "device_checkpoints";
    pub const GROUPS: &str = "groups";
    pub const GROUP_MEMBERS: &str = "group_members";
    pub const USER_GROUPS: &str = "user_groups";
    pub const CONVERSATIONS: &str = "conversations";
    pub const PUSH_TOKENS: &str = "push_tokens";
    /// Keyspaces whose values start with an expiry header.
    pub const EXPIRING: &[&str] = &[INBOX, DEDUPE];
}

/// Inbox appends take one lock per user (by stripe) for the read-modify-write
/// of that user's expiry windows, and conversation-list writes one per user
/// for theirs; 64 stripes keep unrelated users apart.
const USER_LOCK_STRIPES: usize = 64;

/// All Tidings tables in one fjall database. Implements every storage trait;
/// wrap it with [`crate::Tables::from_backend`].
pub struct EmbeddedStore {
    tables: Arc<FjallTables>,
    commits: Committer<FjallTables>,
}

/// What the blocking closures need: keyspaces and the locks that serialise
/// read-modify-write sequences.
struct FjallTables {
    db: Database,
    messages: Keyspace,
    message_events: Keyspace,
    inbox: Keyspace,
    inbox_windows: Keyspace,
    inbox_floors: Keyspace,
    sections: Keyspace,
    dedupe: Keyspace,
    checkpoints: Keyspace,
    groups: Keyspace,
    group_members: Keyspace,
    user_groups: Keyspace,
    conversations: Keyspace,
    push_tokens: Keyspace,
    inbox_locks: Vec<Mutex<()>>,
    conversation_locks: Vec<Mutex<()>>,
    section_lock: Mutex<()>,
    checkpoint_lock: Mutex<()>,
    /// Serialises group creation, size-mode switches and membership changes
    /// (read-modify-write of `groups` rows and of members' `joined_at_ms`).
    group_lock: Mutex<()>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the data directory at `path`.
    ///
    /// Blocks while fjall recovers its journal: call it at start-up, before
    /// serving. Fails if another process holds the directory.
    pub fn open(path: &Path) -> Result<Arc<Self>, StorageError> {
        let db = Database::builder(path)
            // Durability comes from the committer's explicit syncs.
            .manual_journal_persist(true)
            .with_compaction_filter_factories(ttl::filter_assigner(keyspace::EXPIRING))
            .open()
            .map_err(|e| backend("open", e))?;
        let open = |name: &str| {
            db.keyspace(name, KeyspaceCreateOptions::default)
                .map_err(|e| backend("open keyspace", e))
        };
        let tables = FjallTables {
            messages: open(keyspace::MESSAGES)?,
            message_events: open(keyspace::MESSAGE_EVENTS)?,
            inbox: open(keyspace::INBOX)?,
            inbox_windows: open(keyspace::INBOX_WINDOWS)?,
            inbox_floors: open(keyspace::INBOX_FLOORS)?,
            sections: open(keyspace::SECTIONS)?,
            dedupe: open(keyspace::DEDUPE)?,
            checkpoints: open(keyspace::CHECKPOINTS)?,
            groups: open(keyspace::GROUPS)?,
            group_members: open(keyspace::GROUP_MEMBERS)?,
            user_groups: open(keyspace::USER_GROUPS)?,
            conversations: open(keyspace::CONVERSATIONS)?,
            push_tokens: open(keyspace::PUSH_TOKENS)?,
            inbox_locks: lock_stripes(),
            conversation_locks: lock_stripes(),
            section_lock: Mutex::new(()),
            checkpoint_lock: Mutex::new(()),
            group_lock: Mutex::new(()),
            db,
        };
        let tables = Arc::new(tables);
        let commits = Committer::start(tables.clone(), |tables: &FjallTables| {
            tables
                .db
                .persist(PersistMode::SyncData)
                .map_err(|e| backend("sync", e))
        })
        .map_err(|e| StorageError::Unavailable(format!("start the committer thread: {e}")))?;
        tracing::info!(path = %path.display(), "embedded store opened");
        Ok(Arc::new(EmbeddedStore { tables, commits }))
    }

    /// Runs fjall calls on the blocking pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&FjallTables) -> Result<T, StorageError> + Send + 'static,
    {
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || work(&tables))
            .await
            .map_err(|e| {
                let detail = format!("storage task failed: {e}");
                // Cancelled: the runtime is shutting down, which a retry
                // elsewhere survives; a panic is a bug.
                if e.is_cancelled() {
                    StorageError::Unavailable(detail)
                } else {
                    StorageError::Backend(detail)
                }
            })?
    }

    /// Runs a write on the committer thread and returns once it is durable
    /// (see `committer`), even when `work` wrote nothing or failed: its
    /// answer may rest on another writer's batch that is committed but not
    /// yet synced (e.g. a `max_seq` already higher), and it must not be
    /// reported before that is on disk.
    async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&FjallTables) -> Result<T, StorageError> + Send + 'static,
    {
        self.commits.write(work).await
    }

    /// Runs a write without waiting for it to be durable: it is in the
    /// journal (and readable) on return, so it is durable no later than any
    /// write made after that. It runs on the blocking pool, where waiting for
    /// the journal lock during a sync holds no async thread.
    async fn write_ordered<F>(&self, work: F) -> Result<(), StorageError>
    where
        F: FnOnce(&FjallTables) -> Result<(), StorageError> + Send + 'static,
    {
        self.blocking(work).await
    }
}

/// Wraps a fjall error. A failed read or write of the disk is
/// [`StorageError::Unavailable`]: the data directory may answer again (a full
/// disk freed, a flaky volume back), and a caller that retries then finds what
/// the first attempt did. Everything else (corrupt blocks, a poisoned
/// database after a failed flush, a deleted keyspace) is not cured by
/// retrying and stays [`StorageError::Backend`].
fn backend(action: &str, error: fjall::Error) -> StorageError {
    let detail = format!("fjall {action}: {error}");
    match error {
        fjall::Error::Io(_) | fjall::Error::Storage(fjall::LsmError::Io(_)) => {
            StorageError::Unavailable(detail)
        }
        _ => StorageError::Backend(detail),
    }
}

/// Takes a lock that guards no data of its own (the state is in fjall), so a
/// panic while holding it leaves nothing to repair.
fn lock(mutex: &Mutex<()>) -> MutexGuard<'_, ()> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock_stripes() -> Vec<Mutex<()>> {
    (0..USER_LOCK_STRIPES).map(|_| Mutex::new(())).collect()
}

/// Locks the stripes of `users` in ascending order, so that concurrent
/// writers for overlapping users cannot deadlock.
fn lock_users<'s, 'u>(
    stripes: &'s [Mutex<()>],
    users: impl Iterator<Item = &'u str>,
) -> Vec<MutexGuard<'s, ()>> {
    let taken: BTreeSet<usize> = users
        .map(|user| {
            let mut hasher = DefaultHasher::new();
            user.hash(&mut hasher);
            (hasher.finish() % stripes.len() as u64) as usize
        })
        .collect();
    taken
        .into_iter()
        .map(|stripe| lock(&stripes[stripe]))
        .collect()
}

/// Reads at most `limit` items from `rows`, skipping rows `decode` maps to
/// `None`, and reports whether another item followed.
fn read_page<T>(
    rows: impl Iterator<Item = fjall::Guard>,
    limit: usize,
    mut decode: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, StorageError>,
) -> Result<(Vec<T>, bool), StorageError> {
    let mut items = Vec::new();
    for row in rows {
        let (key, value) = row.into_inner().map_err(|e| backend("scan", e))?;
        let Some(item) = decode(&key, &value)? else {
            continue;
        };
        if items.len() == limit {
            return Ok((items, true));
        }
        items.push(item);
    }
    Ok((items, false))
}

/// Reads items from `rows` into a page within `limit` (count and bytes),
/// skipping rows `decode` maps to `None`, and reports whether another item
/// followed.
fn read_sized_page<T: PageItem>(
    rows: impl Iterator<Item = fjall::Guard>,
    limit: PageLimit,
    mut decode: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, StorageError>,
) -> Result<(Vec<T>, bool), StorageError> {
    let mut page = PageBuilder::new(limit);
    for row in rows {
        let (key, value) = row.into_inner().map_err(|e| backend("scan", e))?;
        let Some(item) = decode(&key, &value)? else {
            continue;
        };
        if !page.offer(item) {
            return Ok((page.into_items(), true));
        }
    }
    Ok((page.into_items(), false))
}

#[cfg(test)]
mod tests {
    use super::codec::encode_expiring;
    use super::ttl::{PURGE_GRACE_MS, now_ms};
    use super::*;

    /// Reads filter expired rows on their own; this checks that compaction
    /// also reclaims them, and only once the grace period has passed.
    #[test]
    fn compaction_drops_rows_expired_past_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = runtime.block_on(async { EmbeddedStore::open(dir.path()).unwrap() });
        let dedupe = &store.tables.dedupe;
        let now = now_ms();
        let rows = [
            (&b"long-gone"[..], now - PURGE_GRACE_MS - 1000),
            (&b"just-expired"[..], now - 1000),
            (&b"alive"[..], now + 60_000),
        ];
        for (key, expires_at_ms) in rows {
            dedupe
                .insert(key, encode_expiring(expires_at_ms, b"row"))
                .unwrap();
        }
        dedupe.rotate_memtable_and_wait().unwrap();
        dedupe.major_compact().unwrap();
        assert_eq!(dedupe.get(b"long-gone").unwrap(), None);
        assert!(dedupe.get(b"just-expired").unwrap().is_some());
        assert!(dedupe.get(b"alive").unwrap().is_some());
    }

    #[test]
    fn disk_io_failures_are_unavailable_and_the_rest_internal() {
        let io = || std::io::Error::other("no space left on device");
        let unavailable = [
            fjall::Error::Io(io()),
            fjall::Error::Storage(fjall::LsmError::Io(io())),
        ];
        for error in unavailable {
            assert!(
                matches!(backend("write", error), StorageError::Unavailable(_)),
                "an I/O failure is worth a retry"
            );
        }
        let internal = [
            fjall::Error::Poisoned,
            fjall::Error::Storage(fjall::LsmError::InvalidTrailer),
            fjall::Error::KeyspaceDeleted,
        ];
        for error in internal {
            assert!(matches!(backend("read", error), StorageError::Backend(_)));
        }
    }
}
