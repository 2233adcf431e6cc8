//! Where the CQL node of these tests is, and a config for a test keyspace.
//!
//! `TIDINGS_TEST_SCYLLA` (a reachable ScyllaDB `host:port`) wins; otherwise
//! `TIDINGS_TEST_CQL`, by default the Cassandra node that
//! `scripts/cassandra.sh start` runs on 127.0.0.1:19042. When nothing answers
//! the tests fail, saying how to start one: they never pass silently.

#![allow(dead_code)]

use std::net::ToSocketAddrs;
use std::time::Duration;

use tidings_storage_scylla::{MigrationReport, ScyllaConfig, ServerKind, migrate};

const DEFAULT_CQL: &str = "127.0.0.1:19042";

/// The node under test and the variable that named it.
pub fn contact_point() -> (String, &'static str) {
    for variable in ["TIDINGS_TEST_SCYLLA", "TIDINGS_TEST_CQL"] {
        if let Ok(address) = std::env::var(variable)
            && !address.trim().is_empty()
        {
            return (address.trim().to_string(), variable);
        }
    }
    (DEFAULT_CQL.to_string(), "default")
}

/// The server kind the tests expect: ScyllaDB only when named as such.
pub fn expected_server() -> ServerKind {
    match contact_point().1 {
        "TIDINGS_TEST_SCYLLA" => ServerKind::ScyllaDb,
        _ => ServerKind::Cassandra,
    }
}

/// A config for `keyspace` on the node under test, after checking that the
/// node accepts connections.
pub fn test_config(keyspace: &str) -> ScyllaConfig {
    let (address, source) = contact_point();
    require_listening(&address, source);
    ScyllaConfig {
        contact_points: vec![address],
        keyspace: keyspace.to_string(),
        // Generous for a loaded 2-core machine; the test node's own
        // timeouts are 10 s.
        request_timeout_ms: 30_000,
        ..ScyllaConfig::default()
    }
}

/// Runs `migrate`, failing the test with the reason when it cannot.
pub async fn migrate_or_fail(config: &ScyllaConfig) -> MigrationReport {
    match migrate(config).await {
        Ok(report) => report,
        Err(error) => panic!(
            "migrate of keyspace {} on {} failed: {error}\n{}",
            config.keyspace,
            config.contact_points.join(","),
            HOW_TO_START
        ),
    }
}

const HOW_TO_START: &str = "start the test node with `scripts/cassandra.sh start` \
    (or set TIDINGS_TEST_SCYLLA=host:port to a reachable ScyllaDB)";

fn require_listening(address: &str, source: &str) {
    let reachable = address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok()
        });
    assert!(
        reachable,
        "no CQL node answers at {address} (from {source}): {HOW_TO_START}"
    );
}
