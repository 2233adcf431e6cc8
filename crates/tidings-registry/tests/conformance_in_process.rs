//! The registry conformance suite on the in-process registry.

use std::sync::Arc;

use tidings_registry::{InProcessRegistry, Registry};

async fn make() -> Arc<dyn Registry> {
    Arc::new(InProcessRegistry::new())
}

tidings_registry::registry_conformance_tests!(make().await);
