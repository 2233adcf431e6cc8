//! Sync settings.

use serde::Deserialize;

/// Settings of the sync service (`[sync]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// How long inbox entries are kept (seconds). Devices offline longer are
    /// told `truncated` and recover through roaming.
    pub inbox_ttl_secs: u64,
    /// Entries per pull when the device does not say.
    pub default_pull_limit: usize,
    /// Most entries one pull returns.
    pub max_pull_limit: usize,
    /// Most entries a user's inbox keeps, counted by seq below the head
    /// (inbox seqs have no gaps in normal operation; an allocator restart's
    /// gap counts against it). A device further behind is told `truncated`
    /// and recovers through roaming. Expired entries go by the TTL.
    pub max_inbox_entries: u64,
    /// How long a user's large groups, learned from logic, are cached for
    /// pulls (milliseconds; 0: ask logic on every pull). Logic makes the
    /// instance it reaches forget a user's entry when memberships change.
    pub large_groups_cache_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            inbox_ttl_secs: 7 * 24 * 3600,
            default_pull_limit: 100,
            max_pull_limit: 500,
            max_inbox_entries: 100_000,
            large_groups_cache_ms: 5_000,
        }
    }
}

impl SyncConfig {
    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.inbox_ttl_secs == 0 {
            return Err("sync.inbox_ttl_secs must be at least 1".into());
        }
        if self.default_pull_limit == 0 || self.default_pull_limit > self.max_pull_limit {
            return Err("sync.default_pull_limit must be between 1 and sync.max_pull_limit".into());
        }
        if self.max_inbox_entries == 0 {
            return Err("sync.max_inbox_entries must be at least 1".into());
        }
        if self.max_pull_limit == 0 || self.max_pull_limit > 1000 {
            return Err("sync.max_pull_limit must be between 1 and 1000".into());
        }
        Ok(())
    }
}
