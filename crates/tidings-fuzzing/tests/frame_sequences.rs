//! Random frame sequences against a real in-process server over WebSocket,
//! with the connection target's checks, on the stable toolchain.
//!
//! proptest draws the bytes and the script format reads them, so this test
//! and the fuzz target share one generator, and a failure shrinks to a
//! short script (a shorter byte string is a script of fewer operations).

use proptest::prelude::*;
use tidings_fuzzing::connection;

proptest! {
    // A few dozen scripts take seconds; the fuzz target runs millions.
    #![proptest_config(ProptestConfig {
        cases: 32,
        // A failure prints its script; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_is_answered_once_and_the_server_survives(
        bytes in proptest::collection::vec(any::<u8>(), 0..768),
    ) {
        connection::run_bytes(&bytes);
    }
}
