//! Sync timelines (inboxes) and how `truncated` stays exact without
//! read-modify-write and without lightweight transactions.
//!
//! `inbox` rows live in partitions `(user_id, bucket)` and are written
//! `USING TTL`; the database drops them when they expire. `inbox_buckets`
//! lists which buckets of a user may hold live entries (one row per bucket and
//! day of expiry, written with a TTL that outlives the entries of that day).
//!
//! `truncated` mirrors the embedded store's expiry windows and floor, in one
//! partition per user, `inbox_expiry ((user_id), window_start_ms) seq`:
//! * an append first records the highest seq it writes for each user in the
//!   row of its *expiry window* (see [`crate::codec::expiry_window`]), which
//!   starts before any of those entries can expire; when that window has
//!   already started, in row 0, the *floor*;
//! * `seq` is always written `USING TIMESTAMP <seq>`, so each row holds the
//!   highest seq ever written to it, whatever the order of the writes: no
//!   read, no lock, no LWT;
//! * a read takes the max of the floor and every window started by now;
//!   started windows are then *folded*: one single-partition batch raises the
//!   floor to that max and deletes each folded window `USING TIMESTAMP <its
//!   seq>`, which removes exactly the value read (a higher seq written since
//!   has a higher timestamp and survives). A batch on one partition is applied
//!   atomically by every replica, so a reader never sees a window gone without
//!   the floor that replaced it. Appends fold too, now and then, so a user who
//!   never reads keeps few rows.
//!
//! A read takes `now` only after it has read the entries, so every entry that
//! expired before that read has a window started by `now`:
//! `truncated = after < max(floor, windows started by now)`, true as soon as
//! an entry above `after` may be gone, never false once one is.
//!
//! Removing entries (`delete_inbox`, for abandoned seqs) deletes their rows
//! only. Pages and `has_more` are made of rows, so they are what they would
//! be had the entries never been written; an `inbox_buckets` row only says
//! that a bucket *may* hold entries, so one left pointing at an emptied
//! bucket costs a read that finds nothing. The expiry records keep the
//! removed seqs: a record is the highest seq written to it, by timestamp, and
//! lowering it would need a lower timestamp than one already written (which
//! the database ignores) or a transaction. A seq kept there only errs on the
//! side `truncated` allows, and the send path removes a stale seq to write
//! the same message again at a later seq, in the same window or a later one,
//! so the answer is in practice the same.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use futures_util::future::{BoxFuture, FutureExt};
use prost::Message as _;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::CqlValue;
use tidings_core::{ConversationId, InboxEntry, Seq};
use tidings_proto::common::v1 as pb;
use tidings_storage::{InboxPage, InboxStore, PageBuilder, PageLimit, StorageError};

use crate::codec::{
    bucket_index_ttl, decode_message, expiry_day, expiry_window, now_ms, seq_from_cql, seq_to_cql,
    signed_seq, ttl_seconds,
};
use crate::session::backend;
use crate::store::ScyllaStore;

const TABLE: &str = "inbox";

/// An append folds a user's started windows when its seqs cross a multiple
/// of this: reads fold on their own, this bounds the windows of users who
/// never read.
const FOLD_EVERY: Seq = 64;

/// Columns read back from `inbox`.
type InboxRow = (i64, String, i64, Vec<u8>);

