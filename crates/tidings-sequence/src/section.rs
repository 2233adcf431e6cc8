//! One section's in-memory state: the claim on its persisted `max_seq`, the
//! per-key cursors and pending seqs, and what became of the seqs settled under
//! this claim.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use tidings_core::Seq;
use tidings_sequence_client::CommitOutcome;
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

/// How much of the abandonment history a section keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AbandonedMemory {
    /// Abandonments older than this are forgotten.
    pub keep_for: Duration,
    /// At most this many are kept per section; the oldest go first.
    pub per_section: usize,
}

/// One key's cursor, its pending seqs and the abandoned ones still remembered.
///
/// Under one claim, every seq in `(claim.base, cur]` was handed out here and
/// is pending, abandoned or committed: pending and abandoned seqs are listed,
/// so any other seq of that range is committed. That is what lets a retried
/// commit learn that its seqs are committed (DESIGN §9) without keeping a
/// record per committed seq.
#[derive(Debug)]
pub(crate) struct KeyState {
    pub cur: Seq,
    /// Pending seq to the instant it will be abandoned.
    pub pending: BTreeMap<Seq, Instant>,
    /// Seqs abandoned under this claim, still remembered.
    abandoned: BTreeSet<Seq>,
    /// Highest seq whose abandonment was forgotten (for age or space). A
    /// settled seq at or below it may have been abandoned, so it can no
    /// longer be told committed: it answers `Unknown`.
    forgotten_up_to: Seq,
}

