//! The client side of the sequence service (DESIGN §4): a typed router that
//! sends each key to the allocator instance owning its section, learning
//! owners from structured refusals. Callers (logic, sync) link this crate,
//! never the allocator itself.

mod router;
mod section;

pub use router::{CommitOutcome, SeqStatus, SequenceRouter, wrong_owner};
pub use section::section_of;
