//! Client SDK for the Tidings gateway, used by the command-line client, the
//! integration tests and the benchmark.
//!
//! Two layers:
//! - [`Connection`]: one WebSocket, one protobuf `ClientFrame`/`ServerFrame` per
//!   binary message. Requests get a fresh `request_id` and wait for the frame
//!   that echoes it; frames with request_id 0 (pushes, and errors the server
//!   could not tie to a request) are queued for [`Connection::next_push`]. Raw
//!   senders exist for testing how the server treats malformed input.
//! - [`Device`]: a connection plus the device-side sync rules, kept as a pure
//!   state machine in [`DeviceState`]:
//!   - the device keeps a `checkpoint`, the last inbox seq it has applied;
//!   - on (re)connect it sends `Hello` with the checkpoint, then pulls
//!     `after = checkpoint` until `has_more` is false; after each page the
//!     checkpoint becomes the last returned seq if `has_more`, else the head
//!     (moving across seqs that stayed empty), and never moves backwards;
//!   - a push with `seq <= checkpoint` is ignored; `seq == checkpoint + 1` is
//!     applied directly; a push further ahead is buffered and triggers a pull;
//!     buffered entries are applied once the checkpoint reaches them;
//!   - an entry whose message id was already applied is dropped (its seq is
//!     still passed);
//!   - a pull page with `truncated` means entries expired from the inbox: the
//!     caller recovers them through history.
//!
//! Typing and presence (ephemeral, per connection) are in the
//! `presence_requests` module: [`Connection::typing`],
//! [`Connection::presence_subscribe`], [`Connection::next_typing`],
//! [`Connection::next_presence`].
//!
//! [`Content`] reads a message by its kind: Tidings' own kinds (membership
//! changes, read positions) decoded, the application's left as bytes.
//!
//! Push is a hint and pull is the truth: nothing here ever moves the checkpoint
//! past a seq the server did not report as settled. The SDK must never decide
//! a user id (the server derives it from the token) and holds no durable
//! storage: persisting the checkpoint is the application's job.

pub mod connection;
pub mod content;
pub mod conversation_sync;
pub mod device;
pub mod device_state;
pub mod error;
mod group_requests;
mod message_event_requests;
mod presence_requests;
mod push_token_requests;
mod requests;
mod room_requests;

pub use connection::{CertificateDer, Connection, DEFAULT_REQUEST_TIMEOUT, Disconnect, trusting};
pub use content::{Content, MEMBERS_KIND};
pub use conversation_sync::{ConversationSync, READ_KIND};
pub use device::{DEFAULT_GAP_RETRY, Device, PullOutcome};
pub use device_state::{DeviceState, PushOutcome};
pub use error::{ClientError, Result};
pub use message_event_requests::target_of;
pub use requests::DEFAULT_COMPRESS_ABOVE;
/// The TLS library of [`Connection::connect_with_tls`], for building its config.
pub use rustls;
pub use tidings_core::events::{DELETE_KIND, EDIT_KIND, REACTION_KIND, RECALL_KIND};
pub use tidings_proto::client::v1 as proto;
pub use tidings_proto::common::v1::{InboxEntry, Message};

/// The development-mode token of a user: `dev:<user_id>`.
pub fn dev_token(user_id: &str) -> String {
    format!("dev:{user_id}")
}

/// Compiles the README's example.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;
