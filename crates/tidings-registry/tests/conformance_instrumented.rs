//! The registry conformance suite on the in-process registry wrapped in the
//! metrics decorator: instrumenting a registry must not change what it does.

use std::sync::Arc;

use tidings_registry::{InProcessRegistry, Registry, instrumented};

async fn make() -> Arc<dyn Registry> {
    instrumented(Arc::new(InProcessRegistry::new()), "in_process")
}

tidings_registry::registry_conformance_tests!(make().await);
