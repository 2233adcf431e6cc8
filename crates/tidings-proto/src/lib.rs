//! Generated protobuf messages and gRPC stubs for every Tidings API.
//!
//! This crate holds wire types only. Domain types, validation and error
//! mapping live in `tidings-core`; nothing here should grow behaviour.

#![allow(clippy::all, missing_docs)]

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
