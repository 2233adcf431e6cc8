//! The ScyllaDB backend of Tidings' storage: [`ScyllaStore`] implements every
//! trait of `tidings-storage` over CQL (the distributed shape of DESIGN §2),
//! and [`migrate`] applies the versioned schema in `schema/`. It speaks
//! portable CQL, so Apache Cassandra serves as well; ScyllaDB-only table
//! options are chosen at migrate time. It passes the same conformance suite
//! as the embedded store.
//!
//! What it must never do: filter server-side (ALLOW FILTERING), read or write
//! without binding a table's whole partition key (one documented exception:
//! the small `seq_sections` scan behind the routing table), use a lightweight
//! transaction anywhere but `seq_sections` and `groups` (creation and size
//! mode, never on the message path), send an unprepared statement on a
//! data path, read a range without paging, or let a partition grow without
//! bound (timelines are split into buckets of seqs). Like the embedded store,
//! it knows tables, not protocols: it never validates requests or decides who
//! may read what. `README.md` beside this crate describes the schema.

mod checkpoints;
mod codec;
mod column_additions;
mod config;
mod conversations;
mod dedupe;
mod driver_errors;
mod groups;
mod inbox;
mod lwt;
mod message_events;
mod messages;
mod push_tokens;
mod schema;
mod sections;
mod session;
mod statements;
mod store;

pub use config::ScyllaConfig;
pub use schema::{LATEST_VERSION, MIGRATIONS, Migration, MigrationReport, ServerKind, migrate};
pub use store::ScyllaStore;

use tidings_storage::StorageError;
