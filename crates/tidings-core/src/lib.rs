//! Domain types of Tidings (ids, seqs, messages, inbox entries), their validation,
//! and the error codes every service shares.
//!
//! Types here are plain Rust; conversions to and from the generated proto types
//! happen at the edges (`convert`). This crate must never do I/O.

pub mod convert;
pub mod error;
pub mod events;
pub mod ids;
pub mod message;
pub mod wire;

pub use error::{Error, ErrorCode, Result};
pub use ids::{ConversationId, DeviceId, GroupId, RoomId, TimelineKey, UserId};
pub use message::{InboxEntry, Message, MessageId, Seq, message_id_for, now_ms};