impl KeyState {
    pub fn new(base: Seq) -> Self {
        KeyState {
            cur: base,
            pending: BTreeMap::new(),
            abandoned: BTreeSet::new(),
            forgotten_up_to: 0,
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

/// What a commit did to one seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// It was pending and is committed now.
    NowCommitted,
    /// It was pending but past its deadline: abandoned now, as the reaper
    /// would have done, so the deadline does not depend on the reaper's tick.
    NowAbandoned,
    /// It was settled before (or never allocated): what became of it.
    Earlier(CommitOutcome),
}

/// What became of a seq that is not pending, given the key's state under the
/// current claim (`None`: nothing allocated for the key under it).
fn settled_outcome(state: Option<&KeyState>, base: Seq, seq: Seq) -> CommitOutcome {
    let cur = state.map_or(base, |s| s.cur);
    if seq == 0 || seq > cur {
        // Above the cursor nothing was handed out, by this claim or any
        // earlier one (each claim starts above every persisted ceiling):
        // nothing may ever be written there under this allocation.
        return CommitOutcome::Abandoned;
    }
    if seq <= base {
        // Allocated under an earlier claim, whose memory is gone.
        return CommitOutcome::Unknown;
    }
    let Some(state) = state else {
        // Not reached: without a state the cursor is the base.
        return CommitOutcome::Abandoned;
    };
    if state.abandoned.contains(&seq) {
        CommitOutcome::Abandoned
    } else if seq <= state.forgotten_up_to {
        CommitOutcome::Unknown
    } else {
        CommitOutcome::Committed
    }
}

#[derive(Debug, Default)]
pub(crate) struct Section {
    pub claim: Option<Claim>,
    pub keys: HashMap<String, KeyState>,
    /// Every remembered abandonment, oldest first, so that the memory is
    /// pruned by age and size without scanning keys. Abandonment happens only
    /// on failures, so this stays small; its bound keeps a storm of failures
    /// from growing it without limit.
    abandonments: VecDeque<(Instant, String, Seq)>,
}

impl Section {
    /// Commits `seq` of `key` if it is pending; otherwise tells what became of
    /// it. `base` is the current claim's.
    pub fn commit(
        &mut self,
        key: &str,
        seq: Seq,
        base: Seq,
        now: Instant,
        memory: AbandonedMemory,
    ) -> Settled {
        let state = self.keys.get_mut(key);
        let deadline = state.and_then(|s| s.pending.remove(&seq));
        match deadline {
            Some(deadline) if deadline > now => Settled::NowCommitted,
            Some(_) => {
                self.remember_abandoned(key, seq, now, memory);
                Settled::NowAbandoned
            }
            None => Settled::Earlier(settled_outcome(self.keys.get(key), base, seq)),
        }
    }

    /// Where `seq` of `key` stands, changing nothing: `None` while pending
    /// (and before its deadline), else what became of it.
    pub fn check(&self, key: &str, seq: Seq, base: Seq, now: Instant) -> Option<CommitOutcome> {
        let state = self.keys.get(key);
        match state.and_then(|s| s.pending.get(&seq)) {
            Some(deadline) if *deadline > now => None,
            // Past its deadline: the reaper or the next commit abandons it.
            Some(_) => Some(CommitOutcome::Abandoned),
            None => Some(settled_outcome(state, base, seq)),
        }
    }

    /// Abandons `seq` of `key` if it is pending; returns whether it was.
    /// A seq already committed stays committed.
    pub fn abandon(&mut self, key: &str, seq: Seq, now: Instant, memory: AbandonedMemory) -> bool {
        let was_pending = self
            .keys
            .get_mut(key)
            .is_some_and(|s| s.pending.remove(&seq).is_some());
        if was_pending {
            self.remember_abandoned(key, seq, now, memory);
        }
        was_pending
    }

    /// Abandons pending seqs whose deadline has passed and forgets
    /// abandonments that aged out; returns how many were abandoned.
    pub fn abandon_expired(&mut self, now: Instant, memory: AbandonedMemory) -> usize {
        let mut expired = Vec::new();
        for (key, state) in &mut self.keys {
            state.pending.retain(|seq, deadline| {
                let keep = *deadline > now;
                if !keep {
                    expired.push((key.clone(), *seq));
                }
                keep
            });
        }
        let abandoned = expired.len();
        for (key, seq) in expired {
            self.remember_abandoned(&key, seq, now, memory);
        }
        self.forget_abandoned(now, memory);
        abandoned
    }

    /// Forgets everything after losing ownership: the next use claims anew.
    pub fn reset(&mut self) {
        self.claim = None;
        self.keys.clear();
        self.abandonments.clear();
    }

    fn remember_abandoned(&mut self, key: &str, seq: Seq, now: Instant, memory: AbandonedMemory) {
        if let Some(state) = self.keys.get_mut(key) {
            state.abandoned.insert(seq);
            self.abandonments.push_back((now, key.to_string(), seq));
        }
        self.forget_abandoned(now, memory);
    }

    /// Drops the oldest abandonments beyond the memory's age or size. A
    /// forgotten seq must never be told committed later (its writer would
    /// then answer the client with a seq that stays empty), so the key's
    /// `forgotten_up_to` rises over it and such seqs answer `Unknown`.
    fn forget_abandoned(&mut self, now: Instant, memory: AbandonedMemory) {
        while let Some((at, _, _)) = self.abandonments.front() {
            let too_old = now.saturating_duration_since(*at) >= memory.keep_for;
            if !too_old && self.abandonments.len() <= memory.per_section {
                break;
            }
            let Some((_, key, seq)) = self.abandonments.pop_front() else {
                break;
            };
            if let Some(state) = self.keys.get_mut(&key) {
                state.abandoned.remove(&seq);
                state.forgotten_up_to = state.forgotten_up_to.max(seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "user:alice";

    fn memory(per_section: usize) -> AbandonedMemory {
        AbandonedMemory {
            keep_for: Duration::from_secs(3600),
            per_section,
        }
    }

    /// A section claimed at `base` where KEY was given `base+1..=base+n`,
    /// all pending until `deadline`.
    fn section_with(base: Seq, n: u64, deadline: Instant) -> Section {
        let mut state = KeyState::new(base);
        for _ in 0..n {
            state.cur += 1;
            state.pending.insert(state.cur, deadline);
        }
        let mut section = Section::default();
        section.keys.insert(KEY.to_string(), state);
        section
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

    #[test]
    fn pending_seq_is_committed_now_then_reported_committed() {
        let now = Instant::now();
        let mut s = section_with(10, 2, now + Duration::from_secs(5));
        assert_eq!(s.commit(KEY, 11, 10, now, memory(8)), Settled::NowCommitted);
        assert_eq!(
            s.commit(KEY, 11, 10, now, memory(8)),
            Settled::Earlier(CommitOutcome::Committed)
        );
        // Abandoning a committed seq changes nothing.
        assert!(!s.abandon(KEY, 11, now, memory(8)));
        assert_eq!(
            s.commit(KEY, 11, 10, now, memory(8)),
            Settled::Earlier(CommitOutcome::Committed)
        );
    }

    #[test]
    fn abandoned_seq_is_reported_abandoned() {
        let now = Instant::now();
        let mut s = section_with(10, 2, now + Duration::from_secs(5));
        assert!(s.abandon(KEY, 12, now, memory(8)));
        assert_eq!(
            s.commit(KEY, 12, 10, now, memory(8)),
            Settled::Earlier(CommitOutcome::Abandoned)
        );
        // Its neighbour is still pending, and commits.
        assert_eq!(s.commit(KEY, 11, 10, now, memory(8)), Settled::NowCommitted);
    }

    #[test]
    fn seq_past_its_deadline_is_abandoned_by_reaper_or_by_late_commit() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let mut s = section_with(10, 2, deadline);
        let later = deadline + Duration::from_millis(1);
        // A commit arriving after the deadline but before the reaper ran.
        assert_eq!(
            s.commit(KEY, 11, 10, later, memory(8)),
            Settled::NowAbandoned
        );
        assert_eq!(s.abandon_expired(later, memory(8)), 1);
        for seq in [11, 12] {
            assert_eq!(
                s.commit(KEY, seq, 10, later, memory(8)),
                Settled::Earlier(CommitOutcome::Abandoned)
            );
        }
        assert_eq!(s.keys[KEY].visible_head(), 12);
    }

    #[test]
    fn seq_never_allocated_is_abandoned() {
        let now = Instant::now();
        let mut s = section_with(10, 2, now + Duration::from_secs(5));
        for seq in [0, 13, 1_000] {
            assert_eq!(
                s.commit(KEY, seq, 10, now, memory(8)),
                Settled::Earlier(CommitOutcome::Abandoned)
            );
        }
        assert_eq!(
            s.commit("user:nobody", 11, 10, now, memory(8)),
            Settled::Earlier(CommitOutcome::Abandoned)
        );
    }

    #[test]
    fn seq_of_an_earlier_claim_is_unknown() {
        let now = Instant::now();
        let mut s = section_with(10, 2, now + Duration::from_secs(5));
        for seq in [1, 10] {
            assert_eq!(
                s.commit(KEY, seq, 10, now, memory(8)),
                Settled::Earlier(CommitOutcome::Unknown)
            );
        }
        assert_eq!(
            s.commit("user:nobody", 10, 10, now, memory(8)),
            Settled::Earlier(CommitOutcome::Unknown)
        );
    }

    #[test]
    fn abandonment_forgotten_for_space_is_unknown_never_committed() {
        let now = Instant::now();
        let mut s = section_with(10, 4, now + Duration::from_secs(5));
        let tight = memory(2);
        assert!(s.abandon(KEY, 11, now, tight));
        assert!(s.abandon(KEY, 13, now, tight));
        assert_eq!(s.commit(KEY, 12, 10, now, tight), Settled::NowCommitted);
        // A third abandonment pushes the oldest (11) out.
        assert!(s.abandon(KEY, 14, now, tight));
        assert_eq!(
            s.commit(KEY, 11, 10, now, tight),
            Settled::Earlier(CommitOutcome::Unknown)
        );
        // Still remembered.
        for seq in [13, 14] {
            assert_eq!(
                s.commit(KEY, seq, 10, now, tight),
                Settled::Earlier(CommitOutcome::Abandoned)
            );
        }
        // Committed above the forgotten seq: still known.
        assert_eq!(
            s.commit(KEY, 12, 10, now, tight),
            Settled::Earlier(CommitOutcome::Committed)
        );
    }

    #[test]
    fn abandonment_forgotten_for_age_is_unknown_never_committed() {
        let now = Instant::now();
        let mut s = section_with(10, 2, now + Duration::from_secs(5));
        let short = AbandonedMemory {
            keep_for: Duration::from_secs(60),
            per_section: 8,
        };
        assert!(s.abandon(KEY, 11, now, short));
        assert_eq!(s.commit(KEY, 12, 10, now, short), Settled::NowCommitted);
        let later = now + Duration::from_secs(61);
        assert_eq!(s.abandon_expired(later, short), 0);
        assert_eq!(
            s.commit(KEY, 11, 10, later, short),
            Settled::Earlier(CommitOutcome::Unknown)
        );
        assert_eq!(
            s.commit(KEY, 12, 10, later, short),
            Settled::Earlier(CommitOutcome::Committed)
        );
    }
}
