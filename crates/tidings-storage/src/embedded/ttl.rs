//! Time to live: expiry instants, the inbox's expiry windows, and the
//! compaction filter that physically drops expired rows.
//!
//! Reads decide expiry on their own (`expires_at_ms <= now` is gone), so the
//! filter is only about reclaiming space. It keeps rows for [`PURGE_GRACE_MS`]
//! past their expiry: a read takes `now` once and then scans, and a row must
//! not vanish under that scan before the read's own `now` says it expired,
//! or the read could miss it without flagging its inbox page `truncated`.

use std::sync::Arc;
use std::time::Duration;

use fjall::compaction::filter::{
    CompactionFilter, CompactionFilterResult, Context, Factory, ItemAccessor, Verdict,
};

use super::codec::split_expiring;

/// How long an expired row is kept before compaction may drop it.
pub(super) const PURGE_GRACE_MS: u64 = 5 * 60 * 1000;

/// Milliseconds since the Unix epoch, as stored in expiry headers.
pub(super) fn now_ms() -> u64 {
    u64::try_from(tidings_core::now_ms()).unwrap_or(0)
}

/// The instant a row written at `now` with `ttl` expires.
pub(super) fn expires_at(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a row with this expiry is gone at `now`.
pub(super) fn is_expired(expires_at_ms: u64, now: u64) -> bool {
    expires_at_ms <= now
}

/// Start of the expiry window an inbox entry with `expires_at_ms` belongs to.
///
/// Windows are `ttl / 16` wide (between 1 s and 1 h): a user has at most
/// about 17 (short TTLs) to 169 (the 7-day default) open windows, and an
/// expired entry is reported at most one window width early. Every entry of a
/// window expires at or after its start, so a window that has not started
/// holds no expired entry.
pub(super) fn window_start(expires_at_ms: u64, ttl: Duration) -> u64 {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let width = (ttl_ms / 16).clamp(1000, 3_600_000);
    expires_at_ms / width * width
}

/// What fjall asks for: a compaction filter factory per keyspace name.
pub(super) type FilterAssigner = Arc<dyn Fn(&str) -> Option<Arc<dyn Factory>> + Send + Sync>;

/// Assigns the TTL filter to the keyspaces whose values carry an expiry header.
pub(super) fn filter_assigner(expiring_keyspaces: &'static [&'static str]) -> FilterAssigner {
    Arc::new(move |keyspace: &str| {
        expiring_keyspaces
            .contains(&keyspace)
            .then(|| Arc::new(ExpiredRowsFactory) as Arc<dyn Factory>)
    })
}

struct ExpiredRowsFactory;

impl Factory for ExpiredRowsFactory {
    fn name(&self) -> &str {
        "tidings-expired-rows"
    }

    fn make_filter(&self, _ctx: &Context) -> Box<dyn CompactionFilter> {
        Box::new(ExpiredRows {
            purge_before: now_ms().saturating_sub(PURGE_GRACE_MS),
        })
    }
}

/// Drops rows that expired more than the grace period before this compaction.
struct ExpiredRows {
    purge_before: u64,
}

impl CompactionFilter for ExpiredRows {
    fn filter_item(&mut self, item: ItemAccessor<'_>, _ctx: &Context) -> CompactionFilterResult {
        let value = item.value()?;
        match split_expiring(&value) {
            Some((expires_at_ms, _)) if expires_at_ms < self.purge_before => Ok(Verdict::Remove),
            _ => Ok(Verdict::Keep),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_at_or_before_the_expiry() {
        let ttl = Duration::from_secs(7 * 24 * 3600);
        let expiry = 1_700_000_123_456;
        let start = window_start(expiry, ttl);
        assert!(start <= expiry && expiry - start < 3_600_000);
        assert_eq!(start % 3_600_000, 0);
    }

    #[test]
    fn short_ttls_use_one_second_windows() {
        assert_eq!(window_start(12_345, Duration::from_secs(1)), 12_000);
        assert_eq!(window_start(12_345, Duration::from_millis(10)), 12_000);
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        assert!(is_expired(10, 10));
        assert!(!is_expired(11, 10));
        assert_eq!(expires_at(u64::MAX - 1, Duration::from_secs(5)), u64::MAX);
    }
}
