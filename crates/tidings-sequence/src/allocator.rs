//! The allocator: batched allocation, commits, abandonment and visible heads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tidings_core::{Error, Result, Seq, now_ms};
use tidings_sequence_client::{CommitOutcome, section_of};
use tidings_storage::{SectionStore, StorageError, same_instance};
use tidings_telemetry::metrics::names;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::SequenceConfig;
use crate::section::{AbandonedMemory, Claim, KeyState, Section, Settled};

/// Allocates seqs and tracks visible heads for every key of every section.
pub struct Allocator {
    config: SequenceConfig,
    store: Arc<dyn SectionStore>,
    /// This instance in section leases: `<instance_id>@<advertised address>`,
    /// so that a refused caller learns where to go.
    owner: String,
    sections: Vec<Mutex<Section>>,
    /// Set by [`Allocator::release_all`]: no section is claimed again.
    released: std::sync::atomic::AtomicBool,
}

impl Allocator {
    /// `address` is where callers reach this instance (its advertised gRPC
    /// address).
    pub fn new(config: SequenceConfig, store: Arc<dyn SectionStore>, address: &str) -> Self {
        // Zero series from the start: an alert on abandonments then sees 0,
        // not a missing metric.
        for reason in ["explicit", "deadline"] {
            metrics::counter!(names::SEQ_ABANDONMENTS, "reason" => reason).increment(0);
        }
        let sections = (0..config.sections)
            .map(|_| Mutex::new(Section::default()))
            .collect();
        Allocator {
            owner: format!("{}@{address}", config.instance_id),
            config,
            store,
            sections,
            released: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Allocates one seq per key, in request order (a repeated key gets
    /// increasing seqs). Each new seq is pending until committed or abandoned.
    pub async fn allocate(&self, keys: &[String]) -> Result<Vec<Seq>> {
        let mut seqs = vec![0; keys.len()];
        for (section_id, indexes) in self.group_by_section(keys.iter().map(String::as_str)) {
            let mut section = self.sections[section_id as usize].lock().await;
            let mut claim = self.ensure_claimed(section_id, &mut section).await?;
            // Raise the persisted ceiling once for the whole batch if needed.
            let mut needed = claim.max_seq;
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for &i in &indexes {
                *counts.entry(keys[i].as_str()).or_default() += 1;
            }
            for (key, count) in &counts {
                let cur = section.keys.get(*key).map_or(claim.base, |k| k.cur);
                needed = needed.max(cur + count);
            }
            if needed > claim.max_seq {
                let new_max = needed + self.config.step;
                if let Err(e) = self
                    .store
                    .advance_max_seq(section_id, claim.epoch, new_max)
                    .await
                {
                    return Err(self.lost_section(section_id, &mut section, e));
                }
                claim.max_seq = new_max;
                section.claim = Some(claim);
            }
            let deadline = Instant::now() + self.config.commit_deadline();
            for i in indexes {
                let state = section
                    .keys
                    .entry(keys[i].clone())
                    .or_insert_with(|| KeyState::new(claim.base));
                state.cur += 1;
                state.pending.insert(state.cur, deadline);
                seqs[i] = state.cur;
            }
        }
        metrics::counter!(names::SEQ_ALLOCATIONS).increment(keys.len() as u64);
        Ok(seqs)
    }

    /// Settles pending seqs as persisted, telling for each what became of it:
    ///
    /// * pending: committed now, `Committed` (past its deadline: abandoned
    ///   now, `Abandoned`);
    /// * handed out under this claim of its section and settled: `Committed`
    ///   unless abandoned, so a retry after a lost answer learns its seqs are
    ///   committed (DESIGN §9); `Abandoned` if it was, or `Unknown` once that
    ///   abandonment is forgotten;
    /// * above the key's cursor (never handed out): `Abandoned`;
    /// * at or below the claim's base (handed out under an earlier claim,
    ///   before a restart or hand-over): `Unknown`.
    ///
    /// Fails with `wrong_owner` when another instance holds a section: only
    /// the owner knows what became of its seqs.
    pub async fn commit(&self, refs: &[(String, Seq)]) -> Result<Vec<CommitOutcome>> {
        let mut outcomes = vec![CommitOutcome::Unknown; refs.len()];
        let (mut committed, mut expired) = (0u64, 0u64);
        let memory = self.abandoned_memory();
        let result = async {
            for (section_id, indexes) in self.group_by_section(refs.iter().map(|(k, _)| k.as_str()))
            {
                let mut section = self.sections[section_id as usize].lock().await;
                let claim = self.ensure_claimed(section_id, &mut section).await?;
                let now = Instant::now();
                for i in indexes {
                    let (key, seq) = &refs[i];
                    outcomes[i] = match section.commit(key, *seq, claim.base, now, memory) {
                        Settled::NowCommitted => {
                            committed += 1;
                            CommitOutcome::Committed
                        }
                        Settled::NowAbandoned => {
                            expired += 1;
                            CommitOutcome::Abandoned
                        }
                        Settled::Earlier(outcome) => outcome,
                    };
                }
            }
            Ok::<(), Error>(())
        }
        .await;
        // Counted even when a later section failed: those commits happened.
        metrics::counter!(names::SEQ_COMMITS).increment(committed);
        if expired > 0 {
            metrics::counter!(names::SEQ_ABANDONMENTS, "reason" => "deadline").increment(expired);
        }
        result.map(|()| outcomes)
    }

    /// Where each seq stands, changing nothing (`None`: pending). Fails with
    /// `wrong_owner` when another instance holds a section.
    pub async fn check(&self, refs: &[(String, Seq)]) -> Result<Vec<Option<CommitOutcome>>> {
        let mut states = vec![Some(CommitOutcome::Unknown); refs.len()];
        for (section_id, indexes) in self.group_by_section(refs.iter().map(|(k, _)| k.as_str())) {
            let mut section = self.sections[section_id as usize].lock().await;
            let claim = self.ensure_claimed(section_id, &mut section).await?;
            let now = Instant::now();
            for i in indexes {
                let (key, seq) = &refs[i];
                states[i] = section.check(key, *seq, claim.base, now);
            }
        }
        Ok(states)
    }

    /// Gives up pending seqs at once, so heads move on without waiting. Seqs
    /// already committed stay committed. Fails with `wrong_owner` when
    /// another instance holds a section.
    pub async fn abandon(&self, refs: &[(String, Seq)]) -> Result<()> {
        let mut abandoned = 0u64;
        let memory = self.abandoned_memory();
        let result = async {
            for (section_id, indexes) in self.group_by_section(refs.iter().map(|(k, _)| k.as_str()))
            {
                let mut section = self.sections[section_id as usize].lock().await;
                self.ensure_claimed(section_id, &mut section).await?;
                let now = Instant::now();
                for i in indexes {
                    let (key, seq) = &refs[i];
                    abandoned += u64::from(section.abandon(key, *seq, now, memory));
                }
            }
            Ok::<(), Error>(())
        }
        .await;
        metrics::counter!(names::SEQ_ABANDONMENTS, "reason" => "explicit").increment(abandoned);
        result
    }

    /// The visible head of each key. Waits, after a section was taken from
    /// another instance, until that owner's writes are past their deadline.
    pub async fn heads(&self, keys: &[String]) -> Result<Vec<Seq>> {
        let mut heads = vec![0; keys.len()];
        for (section_id, indexes) in self.group_by_section(keys.iter().map(String::as_str)) {
            loop {
                let mut section = self.sections[section_id as usize].lock().await;
                let claim = self.ensure_claimed(section_id, &mut section).await?;
                let now = Instant::now();
                if now < claim.heads_ready_at {
                    drop(section);
                    tokio::time::sleep_until(claim.heads_ready_at).await;
                    continue;
                }
                for &i in &indexes {
                    heads[i] = section
                        .keys
                        .get(&keys[i])
                        .map_or(claim.base, KeyState::visible_head);
                }
                break;
            }
        }
        Ok(heads)
    }

    /// Claims again every section this instance held when it stopped, a few
    /// at a time, before it serves: otherwise the first request after a
    /// restart for each section would wait for that section's claim (a
    /// durable write, an LWT on CQL). Best effort: a section that cannot be
    /// taken now is claimed on first use, as any other. Returns how many
    /// were taken back.
    pub async fn take_back_own_sections(&self) -> usize {
        const AT_ONCE: usize = 32;
        let held = match self.store.list_sections().await {
            Ok(sections) => sections,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list sections; claiming them on first use");
                return 0;
            }
        };
        let own = held.into_iter().filter(|(id, state)| {
            (*id as usize) < self.sections.len() && same_instance(&state.owner, &self.owner)
        });
        let taken = std::sync::atomic::AtomicUsize::new(0);
        futures_util::StreamExt::for_each_concurrent(
            futures_util::stream::iter(own),
            AT_ONCE,
            |(id, _)| {
                let taken = &taken;
                async move {
                    let mut section = self.sections[id as usize].lock().await;
                    if section.claim.is_none()
                        && self.ensure_claimed(id, &mut section).await.is_ok()
                    {
                        taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            },
        )
        .await;
        taken.into_inner()
    }

    /// Gives up every section held here, on a clean shutdown, after the
    /// servers stopped taking requests: each is forgotten here (nothing is
    /// answered for it any more, so no one is told a seq committed) and then
    /// released in the store, so another instance claims it at once and
    /// answers heads without waiting for a commit deadline. Pending seqs of
    /// writers still in flight can no longer commit: they fail over to the
    /// next owner like after a crash. Returns how many were released.
    pub async fn release_all(&self) -> usize {
        const AT_ONCE: usize = 32;
        self.released
            .store(true, std::sync::atomic::Ordering::Release);
        let released = std::sync::atomic::AtomicUsize::new(0);
        futures_util::StreamExt::for_each_concurrent(
            futures_util::stream::iter(0..self.sections.len()),
            AT_ONCE,
            |id| {
                let released = &released;
                async move {
                    let mut section = self.sections[id].lock().await;
                    let Some(claim) = section.claim else {
                        return;
                    };
                    section.reset();
                    match self.store.release_section(id as u32, claim.epoch).await {
                        Ok(()) => {
                            released.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        // Lost already, or the store is down: the lease ends
                        // on its own and the next owner waits one deadline.
                        Err(e) => {
                            tracing::warn!(section = id, error = %e, "cannot release section")
                        }
                    }
                }
            },
        )
        .await;
        released.into_inner()
    }

    /// Abandons every pending seq past its deadline; returns how many.
    pub async fn abandon_expired(&self) -> usize {
        let now = Instant::now();
        let memory = self.abandoned_memory();
        let mut total = 0;
        for section in &self.sections {
            total += section.lock().await.abandon_expired(now, memory);
        }
        if total > 0 {
            metrics::counter!(names::SEQ_ABANDONMENTS, "reason" => "deadline")
                .increment(total as u64);
            tracing::info!(
                abandoned = total,
                "abandoned seqs past their commit deadline"
            );
        }
        total
    }

    /// Runs [`Self::abandon_expired`] periodically until the task is dropped.
    pub fn spawn_reaper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let period = (self.config.commit_deadline() / 4).max(Duration::from_millis(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.abandon_expired().await;
            }
        })
    }

    async fn ensure_claimed(&self, section_id: u32, section: &mut Section) -> Result<Claim> {
        if self.released.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::unavailable(
                "this sequence instance is shutting down; retry",
            ));
        }
        if let Some(claim) = section.claim {
            if Instant::now() < claim.serve_until {
                return Ok(claim);
            }
            // The lease lapsed locally (renewals failed, or the process was
            // paused): another instance may have served the section since, so
            // nothing in memory can be trusted.
            tracing::warn!(
                section = section_id,
                "section lease lapsed; claiming it again"
            );
            section.reset();
        }
        let started = Instant::now();
        // A claim answers only the new state; who held the section before is
        // read first. Claims are rare (start-up, hand-over), so the extra
        // read costs nothing that matters.
        let before = self.store.load_section(section_id).await?;
        let lease_ms = self.config.lease_ms as i64;
        let state = match self
            .store
            .claim_section(section_id, &self.owner, now_ms(), lease_ms)
            .await
        {
            Ok(state) => state,
            Err(StorageError::Owned { owner, .. }) => {
                return Err(tidings_sequence_client::wrong_owner(section_id, &owner));
            }
            Err(e) => return Err(e.into()),
        };
        let heads_ready_at = if self.no_earlier_owner_can_commit(before.as_ref(), state.epoch) {
            started
        } else {
            started + self.config.commit_deadline()
        };
        let claim = Claim {
            epoch: state.epoch,
            base: state.max_seq,
            max_seq: state.max_seq,
            heads_ready_at,
            serve_until: started + self.serving_window(),
        };
        tracing::debug!(
            section = section_id,
            epoch = claim.epoch,
            base = claim.base,
            "claimed section"
        );
        section.claim = Some(claim);
        Ok(claim)
    }

    /// Whether heads of a section just claimed at `epoch` may be answered at
    /// once (DESIGN §9: a restart never makes a client wait for the deadline
    /// when epoch fencing proves no older owner can still commit).
    ///
    /// * Epoch 1: no one owned the section before.
    /// * The epoch just below ours was held by this same instance (a restart,
    ///   or a lease this process let lapse): that process is gone or is this
    ///   one, with its memory dropped, so every seq at or below our base now
    ///   answers `Unknown` and no one can tell a writer it is committed. The
    ///   epoch being exactly one above the state read before the claim proves
    ///   no other instance claimed in between. Should that earlier process
    ///   have taken the section from another instance less than a deadline
    ///   before it stopped, that instance stopped serving (commits included)
    ///   before its lease ended, hence before either of our claims.
    ///
    /// * The section was released by its holder on a clean shutdown
    ///   ([`Allocator::release_all`]): it had stopped serving before.
    ///
    /// Otherwise another instance held it, and might still be alive and
    /// paused mid-commit: heads wait one deadline.
    fn no_earlier_owner_can_commit(
        &self,
        before: Option<&tidings_storage::SectionState>,
        epoch: u64,
    ) -> bool {
        if epoch <= 1 {
            return true;
        }
        // A released row (empty owner) was given up by a holder that had
        // stopped serving it (`release_all`).
        before.is_some_and(|b| {
            b.epoch + 1 == epoch && (b.owner.is_empty() || same_instance(&b.owner, &self.owner))
        })
    }

    fn abandoned_memory(&self) -> AbandonedMemory {
        AbandonedMemory {
            keep_for: self.config.abandoned_memory(),
            per_section: self.config.abandoned_per_section,
        }
    }

    /// How long after a claim or renewal starts this instance may serve: the
    /// lease less a fifth, a margin for clock drift between instances.
    fn serving_window(&self) -> Duration {
        self.config.lease() * 4 / 5
    }

    /// Renews the lease of every section held here; drops those lost.
    pub async fn renew_leases(&self) {
        for (id, section) in self.sections.iter().enumerate() {
            let mut section = section.lock().await;
            let Some(mut claim) = section.claim else {
                continue;
            };
            let started = Instant::now();
            if started >= claim.serve_until {
                section.reset();
                continue;
            }
            let until = now_ms() + self.config.lease_ms as i64;
            match self.store.renew_lease(id as u32, claim.epoch, until).await {
                Ok(()) => {
                    claim.serve_until = started + self.serving_window();
                    section.claim = Some(claim);
                }
                Err(e) => {
                    tracing::warn!(section = id, error = %e, "lease renewal failed");
                    if matches!(e, StorageError::Fenced { .. }) {
                        section.reset();
                    }
                }
            }
        }
    }

    /// Renews leases every third of the lease until the task is dropped.
    pub fn spawn_lease_keeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let period = self.config.lease() / 3;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.renew_leases().await;
            }
        })
    }

    fn lost_section(&self, section_id: u32, section: &mut Section, e: StorageError) -> Error {
        tracing::warn!(section = section_id, error = %e, "lost section ownership");
        section.reset();
        Error::from(e)
    }

    fn group_by_section<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> BTreeMap<u32, Vec<usize>> {
        let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, key) in keys.into_iter().enumerate() {
            groups
                .entry(section_of(key, self.config.sections))
                .or_default()
                .push(i);
        }
        groups
    }
}
