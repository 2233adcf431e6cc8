//! Storage for Tidings: one trait per table of DESIGN §3 (`traits`,
//! `groups_traits` for groups and conversation lists, and
//! `push_tokens_traits` for devices' push tokens), an embedded on-disk
//! backend on fjall (`embedded`) for the all-in-one shape, and a conformance
//! suite (`conformance`) that every backend runs unchanged. Any backend's
//! tables can be wrapped to record metrics (`instrumented`).
//!
//! This crate knows tables, not protocols: it never validates requests or
//! decides who may read what.

pub mod conformance;
pub mod embedded;
mod groups_traits;
pub mod instrumented;
mod page;
mod push_tokens_traits;
mod traits;

use std::sync::Arc;

pub use groups_traits::*;
pub use page::{PageBuilder, PageItem, PageLimit};
pub use push_tokens_traits::*;
pub use traits::*;

/// Errors of a storage backend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// Another allocator epoch owns the section.
    #[error("section {section} is owned by epoch {current}, not {attempted}")]
    Fenced {
        section: u32,
        attempted: u64,
        current: u64,
    },
    /// Another instance holds the section's lease.
    #[error("section {section} is held by {owner} until {lease_until_ms} ms")]
    Owned {
        section: u32,
        owner: String,
        lease_until_ms: i64,
    },
    /// Stored bytes could not be decoded.
    #[error("corrupt record in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The backend could not be reached or did not answer in time (network,
    /// timeout, node down or overloaded, disk I/O). The operation may or may
    /// not have taken effect; retrying it later is expected to succeed.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// The backend failed in a way a retry will not fix (a refused
    /// statement, a bad schema, an impossible state): a bug or a
    /// misconfiguration.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<StorageError> for tidings_core::Error {
    fn from(e: StorageError) -> Self {
        match e {
            // Transient: the client retries with the same client_msg_id, and
            // a message that was in fact stored is then found, not lost.
            StorageError::Fenced { .. }
            | StorageError::Owned { .. }
            | StorageError::Unavailable(_) => tidings_core::Error::unavailable(e.to_string()),
            StorageError::Corrupt { .. } | StorageError::Backend(_) => {
                tidings_core::Error::internal(e.to_string())
            }
        }
    }
}

/// Every table of one backend, as the services use them.
#[derive(Clone)]
pub struct Tables {
    pub messages: Arc<dyn MessageStore>,
    pub inbox: Arc<dyn InboxStore>,
    pub sections: Arc<dyn SectionStore>,
    pub dedupe: Arc<dyn DedupeStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub groups: Arc<dyn GroupStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub push_tokens: Arc<dyn PushTokenStore>,
}

impl Tables {
    /// All tables served by one backend value.
    pub fn from_backend<B>(backend: Arc<B>) -> Self
    where
        B: MessageStore
            + InboxStore
            + SectionStore
            + DedupeStore
            + CheckpointStore
            + GroupStore
            + ConversationStore
            + PushTokenStore
            + 'static,
    {
        Tables {
            messages: backend.clone(),
            inbox: backend.clone(),
            sections: backend.clone(),
            dedupe: backend.clone(),
            checkpoints: backend.clone(),
            groups: backend.clone(),
            conversations: backend.clone(),
            push_tokens: backend,
        }
    }

    /// The same tables, each call recording its duration and any error under
    /// the label `backend` (e.g. `embedded`, `scylla`); see
    /// [`crate::instrumented`].
    pub fn instrumented(self, backend: &'static str) -> Tables {
        instrumented::instrument(self, backend)
    }
}

#[cfg(test)]
mod tests {
    use tidings_core::ErrorCode;

    use super::*;

    #[test]
    fn only_transient_failures_reach_callers_as_unavailable() {
        let code = |e: StorageError| tidings_core::Error::from(e).code;
        assert_eq!(
            code(StorageError::Unavailable("node down".into())),
            ErrorCode::Unavailable
        );
        let fenced = StorageError::Fenced {
            section: 1,
            attempted: 2,
            current: 3,
        };
        assert_eq!(code(fenced), ErrorCode::Unavailable);
        let corrupt = StorageError::Corrupt {
            table: "inbox",
            detail: "bad bytes".into(),
        };
        assert_eq!(code(corrupt), ErrorCode::Internal);
        assert_eq!(
            code(StorageError::Backend("syntax error".into())),
            ErrorCode::Internal
        );
    }
}
