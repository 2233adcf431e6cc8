//! A cluster that cannot be reached is an outage, not a bug: connecting to
//! contact points where nothing listens fails as `StorageError::Unavailable`,
//! which callers answer with `UNAVAILABLE` (retry), never `INTERNAL`.

use tidings_storage::StorageError;
use tidings_storage_scylla::{ScyllaConfig, ScyllaStore};

#[tokio::test]
async fn connecting_to_a_node_that_is_down_is_unavailable() {
    // A port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ScyllaConfig {
        contact_points: vec![format!("127.0.0.1:{port}")],
        request_timeout_ms: 2_000,
        ..ScyllaConfig::default()
    };
    let error = match ScyllaStore::connect(&config).await {
        Ok(_) => panic!("connected to a node that is not there"),
        Err(error) => error,
    };
    assert!(
        matches!(error, StorageError::Unavailable(_)),
        "a refused connection is unavailable, got {error:?}"
    );
    let code = tidings_core::Error::from(error).code;
    assert_eq!(code, tidings_core::ErrorCode::Unavailable);
}
