//! Where the checked-in corpus lives and how to read it, for the replay
//! under plain `cargo test` and for the seed writer.

use std::path::PathBuf;

/// The frame decoding target's name (its binary and corpus directory).
pub const FRAME_DECODE: &str = "frame_decode";
/// The connection state machine target's name.
pub const CONNECTION: &str = "connection";

/// `fuzz/corpus/<target>` at the repository root.
pub fn dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Every file of a target's corpus with its bytes, in name order (so that a
/// failure names the same file each run).
pub fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = dir(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}
