//! Sync timelines (inboxes) and how `truncated` stays exact.
//!
//! `inbox` rows are keyed `user ++ 0x00 ++ seq`; the value is an expiry header
//! and a `tidings.common.v1.InboxEntry`. Reads skip expired rows; compaction
//! drops them later (`ttl`).
//!
//! To know whether an entry after a reader's checkpoint has expired without
//! scanning, each append records, per user, an *expiry window* row
//! `inbox_windows[user ++ 0x00 ++ window_start]` holding the highest seq
//! appended into that window (see [`window_start`]). Every entry of a window
//! expires at or after its start, so once `window_start <= now` the window may
//! hold expired entries. Such windows are folded into the user's permanent
//! *expired floor* (`inbox_floors[user ++ 0x00]`, the max of their seqs) and
//! deleted, on append and on read. A read reports
//! `truncated = after < max(floor, windows started by now)`: true as soon as
//! an entry above `after` may be gone (at most one window width early), never
//! false once one is.
//!
//! Removing entries (`delete_inbox`, for abandoned seqs) removes their rows
//! and nothing else. Pages and `has_more` are made of rows, so they are what
//! they would be had the entries never been written. Windows and the floor
//! keep the removed seqs: a window holds only the max of what was appended
//! into it, which cannot be lowered without knowing the rest of the window
//! (the CQL backend, whose windows are timestamp maxima, cannot lower it at
//! all without a transaction), and a seq kept there only errs on the side
//! [`InboxPage::truncated`] allows. The send path removes a stale seq to
//! write the same message again at a later seq, which lands in the same
//! window or a later one, so the answer is in practice the same.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use fjall::OwnedWriteBatch;
use prost::Message as _;
use tidings_core::{InboxEntry, Seq};
use tidings_proto::common::v1 as pb;

use super::codec::{
    corrupt, decode, decode_u64, encode_expiring, encode_u64, id_prefix, numbered_key,
    split_expiring,
};
use super::ttl::{expires_at, is_expired, now_ms, window_start};
use super::{EmbeddedStore, FjallTables, backend, lock_users, read_sized_page};
use crate::{InboxPage, InboxStore, PageLimit, StorageError};

const TABLE: &str = "inbox";
const WINDOWS: &str = "inbox_windows";
const FLOORS: &str = "inbox_floors";

#[async_trait]
impl InboxStore for EmbeddedStore {
    async fn append_inbox(
        &self,
        entries: &[(String, InboxEntry)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        // Keyed, so an entry repeated within one call is written once.
        let mut rows = BTreeMap::new();
        let mut max_seq_by_user: BTreeMap<String, Seq> = BTreeMap::new();
        for (user, entry) in entries {
            let key = numbered_key(user, entry.seq)?;
            rows.insert(key, pb::InboxEntry::from(entry.clone()).encode_to_vec());
            let max_seq = max_seq_by_user.entry(user.clone()).or_default();
            *max_seq = (*max_seq).max(entry.seq);
        }
        self.write(move |tables| {
            let _guards = lock_users(
                &tables.inbox_locks,
                max_seq_by_user.keys().map(String::as_str),
            );
            let now = now_ms();
            let expires_at_ms = expires_at(now, ttl);
            let window = window_start(expires_at_ms, ttl);
            let mut batch = tables.db.batch();
            for (user, max_seq) in &max_seq_by_user {
                if window <= now {
                    // Already started (a TTL shorter than one window width):
                    // straight into the floor.
                    tables.fold_expired_windows(&mut batch, user, now, *max_seq)?;
                } else {
                    tables.fold_expired_windows(&mut batch, user, now, 0)?;
                    tables.raise_window(&mut batch, user, window, *max_seq)?;
                }
            }
            for (key, entry) in rows {
                batch.insert(&tables.inbox, key, encode_expiring(expires_at_ms, &entry));
            }
            batch.commit().map_err(|e| backend("commit inbox", e))
        })
        .await
    }

    /// Removes every row in one fjall batch, behind one durable commit. Takes
    /// no user lock: windows and floors are not touched (see the module docs).
    async fn delete_inbox(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let keys = seqs
            .iter()
            .map(|(user, seq)| numbered_key(user, *seq))
            .collect::<Result<BTreeSet<_>, StorageError>>()?;
        self.write(move |tables| {
            let mut batch = tables.db.batch();
            for key in keys {
                batch.remove(&tables.inbox, key);
            }
            batch
                .commit()
                .map_err(|e| backend("commit inbox deletes", e))
        })
        .await
    }

    async fn read_inbox(
        &self,
        user: &str,
        after: Seq,
        up_to: Seq,
        limit: PageLimit,
    ) -> Result<InboxPage, StorageError> {
        let user = user.to_string();
        self.blocking(move |tables| {
            let now = now_ms();
            let floor = tables.expired_floor(&user, now)?;
            if after >= up_to {
                return Ok(InboxPage {
                    entries: Vec::new(),
                    has_more: false,
                    truncated: after < floor,
                });
            }
            let rows = tables
                .inbox
                .range(numbered_key(&user, after + 1)?..=numbered_key(&user, up_to)?);
            let (entries, has_more) =
                read_sized_page(rows, limit, |_, value| decode_live(value, now))?;
            Ok(InboxPage {
                entries,
                has_more,
                truncated: after < floor,
            })
        })
        .await
    }
}

/// The entry in an inbox row, or `None` when it has expired by `now`.
fn decode_live(value: &[u8], now: u64) -> Result<Option<InboxEntry>, StorageError> {
    let (expires_at_ms, body) =
        split_expiring(value).ok_or_else(|| corrupt(TABLE, "missing expiry header"))?;
    if is_expired(expires_at_ms, now) {
        return Ok(None);
    }
    let entry: pb::InboxEntry = decode(TABLE, body)?;
    InboxEntry::try_from(entry)
        .map(Some)
        .map_err(|e| corrupt(TABLE, e.to_string()))
}

impl FjallTables {
    /// The highest seq of `user` that may have expired by `now`, folding
    /// started windows into the floor row when there are any.
    fn expired_floor(&self, user: &str, now: u64) -> Result<Seq, StorageError> {
        // Windows first, then the floor: a concurrent fold moves windows into
        // the floor in one atomic batch, so this order sees each window in at
        // least one of the two reads.
        let (started_max, started_count) = self.started_windows(user, now)?;
        let floor = self.floor(user)?.max(started_max);
        if started_count > 0 {
            let _guards = lock_users(&self.inbox_locks, std::iter::once(user));
            let mut batch = self.db.batch();
            self.fold_expired_windows(&mut batch, user, now, 0)?;
            // Not waited on: folding changes no answer, and if a crash loses
            // it the windows are still there.
            batch
                .commit()
                .map_err(|e| backend("commit inbox fold", e))?;
        }
        Ok(floor)
    }

