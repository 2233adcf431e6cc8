//! The conformance suite every storage backend must pass, written once.
//!
//! Each test body is a public async function taking the backend's
//! [`Tables`](crate::Tables); [`storage_conformance_tests!`](crate::storage_conformance_tests)
//! turns all of them into `#[tokio::test]`s for one backend. Bodies use fresh,
//! unique ids (conversations, users, sections) so that they also pass against
//! a long-lived shared database (a CQL keyspace reused across runs), and they
//! assert exact values so that a wrong backend fails.
//!
//! Test bodies panic on failure, like any test.

mod checkpoints;
mod conversations;
mod dedupe;
mod groups;
mod inbox;
mod message_counts;
mod message_events;
mod messages;
mod page_bytes;
mod push_tokens;
mod sections;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings_core::{ConversationId, DeviceId, InboxEntry, Message, MessageId, Seq, UserId};

pub use checkpoints::*;
pub use conversations::*;
pub use dedupe::*;
pub use groups::*;
pub use inbox::*;
pub use message_counts::*;
pub use message_events::*;
pub use messages::*;
pub use page_bytes::*;
pub use push_tokens::*;
pub use sections::*;

/// Generates one `#[tokio::test]` per conformance test body.
///
/// The argument is an expression evaluating to a future that yields
/// `(Tables, guard)`: fresh tables for one test and whatever must stay alive
/// while it runs (a temporary directory, a connection; `()` if nothing). It
/// is evaluated once per test. The calling crate needs `tokio` with the
/// `macros` and `rt` features.
///
/// ```no_run
/// use tidings_storage::{Tables, embedded::EmbeddedStore};
///
/// async fn fresh_tables() -> (Tables, tempfile::TempDir) {
///     let dir = tempfile::tempdir().unwrap();
///     let store = EmbeddedStore::open(dir.path()).unwrap();
///     (Tables::from_backend(store), dir)
/// }
///
/// tidings_storage::storage_conformance_tests!(fresh_tables());
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! storage_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::storage_conformance_tests!(@each $factory;
            messages_read_range_after_up_to_limit,
            messages_page_is_clamped_to_max_page,
            messages_isolated_between_prefix_conversations,
            messages_reappend_is_idempotent,
            messages_history_pages_newest_first,
            messages_round_trip_every_field,
            messages_concurrent_appends_all_land,
            messages_delete_as_if_never_written,
            messages_pages_cut_by_bytes,
            messages_byte_cut_pages_join_up,
            messages_count_rows_not_seqs,
            messages_count_is_clamped_to_max_count,
            message_events_by_target_in_fold_order,
            inbox_read_range_limit_and_order,
            inbox_page_is_clamped_to_max_page,
            inbox_isolated_between_prefix_users,
            inbox_reappend_is_idempotent,
            inbox_expired_entries_are_gone_and_reported,
            inbox_expiry_reported_without_later_appends,
            inbox_not_truncated_without_expiry,
            inbox_delete_as_if_never_written,
            inbox_delete_keeps_expiry_reported,
            inbox_pages_cut_by_bytes,
            sections_claim_increments_epoch,
            sections_stale_epoch_is_fenced,
            sections_max_seq_never_lowers,
            sections_are_independent_and_listed,
            sections_lease_decides_who_may_claim,
            sections_renew_extends_lease,
            sections_restarted_instance_reclaims_at_once,
            sections_release_frees_the_section_at_once,
            sections_concurrent_claims_get_distinct_epochs,
            dedupe_put_then_get,
            dedupe_expires_after_ttl,
            dedupe_batch_mixes_present_absent_and_expired,
            dedupe_reserved_then_committed_overwrites,
            dedupe_round_trips_every_field,
            checkpoints_move_forward_only,
            checkpoints_listed_by_device,
            groups_create_keeps_the_first,
            groups_concurrent_creates_one_wins,
            groups_large_flag_changes_only_itself,
            groups_membership_both_directions,
            groups_role_update_keeps_join_time,
            groups_list_members_pages,
            groups_member_page_is_clamped_to_max_page,
            groups_isolated_between_prefix_ids,
            conversations_touch_moves_forward_only,
            conversations_touch_many_users_at_once,
            conversations_touch_batch_highest_seq_wins,
            conversations_set_read_forward_only_and_independent,
            conversations_listed_by_update_time,
            conversations_isolated_between_prefix_ids,
            push_tokens_replace_per_device,
            push_tokens_remove_reports_presence,
            push_tokens_batched_in_user_order,
            push_tokens_isolated_between_users,
        );
    };
    (@each $factory:expr; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (tables, _guard) = $factory.await;
                $crate::conformance::$test(&tables).await;
            }
        )+
    };
}

/// A TTL that does not run out during a test.
pub const LONG_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The shortest TTL the suite uses, and how long to sleep to outlive it.
pub const SHORT_TTL: Duration = Duration::from_secs(1);
pub const PAST_SHORT_TTL: Duration = Duration::from_millis(1500);

/// An id no other test (in this run or an earlier one) uses: `prefix` plus a
/// per-run tag and a counter. Only characters valid in Tidings ids.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static RUN: OnceLock<u64> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (nanos ^ u64::from(std::process::id()).rotate_left(40)) & 0xff_ffff_ffff
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}.{run:x}.{n}")
}

/// A conversation id no other test uses: a group conversation
/// `g:conv.<run>.<n>`, to which any id characters may be appended.
pub fn unique_conversation() -> String {
    format!("g:{}", unique_id("conv"))
}

/// A section number no other test uses (derived from [`unique_id`]).
pub fn unique_section() -> u32 {
    // FNV-1a: stable, and spreads consecutive ids over the u32 space.
    unique_id("section").bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Message `conv_seq` of `conversation`, with every field set and a body that
/// contains zero bytes.
pub fn message(conversation: &str, conv_seq: Seq) -> Message {
    Message {
        message_id: MessageId::parse(&format!("msg-{conversation}-{conv_seq}")).unwrap(),
        conversation_id: conversation_id(conversation),
        conv_seq,
        sender_id: UserId::parse("alice").unwrap(),
        sender_device: DeviceId::parse("phone").unwrap(),
        client_msg_id: format!("client-{conv_seq}"),
        kind: "text".to_string(),
        body: [b"body\0".as_slice(), &conv_seq.to_be_bytes()].concat(),
        created_at_ms: 1_700_000_000_000 + conv_seq as i64,
    }
}

/// Inbox entry `seq` pointing at message `conv_seq` of `conversation`.
pub fn inbox_entry(seq: Seq, conversation: &str, conv_seq: Seq) -> InboxEntry {
    InboxEntry {
        seq,
        conversation_id: conversation_id(conversation),
        conv_seq,
        message: message(conversation, conv_seq),
    }
}

/// `conversation` parsed; the suite only makes valid ones.
pub fn conversation_id(conversation: &str) -> ConversationId {
    ConversationId::parse(conversation)
        .unwrap_or_else(|e| panic!("the suite's conversation id {conversation:?}: {e}"))
}

/// The conv seqs of messages, for compact assertions.
pub fn conv_seqs(messages: &[Message]) -> Vec<Seq> {
    messages.iter().map(|m| m.conv_seq).collect()
}

/// The seqs of inbox entries, for compact assertions.
pub fn inbox_seqs(entries: &[InboxEntry]) -> Vec<Seq> {
    entries.iter().map(|e| e.seq).collect()
}
