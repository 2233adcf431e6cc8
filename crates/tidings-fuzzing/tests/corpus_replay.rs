//! Replays every checked-in corpus file of both fuzz targets through the
//! same functions the targets call, on the stable toolchain: what fuzzing
//! found worth keeping stays a regression test of plain `cargo test`.

use tidings_fuzzing::{connection, corpus, frame_decode};

#[test]
fn frame_decode_corpus_replays_clean() {
    let inputs = corpus::inputs(corpus::FRAME_DECODE);
    assert!(!inputs.is_empty(), "the frame_decode corpus is empty");
    for (path, bytes) in inputs {
        eprintln!("replaying {}", path.display());
        frame_decode::check(&bytes);
    }
}

#[test]
fn connection_corpus_replays_clean() {
    let inputs = corpus::inputs(corpus::CONNECTION);
    assert!(!inputs.is_empty(), "the connection corpus is empty");
    for (path, bytes) in inputs {
        eprintln!("replaying {}", path.display());
        connection::run_bytes(&bytes);
    }
}
