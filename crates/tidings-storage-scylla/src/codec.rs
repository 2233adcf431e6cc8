//! How domain values map onto CQL columns: seqs, buckets, TTLs and the
//! inbox's expiry windows.
//!
//! Seqs are `u64`; CQL has only signed `bigint`. A seq is stored with the same
//! 64 bits (`seq as i64`), so seqs below 2^63 read naturally in cqlsh. Order
//! is only ever compared *within* a bucket (`bucket = seq >> bits`, bits >= 1),
//! and all seqs of a bucket share their top bit, so signed order equals
//! unsigned order there; buckets themselves are below 2^63 and compare
//! correctly as `bigint`.

use std::time::Duration;

use prost::Message as _;
use tidings_core::{Message, Seq};
use tidings_proto::common::v1 as pb;

use crate::StorageError;

/// Longest TTL Cassandra and ScyllaDB accept (20 years).
const MAX_TTL_SECS: u64 = 20 * 365 * 24 * 3600;

const DAY_MS: u64 = 24 * 3600 * 1000;

/// A seq as stored in a `bigint` column.
pub(crate) fn seq_to_cql(seq: Seq) -> i64 {
    seq as i64
}

/// A `bigint` column back to the seq it stores.
pub(crate) fn seq_from_cql(value: i64) -> Seq {
    value as u64
}

/// A seq that must also compare correctly as a `bigint` on its own (section
/// `max_seq` conditions, write timestamps): at most `i64::MAX`.
pub(crate) fn signed_seq(what: &str, seq: Seq) -> Result<i64, StorageError> {
    i64::try_from(seq).map_err(|_| {
        StorageError::Backend(format!(
            "{what} {seq} is beyond 2^63 - 1, the largest this backend stores"
        ))
    })
}

/// A message stored as a protobuf `tidings.common.v1.Message` `blob` (inbox
/// entries, conversation previews), naming `table` when it is unreadable.
pub(crate) fn decode_message(table: &'static str, bytes: &[u8]) -> Result<Message, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt { table, detail };
    let row = pb::Message::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    Message::try_from(row).map_err(|e| corrupt(e.message))
}

/// Splits a timeline into partitions of `2^bits` consecutive seqs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buckets {
    bits: u8,
}

impl Buckets {
    /// `bits` is validated by the config to lie in 4..=32.
    pub(crate) fn new(bits: u8) -> Self {
        Buckets { bits }
    }

    /// The bucket holding `seq`.
    pub(crate) fn of(self, seq: Seq) -> i64 {
        (seq >> self.bits) as i64
    }

    /// The part of `first..=last` that lies in `bucket`, as `bigint` bounds.
    pub(crate) fn clamp(self, bucket: i64, first: Seq, last: Seq) -> (i64, i64) {
        let bucket_first = (bucket as u64) << self.bits;
        let bucket_last = bucket_first | ((1u64 << self.bits) - 1);
        (
            seq_to_cql(first.max(bucket_first)),
            seq_to_cql(last.min(bucket_last)),
        )
    }
}

/// A TTL as CQL takes it: whole seconds, rounded up so an entry never expires
/// before `ttl` has passed, at least 1 (0 would mean "never").
pub(crate) fn ttl_seconds(ttl: Duration) -> i32 {
    let mut secs = ttl.as_secs();
    if ttl.subsec_nanos() > 0 {
        secs += 1;
    }
    // Bounded by MAX_TTL_SECS, far below i32::MAX.
    secs.clamp(1, MAX_TTL_SECS) as i32
}

/// Milliseconds since the Unix epoch, on this process's clock.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(tidings_core::now_ms()).unwrap_or(0)
}