#[async_trait]
impl InboxStore for ScyllaStore {
    async fn append_inbox(
        &self,
        entries: &[(String, InboxEntry)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let ttl_secs = ttl_seconds(ttl);
        let now = now_ms();
        let window = signed_seq(
            "expiry window",
            expiry_window(now, ttl_secs, self.clock_skew_ms),
        )?;
        let day = expiry_day(now, ttl_secs);
        let index_ttl = bucket_index_ttl(ttl_secs, self.clock_skew_ms);

        // Keyed, so an entry repeated within one call is written once.
        let rows: BTreeMap<(&str, Seq), &InboxEntry> = entries
            .iter()
            .map(|(user, entry)| ((user.as_str(), entry.seq), entry))
            .collect();
        let mut seqs_by_user: BTreeMap<&str, (Seq, Seq)> = BTreeMap::new();
        for &(user, seq) in rows.keys() {
            signed_seq("inbox seq", seq)?;
            let (min, max) = seqs_by_user.entry(user).or_insert((seq, seq));
            *min = (*min).min(seq);
            *max = (*max).max(seq);
        }

        // Expiry records first: an entry must never exist, even after a
        // failed call, without the record that reports its expiry.
        let records = seqs_by_user
            .iter()
            .map(|(&user, &(_, max))| {
                let max = seq_to_cql(max);
                let values = (max, max, user, window);
                let statement = &self.statements.raise_inbox_expiry;
                self.write("record inbox expiry", statement, values)
            })
            .collect();
        self.write_all(records).await?;

        let buckets: BTreeSet<(&str, i64)> = rows
            .keys()
            .map(|&(user, seq)| (user, self.inbox_buckets.of(seq)))
            .collect();
        let mut writes: Vec<BoxFuture<'_, Result<(), StorageError>>> = Vec::new();
        for &(user, bucket) in &buckets {
            let values = (user, bucket, day, index_ttl);
            let statement = &self.statements.insert_inbox_bucket;
            writes.push(self.write("index inbox bucket", statement, values).boxed());
        }
        for (&(user, seq), entry) in &rows {
            let message = pb::Message::from(entry.message.clone()).encode_to_vec();
            let values = (
                user,
                self.inbox_buckets.of(seq),
                seq_to_cql(seq),
                entry.conversation_id.to_string(),
                seq_to_cql(entry.conv_seq),
                message,
                ttl_secs,
            );
            let statement = &self.statements.insert_inbox;
            writes.push(self.write("insert inbox entry", statement, values).boxed());
        }
        self.write_all(writes).await?;

        for (user, (min, max)) in seqs_by_user {
            if min.saturating_sub(1) / FOLD_EVERY != max / FOLD_EVERY {
                // Folding changes no answer; a failure leaves it to a read.
                if let Err(error) = self.expired_floor(user).await {
                    tracing::warn!(user_id = user, %error, "inbox expiry fold failed");
                }
            }
        }
        Ok(())
    }

    /// One `DELETE` per row, bounded like appends; deleting an absent row
    /// writes a tombstone that hides nothing. Expiry records are left as
    /// they are (see the module docs).
    async fn delete_inbox(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError> {
        let rows: BTreeSet<(&str, Seq)> = seqs
            .iter()
            .map(|(user, seq)| (user.as_str(), *seq))
            .collect();
        let statement = &self.statements.delete_inbox_entry;
        let deletes = rows
            .into_iter()
            .map(|(user, seq)| {
                let values = (user, self.inbox_buckets.of(seq), seq_to_cql(seq));
                self.write("delete inbox entry", statement, values)
            })
            .collect();
        self.write_all(deletes).await
    }

    async fn read_inbox(
        &self,
        user: &str,
        after: Seq,
        up_to: Seq,
        limit: PageLimit,
    ) -> Result<InboxPage, StorageError> {
        let (entries, has_more) = if after < up_to {
            self.read_entries(user, after + 1, up_to, limit).await?
        } else {
            (Vec::new(), false)
        };
        // After the entries: see the module docs.
        let floor = self.expired_floor(user).await?;
        Ok(InboxPage {
            entries,
            has_more,
            truncated: after < floor,
        })
    }
}

impl ScyllaStore {
    /// Live entries with `first <= seq <= last`, oldest first, within
    /// `limit`, and whether more follow: like `read_range` of messages.
    async fn read_entries(
        &self,
        user: &str,
        first: Seq,
        last: Seq,
        limit: PageLimit,
    ) -> Result<(Vec<InboxEntry>, bool), StorageError> {
        let mut page = PageBuilder::new(limit);
        // In order, from `inbox_buckets` unless the range lies in one.
        let index = &self.statements.select_inbox_buckets;
        let mut buckets = self
            .bucket_list(
                "read inbox buckets",
                self.inbox_buckets,
                index,
                user,
                first,
                last,
            )
            .await?;
        let mut previous = None;
        while let Some(bucket) = buckets.try_next().await? {
            // The index has a row per bucket and expiry day.
            if previous.replace(bucket) == Some(bucket) {
                continue;
            }
            let (low, high) = self.inbox_buckets.clamp(bucket, first, last);
            let missing = i32::try_from(page.room() + 1).unwrap_or(i32::MAX);
            let values = (user, bucket, low, high, missing);
            let statement = &self.statements.select_inbox;
            let mut rows = self
                .rows::<InboxRow>("read inbox", statement, values)
                .await?;
            while let Some(row) = rows.try_next().await? {
                if !page.offer(entry_from_row(row)?) {
                    return Ok((page.into_items(), true));
                }
            }
        }
        Ok((page.into_items(), false))
    }

    /// The highest seq of `user` that may have expired by now: the max of the
    /// floor and of the windows started by now, which it then folds.
    pub(crate) async fn expired_floor(&self, user: &str) -> Result<Seq, StorageError> {
        let now = signed_seq("clock", now_ms())?;
        let statement = &self.statements.select_inbox_expiry;
        let rows: Vec<(i64, i64)> = self
            .rows::<(i64, Option<i64>)>("read inbox expiry", statement, (user, now))
            .await?
            .try_filter_map(|(window, seq)| async move { Ok(seq.map(|seq| (window, seq))) })
            .try_collect()
            .await?;
        let floor = rows
            .iter()
            .map(|&(_, seq)| seq_from_cql(seq))
            .max()
            .unwrap_or(0);
        let started: Vec<(i64, i64)> = rows.into_iter().filter(|&(window, _)| window > 0).collect();
        if !started.is_empty()
            && let Err(error) = self.fold(user, floor, &started).await
        {
            // The answer above stands; the windows stay until a later fold.
            tracing::warn!(user_id = user, %error, "inbox expiry fold failed");
        }
        Ok(floor)
    }

    /// Raises the floor of `user` to `floor` and deletes the folded windows,
    /// atomically (one partition, one batch).
    async fn fold(
        &self,
        user: &str,
        floor: Seq,
        windows: &[(i64, i64)],
    ) -> Result<(), StorageError> {
        let mut batch = Batch::new(BatchType::Unlogged);
        // Explicit timestamps make it safe to apply twice.
        batch.set_is_idempotent(true);
        let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(windows.len() + 1);
        let floor = seq_to_cql(floor);
        batch.append_statement(self.statements.raise_inbox_expiry.clone());
        values.push(vec![
            CqlValue::BigInt(floor),
            CqlValue::BigInt(floor),
            CqlValue::Text(user.to_string()),
            CqlValue::BigInt(0),
        ]);
        for &(window, seq) in windows {
            batch.append_statement(self.statements.delete_inbox_expiry.clone());
            values.push(vec![
                CqlValue::BigInt(seq),
                CqlValue::Text(user.to_string()),
                CqlValue::BigInt(window),
            ]);
        }
        self.session
            .batch(&batch, values)
            .await
            .map(drop)
            .map_err(backend("fold inbox expiry"))
    }
}

fn entry_from_row(row: InboxRow) -> Result<InboxEntry, StorageError> {
    let (seq, conversation_id, conv_seq, message) = row;
    Ok(InboxEntry {
        seq: seq_from_cql(seq),
        conversation_id: ConversationId::parse(&conversation_id).map_err(|e| {
            StorageError::Corrupt {
                table: TABLE,
                detail: e.message,
            }
        })?,
        conv_seq: seq_from_cql(conv_seq),
        message: decode_message(TABLE, &message)?,
    })
}
