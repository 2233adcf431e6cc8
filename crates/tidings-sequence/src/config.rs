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
    /// How long a claim on a section lasts without renewal. An instance stops
    /// serving a section a fifth of this before its lease ends, so that
    /// another may take it over safely after it ends.
    pub lease_ms: u64,
    /// Stable name of this allocator instance. A restarted instance with the
    /// same name takes its sections back at once; give every instance its own
    /// (e.g. the StatefulSet pod name).
    pub instance_id: String,
    /// How long an abandoned seq is remembered, so that a retried commit of it
    /// answers `abandoned` (its writer must not report the send done). Past
    /// this, or past `abandoned_per_section`, a commit of it answers `unknown`,
    /// never `committed`. Defaults to a day, the dedupe TTL: after that no
    /// retry of the send can still ask.
    pub abandoned_memory_ms: u64,
    /// At most this many abandoned seqs are remembered per section, the
    /// oldest forgotten first. Abandonment happens only on failures; the cap
    /// keeps a storm of them from growing memory without limit.
    pub abandoned_per_section: usize,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            sections: 1024,
            step: 10_000,
            commit_deadline_ms: 5_000,
            lease_ms: 10_000,
            instance_id: "sequence-0".to_string(),
            abandoned_memory_ms: 24 * 3600 * 1000,
            abandoned_per_section: 1024,
        }
    }
}

impl SequenceConfig {
    pub fn commit_deadline(&self) -> Duration {
        Duration::from_millis(self.commit_deadline_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    pub fn abandoned_memory(&self) -> Duration {
        Duration::from_millis(self.abandoned_memory_ms)
    }

    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.sections == 0 {
            return Err("sequence.sections must be at least 1".into());
        }
        if self.step == 0 {
            return Err("sequence.step must be at least 1".into());
        }
        if self.instance_id.is_empty() || self.instance_id.contains('@') {
            return Err("sequence.instance_id must be non-empty and must not contain '@'".into());
        }
        if self.lease_ms < 500 {
            return Err("sequence.lease_ms must be at least 500".into());
        }
        if self.commit_deadline_ms < 10 {
            return Err("sequence.commit_deadline_ms must be at least 10".into());
        }
        if self.abandoned_memory_ms < self.commit_deadline_ms {
            return Err(
                "sequence.abandoned_memory_ms must be at least sequence.commit_deadline_ms".into(),
            );
        }
        Ok(())
    }
}
