//! Arbitrary bytes as a client frame: see `tidings_fuzzing::frame_decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    tidings_fuzzing::frame_decode::check(bytes);
});