    /// Moves every window of `user` started by `now`, and `also_expired`,
    /// into the floor row (in `batch`, which writes the floor at most once).
    /// Caller holds the user's lock.
    fn fold_expired_windows(
        &self,
        batch: &mut OwnedWriteBatch,
        user: &str,
        now: u64,
        also_expired: Seq,
    ) -> Result<(), StorageError> {
        let floor = self.floor(user)?;
        let mut folded = floor.max(also_expired);
        for row in self.inbox_windows.range(started_windows_range(user, now)?) {
            let (key, value) = row.into_inner().map_err(|e| backend("scan windows", e))?;
            folded = folded.max(decode_u64(WINDOWS, &value)?);
            batch.remove(&self.inbox_windows, key);
        }
        if folded > floor {
            batch.insert(
                &self.inbox_floors,
                id_prefix(user)?,
                encode_u64(folded).to_vec(),
            );
        }
        Ok(())
    }

    /// Records `seq` in the window starting at `window` (in `batch`).
    fn raise_window(
        &self,
        batch: &mut OwnedWriteBatch,
        user: &str,
        window: u64,
        seq: Seq,
    ) -> Result<(), StorageError> {
        let key = numbered_key(user, window)?;
        let recorded = match self
            .inbox_windows
            .get(&key)
            .map_err(|e| backend("read window", e))?
        {
            Some(value) => decode_u64(WINDOWS, &value)?,
            None => 0,
        };
        if seq > recorded {
            batch.insert(&self.inbox_windows, key, encode_u64(seq).to_vec());
        }
        Ok(())
    }

    /// Max seq and count of the windows of `user` started by `now`.
    fn started_windows(&self, user: &str, now: u64) -> Result<(Seq, usize), StorageError> {
        let mut max_seq = 0;
        let mut count = 0;
        for row in self.inbox_windows.range(started_windows_range(user, now)?) {
            let value = row.value().map_err(|e| backend("scan windows", e))?;
            max_seq = max_seq.max(decode_u64(WINDOWS, &value)?);
            count += 1;
        }
        Ok((max_seq, count))
    }

    fn floor(&self, user: &str) -> Result<Seq, StorageError> {
        match self
            .inbox_floors
            .get(id_prefix(user)?)
            .map_err(|e| backend("read floor", e))?
        {
            Some(value) => decode_u64(FLOORS, &value),
            None => Ok(0),
        }
    }
}

fn started_windows_range(
    user: &str,
    now: u64,
) -> Result<std::ops::RangeInclusive<Vec<u8>>, StorageError> {
    Ok(numbered_key(user, 0)?..=numbered_key(user, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::inbox_entry;

    /// Started windows are folded into the floor and deleted, so a user keeps
    /// only the windows that have not started yet.
    #[tokio::test]
    async fn started_windows_are_folded_into_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let user = "u1".to_string();
        let append = |seqs: std::ops::RangeInclusive<Seq>, ttl| {
            let entries: Vec<_> = seqs
                .map(|s| (user.clone(), inbox_entry(s, "g:c", s)))
                .collect();
            let store = store.clone();
            async move { store.append_inbox(&entries, ttl).await.unwrap() }
        };
        append(1..=3, Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        append(4..=4, Duration::from_secs(3600)).await;

        let tables = &store.tables;
        let windows: Vec<Seq> = tables
            .inbox_windows
            .prefix(id_prefix(&user).unwrap())
            .map(|row| decode_u64(WINDOWS, &row.value().unwrap()).unwrap())
            .collect();
        assert_eq!(windows, [4], "only the unstarted window is left");
        assert_eq!(tables.floor(&user).unwrap(), 3);
    }
}
