//! Generated protobuf messages and gRPC stubs for every Tidings API.
//!
//! This crate holds wire types only. Domain types, validation and error
//! mapping live in `tidings-core`; nothing here should grow behaviour.

#![allow(clippy::all, missing_docs)]

/// Largest gRPC message, in bytes, that every Tidings server and client
/// encodes or decodes, set explicitly on each of them. tonic's default decode
/// limit of 4 MiB fails any bigger answer (a pull of 500 entries with 32 KiB
/// bodies is about 16 MiB) with an error no retry cures. Pages are cut by
/// bytes well below this; the limit is a backstop against a runaway message,
/// not a page size.
pub const MAX_GRPC_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Encoded `FileDescriptorSet` of all Tidings protos, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tidings_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("tidings.common.v1");
    }
}
pub mod client {
    pub mod v1 {
        tonic::include_proto!("tidings.client.v1");
    }
}
pub mod sequence {
    pub mod v1 {
        tonic::include_proto!("tidings.sequence.v1");
    }
}
pub mod store {
    pub mod v1 {
        tonic::include_proto!("tidings.store.v1");
    }
}
pub mod sync {
    pub mod v1 {
        tonic::include_proto!("tidings.sync.v1");
    }
}
pub mod logic {
    pub mod v1 {
        tonic::include_proto!("tidings.logic.v1");
    }
}
pub mod gateway {
    pub mod v1 {
        tonic::include_proto!("tidings.gateway.v1");
    }
}
pub mod server {
    pub mod v1 {
        tonic::include_proto!("tidings.server.v1");
    }
}
