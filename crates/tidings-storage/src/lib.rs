//! Storage for Tidings: one trait per table of DESIGN §3 (`traits`, and
//! `groups_traits` for groups and conversation lists), an embedded on-disk
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
mod traits;

use std::sync::Arc;

pub use groups_traits::*;
pub use traits::*;

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
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
    /// The backend failed (I/O, network, server error).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<StorageError> for tidings_core::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Fenced { .. } | StorageError::Owned { .. } => {
                tidings_core::Error::unavailable(e.to_string())
            }
            other => tidings_core::Error::internal(other.to_string()),
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
            + 'static,
    {
        Tables {
            messages: backend.clone(),
            inbox: backend.clone(),
            sections: backend.clone(),
            dedupe: backend.clone(),
            checkpoints: backend.clone(),
            groups: backend.clone(),
            conversations: backend,
        }
    }

    /// The same tables, each call recording its duration and any error under
    /// the label `backend` (e.g. `embedded`, `scylla`); see
    /// [`crate::instrumented`].
    pub fn instrumented(self, backend: &'static str) -> Tables {
        instrumented::instrument(self, backend)
    }
}
