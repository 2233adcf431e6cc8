//! One section's in-memory state: the claim on its persisted `max_seq` and the
//! per-key cursors and pending seqs.

use std::collections::{BTreeMap, HashMap};

use tidings_core::Seq;
use tokio::time::Instant;

/// This instance's ownership of a section, taken from storage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim {
    pub epoch: u64,
    /// `max_seq` persisted when the section was claimed: every key starts
    /// above it, whatever it had reached before.
    pub base: Seq,
    /// Persisted ceiling: no seq above it is handed out before it is raised.
    pub max_seq: Seq,
    /// Heads are not answered before this instant, so that writes allocated by
    /// a previous owner have had their deadline to land.
    pub heads_ready_at: Instant,
    /// This instance serves the section only until then (its lease, less a
    /// safety margin, on the local monotonic clock): a paused process that
    /// wakes up late stops serving instead of racing the next owner.
    pub serve_until: Instant,
}

/// One key's cursor and the seqs allocated but not yet settled.
#[derive(Debug)]
pub(crate) struct KeyState {
    pub cur: Seq,
    /// Pending seq to the instant it will be abandoned.
    pub pending: BTreeMap<Seq, Instant>,
}

impl KeyState {
    pub fn new(base: Seq) -> Self {
        KeyState {
            cur: base,
            pending: BTreeMap::new(),
        }
    }

    /// The highest seq at or below which nothing is pending.
    pub fn visible_head(&self) -> Seq {
        match self.pending.keys().next() {
            Some(first) => first - 1,
            None => self.cur,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Section {
    pub claim: Option<Claim>,
    pub keys: HashMap<String, KeyState>,
}

impl Section {
    /// Removes pending seqs whose deadline has passed; returns how many.
    pub fn abandon_expired(&mut self, now: Instant) -> usize {
        let mut abandoned = 0;
        for state in self.keys.values_mut() {
            let before = state.pending.len();
            state.pending.retain(|_, deadline| *deadline > now);
            abandoned += before - state.pending.len();
        }
        abandoned
    }

    /// Forgets everything after losing ownership: the next use claims anew.
    pub fn reset(&mut self) {
        self.claim = None;
        self.keys.clear();
    }
}

/// Stable hash of a key to its section (FNV-1a): must never change, or keys
/// would move to sections whose `max_seq` is below their last seq.
pub fn section_of(key: &str, sections: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(sections)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_hash_is_stable() {
        // Pinned values: a change here re-maps every deployed key.
        assert_eq!(
            section_of("user:alice", 1024),
            section_of("user:alice", 1024)
        );
        assert_eq!(
            section_of("", 1024),
            (0xcbf2_9ce4_8422_2325u64 % 1024) as u32
        );
        assert!(section_of("conv:dm:a:b", 7) < 7);
    }

    #[test]
    fn head_stops_below_first_pending() {
        let mut k = KeyState::new(10);
        assert_eq!(k.visible_head(), 10);
        let t = Instant::now();
        k.cur = 12;
        k.pending.insert(11, t);
        k.pending.insert(12, t);
        assert_eq!(k.visible_head(), 10);
        k.pending.remove(&12);
        assert_eq!(k.visible_head(), 10);
        k.pending.remove(&11);
        assert_eq!(k.visible_head(), 12);
    }
}