/// The expiry window (see `inbox`) an inbox append at `now` with `ttl`
/// records its seqs in, or 0 (the floor) when that window has already
/// started.
///
/// The database expires a row at its own clock's `now` (whole seconds) plus
/// the TTL (whole seconds, rounded up), so the row may go up to one second
/// plus the clock skew before `now + ttl` on this clock. The window is taken
/// for that earliest instant: every entry of a window expires at or after its
/// start. Windows are `ttl / 16` wide (1 s to 1 h), as in the embedded store.
pub(crate) fn expiry_window(now: u64, ttl_secs: i32, clock_skew_ms: u64) -> u64 {
    let ttl_ms = u64::try_from(ttl_secs).unwrap_or(0) * 1000;
    let earliest_expiry = (now + ttl_ms).saturating_sub(1000 + clock_skew_ms);
    let width = (ttl_ms / 16).clamp(1000, 3_600_000);
    let start = earliest_expiry / width * width;
    if start <= now { 0 } else { start }
}

/// Key of an inbox bucket-index row: the day (since the epoch) in which the
/// entries it points at expire. Rows of different days never overwrite each
/// other, so a short TTL written later cannot cut short the index row of
/// long-lived entries.
pub(crate) fn expiry_day(now: u64, ttl_secs: i32) -> i64 {
    let expires_at = now + u64::try_from(ttl_secs).unwrap_or(0) * 1000;
    (expires_at / DAY_MS) as i64
}

/// TTL of an inbox bucket-index row keyed by [`expiry_day`]: it outlives every
/// entry of its day, whatever order the writes of that day arrive in.
pub(crate) fn bucket_index_ttl(ttl_secs: i32, clock_skew_ms: u64) -> i32 {
    let slack = DAY_MS / 1000 + 1 + clock_skew_ms.div_ceil(1000);
    (u64::try_from(ttl_secs).unwrap_or(0) + slack).min(MAX_TTL_SECS) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_round_trip_through_bigint() {
        for seq in [
            0,
            1,
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(seq_from_cql(seq_to_cql(seq)), seq);
        }
    }

    #[test]
    fn within_a_bucket_bigint_order_is_seq_order() {
        let buckets = Buckets::new(16);
        let high = u64::MAX - 5;
        let (lo, hi) = buckets.clamp(buckets.of(high), high - 3, u64::MAX);
        assert!(lo < hi, "bounds of the top bucket keep their order");
        assert_eq!(seq_from_cql(hi), u64::MAX);
        assert!(buckets.of(u64::MAX) > buckets.of(1));
    }

    #[test]
    fn clamp_cuts_a_range_to_one_bucket() {
        let buckets = Buckets::new(4);
        assert_eq!(buckets.of(15), 0);
        assert_eq!(buckets.of(16), 1);
        assert_eq!(buckets.clamp(0, 3, 40), (3, 15));
        assert_eq!(buckets.clamp(1, 3, 40), (16, 31));
        assert_eq!(buckets.clamp(2, 3, 40), (32, 40));
    }

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ttl_seconds(Duration::ZERO), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(
            ttl_seconds(Duration::from_secs(u64::MAX)),
            MAX_TTL_SECS as i32
        );
    }

    #[test]
    fn short_ttls_go_straight_to_the_floor() {
        assert_eq!(expiry_window(1_700_000_000_123, 1, 1000), 0);
        assert_eq!(expiry_window(1_700_000_000_123, 2, 1000), 0);
    }

    #[test]
    fn windows_start_before_the_earliest_expiry() {
        let now = 1_700_000_000_123;
        let week = 7 * 24 * 3600;
        let window = expiry_window(now, week, 1000);
        let earliest = now + u64::try_from(week).unwrap() * 1000 - 2000;
        assert!(window > now && window <= earliest && earliest - window < 3_600_000);
        assert_eq!(window % 3_600_000, 0);
    }

    #[test]
    fn bucket_index_rows_outlive_their_day() {
        let now = 1_700_000_000_123;
        let ttl = 3600;
        let day = expiry_day(now, ttl);
        let index_expiry = now / 1000 + u64::try_from(bucket_index_ttl(ttl, 1000)).unwrap();
        let day_end = (u64::try_from(day).unwrap() + 1) * DAY_MS / 1000;
        assert!(index_expiry > day_end);
    }
}
