//! Logic settings.

use serde::Deserialize;

/// Settings of the logic service (`[logic]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogicConfig {
    /// Largest message body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a client_msg_id is remembered for dedupe (seconds).
    pub dedupe_ttl_secs: u64,
    /// Deadline of one push call to a gateway (milliseconds).
    pub push_timeout_ms: u64,
    /// Groups with more members than this use read diffusion: no inbox
    /// writes; members pull the group's store timeline.
    pub large_group_threshold: u64,
    /// Most members a group may have.
    pub max_group_members: u64,
    /// Most groups one user may belong to; creating or joining one more is
    /// refused `rate_limited` (0: no cap).
    pub max_groups_per_user: u64,
    /// Who may add members to a group: its `owner` only, or any of its
    /// `members`. Removing others is the owner's; leaving is anyone's.
    pub add_members: AddMembersPolicy,
    /// How long after sending a message its sender may still edit or recall
    /// it (seconds). Deletes by a group's owner have no window.
    pub edit_window_secs: u64,
    /// Most distinct emoji reactions on one message; reacting with one
    /// more is refused `too_many_reactions`.
    pub max_distinct_reactions: usize,
    /// Typing signals are forwarded in groups of at most this many members
    /// (and never in large groups); above it a typing frame is answered
    /// `forwarded: false`. 0 turns typing off in groups (1:1 keeps it).
    pub typing_max_members: u64,
}

/// Who may add members to a group (`logic.add_members`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddMembersPolicy {
    Owner,
    #[default]
    Members,
}

impl Default for LogicConfig {
    fn default() -> Self {
        LogicConfig {
            max_body_bytes: 32 * 1024,
            dedupe_ttl_secs: 24 * 3600,
            push_timeout_ms: 2_000,
            large_group_threshold: 500,
            max_group_members: 100_000,
            max_groups_per_user: 1_000,
            add_members: AddMembersPolicy::Members,
            edit_window_secs: 24 * 3600,
            max_distinct_reactions: 20,
            typing_max_members: 100,
        }
    }
}

impl LogicConfig {
    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_body_bytes == 0 || self.max_body_bytes > 1 << 20 {
            return Err("logic.max_body_bytes must be between 1 and 1048576".into());
        }
        if self.dedupe_ttl_secs == 0 {
            return Err("logic.dedupe_ttl_secs must be at least 1".into());
        }
        if self.max_group_members == 0 {
            return Err("logic.max_group_members must be at least 1".into());
        }
        if self.typing_max_members > 10_000 {
            return Err("logic.typing_max_members must be at most 10000".into());
        }
        if self.max_distinct_reactions == 0 {
            return Err("logic.max_distinct_reactions must be at least 1".into());
        }
        if self.push_timeout_ms == 0 {
            return Err("logic.push_timeout_ms must be at least 1".into());
        }
        Ok(())
    }
}
