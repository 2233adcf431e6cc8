//! Compiles `proto/` with protox (a pure-Rust protobuf compiler) so that building
//! Tidings never needs a system `protoc`, and keeps the descriptor set for gRPC
//! reflection.

use std::path::PathBuf;

use prost::Message as _;

const FILES: &[&str] = &[
    "tidings/common/v1/common.proto",
    "tidings/client/v1/client.proto",
    "tidings/sequence/v1/sequence.proto",
    "tidings/store/v1/store.proto",
    "tidings/sync/v1/sync.proto",
    "tidings/logic/v1/logic.proto",
    "tidings/gateway/v1/gateway.proto",
    "tidings/server/v1/server.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let fds = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("tidings_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
