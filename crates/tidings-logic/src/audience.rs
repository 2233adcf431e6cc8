//! Who a message goes to, and how (DESIGN §1: write or read diffusion).

use tidings_core::{GroupId, UserId};

/// How a message reaches the members of its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Diffusion {
    /// Written to every member's inbox.
    Write,
    /// Only in the store timeline (large groups).
    Read,
}

/// The members a message goes to and how.
#[derive(Debug, Clone)]
pub(crate) struct Audience {
    /// The recipients; for a large group's messages left empty and listed
    /// after the ack, by the push (see `push_group`).
    pub members: Vec<UserId>,
    pub diffusion: Diffusion,
    /// Push to every member of this group, listed after the ack.
    pub push_group: Option<GroupId>,
}
