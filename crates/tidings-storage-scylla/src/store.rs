//! [`ScyllaStore`]: the session, the prepared statements and the helpers the
//! table modules share.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use tidings_core::Seq;

use crate::StorageError;
use crate::codec::Buckets;
use crate::config::ScyllaConfig;
use crate::schema::{LATEST_VERSION, applied_versions, unrecorded_settings};
use crate::session::{backend, open_session};
use crate::statements::Statements;

/// Writes one call issues at once (e.g. a batch of inbox entries).
const WRITES_IN_FLIGHT: usize = 64;

/// Single-partition reads one call issues at once (e.g. a batch of dedupe
/// keys).
const READS_IN_FLIGHT: usize = 64;

/// How many `(conversation, bucket)` pairs a store remembers having indexed
/// before it forgets them all and starts over.
const INDEXED_BUCKETS_REMEMBERED: usize = 100_000;

/// Every Tidings table in one ScyllaDB (or Cassandra) keyspace. Implements
/// every storage trait; wrap it with [`tidings_storage::Tables::from_backend`].
pub struct ScyllaStore {
    pub(crate) session: Session,
    pub(crate) statements: Statements,
    pub(crate) message_buckets: Buckets,
    pub(crate) inbox_buckets: Buckets,
    pub(crate) clock_skew_ms: u64,
    /// `(conversation, bucket)` pairs whose `message_buckets` row this store
    /// has written: appends skip rewriting them.
    indexed_buckets: Mutex<HashSet<(String, i64)>>,
}

impl ScyllaStore {
    /// Connects to the cluster of `config`, checks that the keyspace was
    /// migrated to this build's schema with the same bucket widths, and
    /// prepares every statement.
    pub async fn connect(config: &ScyllaConfig) -> Result<Arc<Self>, StorageError> {
        let session = open_session(config).await?;
        check_schema(&session, config).await?;
        let statements = Statements::prepare(&session, config).await?;
        Ok(Arc::new(ScyllaStore {
            session,
            statements,
            message_buckets: Buckets::new(config.message_bucket_bits),
            inbox_buckets: Buckets::new(config.inbox_bucket_bits),
            clock_skew_ms: config.clock_skew_ms,
            indexed_buckets: Mutex::new(HashSet::new()),
        }))
    }

    /// The driver session, e.g. for cluster metadata or diagnostics.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Every prepared statement the store runs, by name, and whether it is
    /// meant to bind its table's whole partition key (all but the full scan
    /// of `seq_sections` that lists the routing table).
    pub fn prepared_statements(&self) -> Vec<(&'static str, bool, &PreparedStatement)> {
        self.statements
            .all()
            .into_iter()
            .map(|(name, kind, statement)| (name, kind != crate::statements::Kind::Scan, statement))
            .collect()
    }

    /// Runs an idempotent write.
    pub(crate) async fn write(
        &self,
        action: &'static str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<(), StorageError> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map(drop)
            .map_err(backend(action))
    }

