//! The tables of DESIGN §3 as traits. Every backend (embedded, ScyllaDB) implements
//! all of them and passes `crate::conformance` unchanged.
//!
//! Conventions shared by every method:
//! * a method returns only once what it wrote is durable;
//! * ranges are half-open on the left (`after < seq`) and closed on the right
//!   (`seq <= up_to`), as the sync protocol is;
//! * range reads take a [`PageLimit`]: a count (at most `MAX_PAGE`) and a
//!   byte budget; a page cut by either says `has_more`, and holds at least
//!   one item when the range has one.

use std::time::Duration;

use async_trait::async_trait;
use tidings_core::{InboxEntry, Message, Seq};

use crate::{PageLimit, StorageError};

/// Largest page any read returns.
pub const MAX_PAGE: usize = 1000;

/// Most messages one [`MessageStore::count_messages`] looks at. Larger than a
/// page because a count reads only senders, never bodies.
pub const MAX_COUNT: usize = 10_000;

/// One page of a range read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// More items exist in the requested range beyond this page.
    pub has_more: bool,
}

/// Store timelines: one per conversation, kept forever.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Persists messages at `(conversation_id, conv_seq)`. Writing the same key
    /// again overwrites it (appends are idempotent for retried writes).
    async fn append_messages(&self, messages: &[Message]) -> Result<(), StorageError>;

    /// Removes the rows at `(conversation_id, conv_seq)` (absent ones are
    /// ignored). Used only for seqs that were abandoned, which no other
    /// message can ever hold.
    async fn delete_messages(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError>;

    /// Messages of `conversation` with `after < conv_seq <= up_to` (no upper
    /// bound when `up_to` is `None`), oldest first, within `limit`.
    async fn read_messages(
        &self,
        conversation: &str,
        after: Seq,
        up_to: Option<Seq>,
        limit: PageLimit,
    ) -> Result<Page<Message>, StorageError>;

    /// Messages of `conversation` with `conv_seq < before` (all when `None`),
    /// newest first, within `limit`: roaming history.
    async fn read_history(
        &self,
        conversation: &str,
        before: Option<Seq>,
        limit: PageLimit,
    ) -> Result<Page<Message>, StorageError>;

    /// How many of the first `limit` messages (clamped to `MAX_COUNT`) of
    /// `conversation` with `after < conv_seq <= up_to`, oldest first, were
    /// not sent by `except_sender`: unread counts. Counting rows, not seqs,
    /// keeps the answer exact across the gaps restarts and abandoned seqs
    /// leave in a timeline.
    async fn count_messages(
        &self,
        conversation: &str,
        after: Seq,
        up_to: Seq,
        except_sender: &str,
        limit: usize,
    ) -> Result<u64, StorageError>;

    /// Indexes event messages (edits, reactions, ...) under the conv seq of
    /// the message each one names: `(target_seq, event)`, keyed
    /// `(conversation, target_seq, event.conv_seq)`. Writing the same key
    /// again overwrites it, so a retried append stores each event once. The
    /// caller has appended the events as messages too; this table only
    /// finds them by target.
    async fn append_events(&self, events: &[(Seq, Message)]) -> Result<(), StorageError>;

    /// Indexed events of `conversation` whose target seq lies in
    /// `first..=last`, ordered by target seq, then event seq (the order to
    /// fold them in), at most `limit` (clamped to `MAX_COUNT`); `has_more`
    /// says some were left out.
    async fn read_events(
        &self,
        conversation: &str,
        first: Seq,
        last: Seq,
        limit: usize,
    ) -> Result<Page<(Seq, Message)>, StorageError>;
}

/// A page of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    pub entries: Vec<InboxEntry>,
    pub has_more: bool,
    /// Some entry with `after < seq` may have expired: the reader must recover
    /// through roaming. Conservative: may be true while an entry is still
    /// readable, never false once one is gone.
    pub truncated: bool,
}

/// Sync timelines (inboxes): one per user, entries expire after a TTL.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Appends entries to the named users' inboxes. Each expires `ttl` after
    /// this call. Entries are never overwritten with different content.
    async fn append_inbox(
        &self,
        entries: &[(String, InboxEntry)],
        ttl: Duration,
    ) -> Result<(), StorageError>;

    /// Removes the entries at `(user, seq)` (absent ones are ignored). Used
    /// only for seqs that were abandoned, which no other entry can ever hold.
    async fn delete_inbox(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError>;

    /// Unexpired entries of `user`'s inbox with `after < seq <= up_to`, oldest
    /// first, within `limit`; `truncated` as documented on [`InboxPage`].
    async fn read_inbox(
        &self,
        user: &str,
        after: Seq,
        up_to: Seq,
        limit: PageLimit,
    ) -> Result<InboxPage, StorageError>;
}

/// Persisted allocator state of one section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionState {
    /// Every seq handed out for a key of this section is at or below it.
    pub max_seq: Seq,
    /// Owner epoch: writes carrying another epoch are refused.
    pub epoch: u64,
    /// The allocator instance holding the section, as `<instance>@<address>`:
    /// a stable instance name, then where to reach it now.
    pub owner: String,
    /// The owner may serve the section until then (ms since the Unix epoch);
    /// after it, another instance may claim it.
    pub lease_until_ms: i64,
}

