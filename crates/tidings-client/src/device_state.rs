//! The device-side sync rules as a pure state machine: no I/O, so every rule
//! is tested here without a server. [`crate::Device`] drives it from the wire.
//!
//! State: the `checkpoint` (last applied inbox seq), a buffer of pushed entries
//! above it, the ids of applied messages, and the applied entries in order.

use std::collections::{BTreeMap, HashSet};

use tidings_proto::client::v1::PullResult;
use tidings_proto::common::v1::InboxEntry;

/// What became of a pushed entry.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// `seq <= checkpoint`: already covered, ignored.
    Stale,
    /// `seq == checkpoint + 1`: applied, then every buffered entry it made
    /// contiguous. Holds the newly applied entries (duplicates by message id
    /// are dropped, so it may be empty).
    Applied(Vec<InboxEntry>),
    /// `seq > checkpoint + 1`: buffered; there is a gap, so the device must pull.
    NeedsPull,
}

/// Checkpoint, push buffer and applied entries of one device.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    checkpoint: u64,
    buffer: BTreeMap<u64, InboxEntry>,
    applied_message_ids: HashSet<String>,
    applied: Vec<InboxEntry>,
}

impl DeviceState {
    /// A device resuming from a durable `checkpoint` (0 for a new device).
    pub fn new(checkpoint: u64) -> Self {
        DeviceState {
            checkpoint,
            ..DeviceState::default()
        }
    }

    /// The last inbox seq this device has applied (or moved past as empty).
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    /// Every applied entry, in the order it was applied.
    pub fn applied(&self) -> &[InboxEntry] {
        &self.applied
    }

    /// Whether a message with this id has been applied.
    pub fn is_applied(&self, message_id: &str) -> bool {
        self.applied_message_ids.contains(message_id)
    }