    /// Runs writes with at most [`WRITES_IN_FLIGHT`] at a time; fails if any
    /// fails (the others still run to completion or failure).
    pub(crate) async fn write_all<F>(&self, writes: Vec<F>) -> Result<(), StorageError>
    where
        F: Future<Output = Result<(), StorageError>>,
    {
        let results: Vec<Result<(), StorageError>> = stream::iter(writes)
            .buffer_unordered(WRITES_IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Runs reads with at most [`READS_IN_FLIGHT`] at a time and returns
    /// their answers in the order of `reads`; fails with the first failure.
    pub(crate) async fn read_all<T, F>(&self, reads: Vec<F>) -> Result<Vec<T>, StorageError>
    where
        F: Future<Output = Result<T, StorageError>>,
    {
        stream::iter(reads)
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// The rows of a paged read, as a stream that fetches the next page only
    /// when the current one is used up.
    pub(crate) async fn rows<R>(
        &self,
        action: &'static str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<BoxStream<'static, Result<R, StorageError>>, StorageError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata> + Send + 'static,
    {
        let pager = self
            .session
            .execute_iter(statement.clone(), values)
            .await
            .map_err(backend(action))?;
        let rows = pager.rows_stream::<R>().map_err(backend(action))?;
        Ok(rows.map_err(backend(action)).boxed())
    }

    /// At most one row of a single-row read.
    pub(crate) async fn one_row<R>(
        &self,
        action: &'static str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Option<R>, StorageError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(backend(action))?
            .into_rows_result()
            .map_err(backend(action))?;
        result.maybe_first_row::<R>().map_err(backend(action))
    }

    /// The buckets of the timeline of `owner` (a conversation or a user) that
    /// may hold seqs in `first..=last`: the one bucket when the range lies in
    /// one, else those that `statement` (`... WHERE <owner> = ? AND bucket >= ?
    /// AND bucket <= ?`) lists from the timeline's bucket index, in its order.
    pub(crate) async fn bucket_list(
        &self,
        action: &'static str,
        buckets: Buckets,
        statement: &PreparedStatement,
        owner: &str,
        first: Seq,
        last: Seq,
    ) -> Result<BoxStream<'static, Result<i64, StorageError>>, StorageError> {
        let (low, high) = (buckets.of(first), buckets.of(last));
        if low == high {
            return Ok(stream::once(async move { Ok(low) }).boxed());
        }
        let rows = self
            .rows::<(i64,)>(action, statement, (owner, low, high))
            .await?;
        Ok(rows.map_ok(|(bucket,)| bucket).boxed())
    }

    /// Whether this store already wrote the index row of a message bucket.
    pub(crate) fn bucket_indexed(&self, conversation: &str, bucket: i64) -> bool {
        let indexed = self
            .indexed_buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        indexed.contains(&(conversation.to_string(), bucket))
    }

    /// Remembers that the index row of a message bucket is written.
    pub(crate) fn remember_indexed(&self, conversation: &str, bucket: i64) {
        let mut indexed = self
            .indexed_buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if indexed.len() >= INDEXED_BUCKETS_REMEMBERED {
            indexed.clear();
        }
        indexed.insert((conversation.to_string(), bucket));
    }
}

/// The write timestamp (µs since the Unix epoch) of the next write that must
/// replace an earlier one of the same row whichever coordinator takes it (a
/// dedupe reservation and its commit, a push token and its removal): the
/// wall clock, but always above the one before in this process, so that of
/// two writes the later one wins even within one microsecond.
pub(crate) fn next_write_timestamp() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = tidings_core::now_ms().saturating_mul(1000);
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or_else(|last| last);
    now.max(previous + 1)
}

/// Refuses a keyspace that `migrate` has not brought to this build's schema,
/// or that was laid out with other bucket widths.
async fn check_schema(session: &Session, config: &ScyllaConfig) -> Result<(), StorageError> {
    let keyspace = &config.keyspace;
    let versions = applied_versions(session, keyspace)
        .await
        .map_err(|e| match e {
            // The cluster did not answer: says nothing about the schema.
            StorageError::Unavailable(_) => e,
            _ => StorageError::Backend(format!(
                "keyspace {keyspace} has no schema ({e}): run migrate first"
            )),
        })?;
    if !versions.contains(&LATEST_VERSION) {
        let found = versions.last().copied().unwrap_or(0);
        return Err(StorageError::Backend(format!(
            "keyspace {keyspace} is at schema version {found}, this build needs \
             {LATEST_VERSION}: run migrate first"
        )));
    }
    // Refuses recorded settings that differ; `migrate` records missing ones.
    unrecorded_settings(session, config).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_timestamps_strictly_increase() {
        let stamps: Vec<i64> = (0..1000).map(|_| next_write_timestamp()).collect();
        assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
        let now = tidings_core::now_ms() * 1000;
        assert!(stamps[0] <= now + 1000 && stamps[0] > now - 60_000_000);
    }
}
