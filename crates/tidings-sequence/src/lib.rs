//! The sequence service (DESIGN §4): hands out seqs for timeline keys
//! (`user:<id>`, `conv:<id>`) and keeps each key's **visible head**.
//!
//! Allocation follows WeChat's seqsvr: keys hash to sections, each section
//! persists a `max_seq` ahead of what it hands out, so a restart resumes above
//! every seq ever given. Allocation is not visibility: a seq stays *pending*
//! until its writer commits it or it is abandoned, and a timeline's head never
//! passes a pending seq. This crate must never read or write timelines
//! themselves; it only knows numbers.

mod allocator;
mod config;
mod section;
mod service;

pub use allocator::Allocator;
pub use config::SequenceConfig;
pub use service::SequenceServer;
pub use tidings_sequence_client::section_of;