    /// Seqs of pushed entries waiting for the gap below them to close.
    pub fn buffered_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.buffer.keys().copied()
    }

    /// True while pushed entries wait above a gap: only a pull can close it.
    pub fn has_gap(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Applies the push rules to one pushed entry.
    pub fn handle_push(&mut self, entry: InboxEntry) -> PushOutcome {
        if entry.seq <= self.checkpoint {
            return PushOutcome::Stale;
        }
        if entry.seq > self.checkpoint + 1 {
            self.buffer.insert(entry.seq, entry);
            return PushOutcome::NeedsPull;
        }
        let mut applied: Vec<InboxEntry> = self.apply(entry).into_iter().collect();
        applied.extend(self.drain_buffer());
        PushOutcome::Applied(applied)
    }

    /// Applies one pull page (the answer to `Pull { after: checkpoint }`), then
    /// every buffered entry that became contiguous. Returns the newly applied
    /// entries. Afterwards `checkpoint` is the last returned seq if `has_more`,
    /// else `head`; it never moves backwards.
    pub fn apply_page(&mut self, page: PullResult) -> Vec<InboxEntry> {
        let mut applied = Vec::with_capacity(page.entries.len());
        let mut last_returned = None;
        for entry in page.entries {
            if entry.seq <= self.checkpoint {
                continue;
            }
            last_returned = Some(entry.seq);
            applied.extend(self.apply(entry));
        }
        let target = if page.has_more {
            last_returned.unwrap_or(self.checkpoint)
        } else {
            page.head
        };
        self.checkpoint = self.checkpoint.max(target);
        applied.extend(self.drain_buffer());
        applied
    }

    /// Moves the checkpoint to `entry.seq` and records the entry unless its
    /// message was already applied. Returns the entry if it was new.
    fn apply(&mut self, entry: InboxEntry) -> Option<InboxEntry> {
        self.checkpoint = self.checkpoint.max(entry.seq);
        let message_id = entry
            .message
            .as_ref()
            .map(|m| m.message_id.as_str())
            .filter(|id| !id.is_empty());
        if let Some(id) = message_id
            && !self.applied_message_ids.insert(id.to_string())
        {
            return None;
        }
        self.applied.push(entry.clone());
        Some(entry)
    }

    /// Drops buffered entries the checkpoint has passed (the pull that moved
    /// it is the truth), then applies those that are now contiguous.
    fn drain_buffer(&mut self) -> Vec<InboxEntry> {
        self.buffer = self.buffer.split_off(&(self.checkpoint + 1));
        let mut applied = Vec::new();
        while let Some(entry) = self.buffer.remove(&(self.checkpoint + 1)) {
            applied.extend(self.apply(entry));
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use tidings_proto::common::v1::Message;

    use super::*;

    fn entry(seq: u64, message_id: &str) -> InboxEntry {
        InboxEntry {
            seq,
            conversation_id: "dm:alice:bob".into(),
            conv_seq: seq,
            message: Some(Message {
                message_id: message_id.into(),
                conversation_id: "dm:alice:bob".into(),
                conv_seq: seq,
                sender_id: "alice".into(),
                body: message_id.as_bytes().to_vec(),
                ..Message::default()
            }),
        }
    }

    fn page(entries: Vec<InboxEntry>, head: u64, has_more: bool) -> PullResult {
        PullResult {
            entries,
            head,
            has_more,
            truncated: false,
            conversation_heads: Vec::new(),
            compressed_entries: Vec::new(),
        }
    }

    fn seqs(entries: &[InboxEntry]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn contiguous_push_is_applied_and_moves_the_checkpoint() {
        let mut state = DeviceState::new(4);
        let outcome = state.handle_push(entry(5, "m5"));
        assert_eq!(outcome, PushOutcome::Applied(vec![entry(5, "m5")]));
        assert_eq!(state.checkpoint(), 5);
        assert!(state.is_applied("m5"));
    }

    #[test]
    fn stale_push_is_ignored() {
        let mut state = DeviceState::new(5);
        assert_eq!(state.handle_push(entry(5, "m5")), PushOutcome::Stale);
        assert_eq!(state.handle_push(entry(2, "m2")), PushOutcome::Stale);
        assert_eq!(state.checkpoint(), 5);
        assert!(state.applied().is_empty());
    }

    #[test]
    fn push_ahead_is_buffered_until_the_gap_closes() {
        let mut state = DeviceState::new(0);
        assert_eq!(state.handle_push(entry(3, "m3")), PushOutcome::NeedsPull);
        assert_eq!(state.handle_push(entry(2, "m2")), PushOutcome::NeedsPull);
        assert_eq!(state.checkpoint(), 0);
        assert!(state.has_gap());

        let PushOutcome::Applied(applied) = state.handle_push(entry(1, "m1")) else {
            panic!("seq 1 is contiguous");
        };
        assert_eq!(seqs(&applied), [1, 2, 3]);
        assert_eq!(state.checkpoint(), 3);
        assert!(!state.has_gap());
    }

    #[test]
    fn pull_closes_the_gap_and_applies_buffered_pushes_above_it() {
        let mut state = DeviceState::new(10);
        state.handle_push(entry(13, "m13"));
        // The pull sees up to head 12 only: 13 is not visible yet.
        let applied = state.apply_page(page(vec![entry(11, "m11"), entry(12, "m12")], 12, false));
        assert_eq!(seqs(&applied), [11, 12, 13]);
        assert_eq!(state.checkpoint(), 13);
        assert_eq!(seqs(state.applied()), [11, 12, 13]);
    }

    #[test]
    fn pull_moves_the_checkpoint_to_head_across_empty_seqs() {
        let mut state = DeviceState::new(0);
        // Seqs 2 and 4 were abandoned; the head says everything up to 5 is settled.
        let applied = state.apply_page(page(
            vec![entry(1, "a"), entry(3, "b"), entry(5, "c")],
            5,
            false,
        ));
        assert_eq!(seqs(&applied), [1, 3, 5]);
        assert_eq!(state.checkpoint(), 5);

        let applied = state.apply_page(page(vec![], 9, false));
        assert!(applied.is_empty());
        assert_eq!(state.checkpoint(), 9);
    }

    #[test]
    fn page_with_more_moves_only_to_the_last_returned_seq() {
        let mut state = DeviceState::new(0);
        state.apply_page(page(vec![entry(1, "a"), entry(2, "b")], 50, true));
        assert_eq!(state.checkpoint(), 2);
    }

    #[test]
    fn checkpoint_never_moves_backwards() {
        let mut state = DeviceState::new(20);
        let applied = state.apply_page(page(vec![entry(3, "old")], 7, false));
        assert!(applied.is_empty());
        assert_eq!(state.checkpoint(), 20);
        state.apply_page(page(vec![], 0, true));
        assert_eq!(state.checkpoint(), 20);
    }

    #[test]
    fn duplicate_message_ids_are_dropped_but_their_seqs_are_passed() {
        let mut state = DeviceState::new(0);
        state.handle_push(entry(1, "same"));
        // A late write of the same message at another seq.
        let outcome = state.handle_push(entry(2, "same"));
        assert_eq!(outcome, PushOutcome::Applied(vec![]));
        assert_eq!(state.checkpoint(), 2);
        let applied = state.apply_page(page(vec![entry(3, "same"), entry(4, "new")], 4, false));
        assert_eq!(seqs(&applied), [4]);
        assert_eq!(seqs(state.applied()), [1, 4]);
    }

    #[test]
    fn buffered_pushes_the_pull_moved_past_are_dropped() {
        let mut state = DeviceState::new(0);
        state.handle_push(entry(2, "pushed"));
        state.handle_push(entry(6, "ahead"));
        // The pull is the truth: seq 2 was not committed after all; head is 4.
        let applied = state.apply_page(page(vec![entry(1, "a"), entry(3, "b")], 4, false));
        assert_eq!(seqs(&applied), [1, 3]);
        assert!(!state.is_applied("pushed"));
        assert_eq!(state.buffered_seqs().collect::<Vec<_>>(), [6]);
        assert!(state.has_gap());
    }

    #[test]
    fn push_at_an_already_buffered_seq_keeps_one_copy() {
        let mut state = DeviceState::new(0);
        state.handle_push(entry(2, "m2"));
        state.handle_push(entry(2, "m2"));
        let PushOutcome::Applied(applied) = state.handle_push(entry(1, "m1")) else {
            panic!("seq 1 is contiguous");
        };
        assert_eq!(seqs(&applied), [1, 2]);
    }

    #[test]
    fn entries_without_message_ids_are_applied_once_per_seq() {
        let mut state = DeviceState::new(0);
        let bare = InboxEntry {
            seq: 1,
            ..InboxEntry::default()
        };
        assert_eq!(
            state.handle_push(bare.clone()),
            PushOutcome::Applied(vec![bare])
        );
        assert_eq!(state.checkpoint(), 1);
    }
}
