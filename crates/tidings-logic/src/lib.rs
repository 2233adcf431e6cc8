//! The logic service: everything a send means. It checks that the sender may
//! write to the conversation, makes the send idempotent per client_msg_id
//! (a durable reservation before anything is visible, DESIGN §9), allocates
//! seqs, stores the message in the conversation's store timeline and in every
//! member's inbox, commits the seqs so heads move on, and only then
//! acknowledges; all of it once per batch of sends. Pushes to online devices
//! follow in inbox-seq order per user, routed through the registry, batched
//! per gateway.
//!
//! Webhooks hang off the same path: before_send screens a batch before it
//! is written, commit events are enqueued in a durable outbox before the
//! answer, offline pushes follow the push look-up.
//!
//! Typing signals pass through here too, for the same membership check,
//! and are routed like pushes; they are never stored.
//!
//! Logic holds no connections and no timelines of its own.

mod answer_bytes;
mod attempt;
mod audience;
mod config;
mod deliver;
pub mod failpoint;
mod groups;
mod in_flight;
mod membership;
mod message_events;
mod offline_push;
mod push;
mod push_order;
mod push_tokens;
mod read_positions;
mod reads;
mod rooms;
mod send;
mod service;
mod typing;
mod webhooks;

pub use config::{AddMembersPolicy, LogicConfig};
pub use groups::MEMBERS_KIND;
pub use push::PushRouter;
pub use read_positions::READ_KIND;
pub use send::MAX_SEND_BATCH;
pub use service::{Backends, LogicServer};
pub use webhooks::LogicWebhooks;