/// Allocator state per section (DESIGN §4), owned by one allocator instance
/// at a time under a lease. Times are passed in (`now_ms`) so that callers
/// decide the clock and tests can move it.
#[async_trait]
pub trait SectionStore: Send + Sync {
    /// Takes `section` for `owner` until `now_ms + lease_ms`, with an epoch one
    /// above any before it, if the section was never claimed, is already held
    /// by the same instance (see [`same_instance`]: a restarted instance takes
    /// its sections back at once, whatever its new address), or its lease ended
    /// at or before `now_ms`. Otherwise fails with
    /// [`StorageError::Owned`]. Any writer holding an older epoch is fenced from
    /// then on.
    async fn claim_section(
        &self,
        section: u32,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<SectionState, StorageError>;

    /// Extends the lease of the holder of `epoch` to `lease_until_ms` (never
    /// shortens it). Fails with [`StorageError::Fenced`] if another epoch holds
    /// the section.
    async fn renew_lease(
        &self,
        section: u32,
        epoch: u64,
        lease_until_ms: i64,
    ) -> Result<(), StorageError>;

    /// Raises the section's `max_seq` to `max_seq` if `epoch` still owns it.
    /// Never lowers it. Fails with [`StorageError::Fenced`] when another epoch
    /// has claimed the section.
    async fn advance_max_seq(
        &self,
        section: u32,
        epoch: u64,
        max_seq: Seq,
    ) -> Result<(), StorageError>;

    /// Gives the section up: if `epoch` still holds it, clears its owner and
    /// ends its lease now, keeping `max_seq` and the epoch. Anyone may claim
    /// it at once, and since the holder stopped serving it before releasing,
    /// the next claim may answer heads without waiting for a commit deadline
    /// (a released row has an empty `owner`). Fails with
    /// [`StorageError::Fenced`] if another epoch holds the section.
    async fn release_section(&self, section: u32, epoch: u64) -> Result<(), StorageError>;

    /// Current persisted state of one section.
    async fn load_section(&self, section: u32) -> Result<Option<SectionState>, StorageError>;

    /// Every claimed section, ordered by number: the routing table of which
    /// instance serves which section.
    async fn list_sections(&self) -> Result<Vec<(u32, SectionState)>, StorageError>;
}

/// Whether two section owners (`<instance>@<address>`) name the same
/// allocator instance.
pub fn same_instance(a: &str, b: &str) -> bool {
    fn instance(owner: &str) -> &str {
        owner
            .split_once('@')
            .map_or(owner, |(instance, _)| instance)
    }
    instance(a) == instance(b)
}

/// Where a send stands, as its dedupe record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupeState {
    /// Seqs are allocated and recorded; the message may be partly written and
    /// is not known to be committed. A retry finishes this attempt.
    Reserved,
    /// The message's seqs were committed: it is visible at exactly these seqs.
    Committed,
}

/// The key of a dedupe record: the sender and the client's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupeKey {
    pub sender: String,
    pub client_msg_id: String,
}

/// What a send reserved or stored, recorded under `(sender, client_msg_id)`
/// durably *before* the message is written anywhere (DESIGN §9), so that a
/// retry after any crash finds this attempt's seqs and finishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeRecord {
    pub conversation_id: String,
    pub message_id: String,
    pub created_at_ms: i64,
    /// The message's seq in its conversation's store timeline.
    pub conv_seq: Seq,
    /// The inbox seq of each recipient (write diffusion; empty for read
    /// diffusion), as `(user, seq)`.
    pub inbox_seqs: Vec<(String, Seq)>,
    pub state: DedupeState,
    /// Seqs of an earlier try of the same message that were abandoned: the
    /// rows written there (if any) are removed before the message is written
    /// at its new seqs, so history and inboxes hold it once.
    pub stale_conv_seqs: Vec<Seq>,
    pub stale_inbox_seqs: Vec<(String, Seq)>,
}

/// Makes Send idempotent: `(sender, client_msg_id)` to what was reserved or
/// stored. Batched: one call per batch of sends.
#[async_trait]
pub trait DedupeStore: Send + Sync {
    /// The unexpired record of each key, in key order (`None` where there is
    /// none).
    async fn get_dedupe(
        &self,
        keys: &[DedupeKey],
    ) -> Result<Vec<Option<DedupeRecord>>, StorageError>;

    /// Writes (or overwrites) every record; each expires `ttl` after this
    /// call. All records are durable when it returns.
    async fn put_dedupe(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError>;

    /// Like [`DedupeStore::put_dedupe`], but the records need only be durable
    /// no later than any write made, to this backend's tables, after this
    /// returns. A backend with one ordered journal for every table (the
    /// embedded store) may return before syncing: the next write that is
    /// waited for carries the records to disk first. The send path uses it
    /// for reservations (its row writes follow) and for committed marks
    /// (nothing waits for them: a retry that finds only the reservation
    /// learns the same from the allocator). Every other backend waits, as
    /// `put_dedupe` does.
    async fn put_dedupe_ordered(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        self.put_dedupe(records, ttl).await
    }
}

/// A device's recorded checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCheckpoint {
    pub device_id: String,
    pub checkpoint: Seq,
    pub updated_at_ms: i64,
}

/// Server-side record of device checkpoints (informational only).
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Records a device's checkpoint. A checkpoint lower than the recorded one
    /// is ignored: the record only moves forward.
    async fn put_checkpoint(
        &self,
        user: &str,
        device: &str,
        checkpoint: Seq,
        updated_at_ms: i64,
    ) -> Result<(), StorageError>;

    /// Every recorded device of `user`, ordered by device id.
    async fn list_checkpoints(&self, user: &str) -> Result<Vec<DeviceCheckpoint>, StorageError>;
}
