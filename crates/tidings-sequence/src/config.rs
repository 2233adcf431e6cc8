//! Allocator settings.

use std::time::Duration;

use serde::Deserialize;

/// Settings of the sequence service (`[sequence]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequenceConfig {
    /// Number of sections keys hash into. Changing it re-maps keys, so it is
    /// fixed for the life of a deployment.
    pub sections: u32,
    /// How far `max_seq` is persisted ahead of the seqs handed out. Larger
    /// steps mean fewer writes and larger gaps after a restart.
    pub step: u64,
    /// A seq not committed within this time is abandoned; its late commit is
    /// refused and heads move past it.
    pub commit_deadline_ms: u64,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            sections: 1024,
            step: 10_000,
            commit_deadline_ms: 5_000,
        }
    }
}

impl SequenceConfig {
    pub fn commit_deadline(&self) -> Duration {
        Duration::from_millis(self.commit_deadline_ms)
    }

    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.sections == 0 {
            return Err("sequence.sections must be at least 1".into());
        }
        if self.step == 0 {
            return Err("sequence.step must be at least 1".into());
        }
        if self.commit_deadline_ms < 10 {
            return Err("sequence.commit_deadline_ms must be at least 10".into());
        }
        Ok(())
    }
}
