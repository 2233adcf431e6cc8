//! Random frame sequences on one connection to a real server: see
//! `tidings_fuzzing::connection`. The runtime and the server start once per
//! fuzz process, on the first input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_fuzzing::script::Script;

fuzz_target!(|script: Script| {
    tidings_fuzzing::connection::run(&script);
});
