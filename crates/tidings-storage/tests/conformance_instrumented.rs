//! The conformance suite against the embedded store wrapped in the metrics
//! decorator: instrumenting tables must not change what they do.

use tempfile::TempDir;
use tidings_storage::Tables;
use tidings_storage::embedded::EmbeddedStore;

async fn fresh_tables() -> (Tables, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
    (Tables::from_backend(store).instrumented("embedded"), dir)
}

tidings_storage::storage_conformance_tests!(fresh_tables());
