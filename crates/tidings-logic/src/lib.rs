//! The logic service: everything a send means. It checks that the sender may
//! write to the conversation, makes the send idempotent per client_msg_id,
//! allocates seqs, stores the message in the conversation's store timeline and
//! then in every member's inbox, commits the seqs so heads move on, and only
//! then acknowledges. Pushes to online devices follow, routed through the
//! registry, one call per gateway.
//!
//! Logic holds no connections and no timelines of its own.

mod config;
mod groups;
mod membership;
mod push;
mod reads;
mod rooms;
mod send;
mod service;

pub use config::LogicConfig;
pub use groups::MEMBERS_KIND;
pub use push::PushRouter;
pub use reads::READ_KIND;
pub use service::{Backends, LogicServer};
