//! Metrics for every table of any backend, as a decorator:
//! [`Tables::instrumented`](crate::Tables::instrumented) wraps each table so
//! that every call records how long it took and whether it failed, through
//! the `metrics` facade (a no-op until the binary installs a recorder).
//!
//! Every method of every table trait is forwarded explicitly, so a backend's
//! own implementation is always the one called. The decorator never changes
//! arguments or results.

mod groups;
mod push_tokens;
mod stores;

use std::sync::Arc;
use std::time::Instant;

use crate::{StorageError, Tables};

/// Histogram of the duration of each table operation, in seconds, labelled
/// `backend`, `table` and `op`.
pub const OPERATION_DURATION: &str = "tidings_storage_operation_duration_seconds";

/// Counter of table operations that returned an error, labelled `backend`,
/// `table` and `op`.
pub const ERRORS: &str = "tidings_storage_errors_total";

/// Registers the unit and help text of the storage metrics with the installed
/// recorder; call once after installing it.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        OPERATION_DURATION,
        metrics::Unit::Seconds,
        "Duration of storage table operations."
    );
    metrics::describe_counter!(ERRORS, "Storage table operations that returned an error.");
}

/// One table of one backend, with its metric labels.
struct Instrumented<S: ?Sized> {
    inner: Arc<S>,
    backend: &'static str,
    table: &'static str,
}

impl<S: ?Sized> Instrumented<S> {
    fn wrap(inner: Arc<S>, backend: &'static str, table: &'static str) -> Arc<Self> {
        Arc::new(Instrumented {
            inner,
            backend,
            table,
        })
    }

    /// Awaits `call`, the inner table's `op`, and records its duration and,
    /// if it failed, an error.
    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let started = Instant::now();
        let result = call.await;
        let elapsed = started.elapsed().as_secs_f64();
        let (backend, table) = (self.backend, self.table);
        metrics::histogram!(OPERATION_DURATION, "backend" => backend, "table" => table, "op" => op)
            .record(elapsed);
        if result.is_err() {
            metrics::counter!(ERRORS, "backend" => backend, "table" => table, "op" => op)
                .increment(1);
        }
        result
    }
}

/// Every table of `tables`, instrumented with the label `backend`.
pub(crate) fn instrument(tables: Tables, backend: &'static str) -> Tables {
    Tables {
        messages: Instrumented::wrap(tables.messages, backend, "messages"),
        inbox: Instrumented::wrap(tables.inbox, backend, "inbox"),
        sections: Instrumented::wrap(tables.sections, backend, "sections"),
        dedupe: Instrumented::wrap(tables.dedupe, backend, "dedupe"),
        checkpoints: Instrumented::wrap(tables.checkpoints, backend, "checkpoints"),
        groups: Instrumented::wrap(tables.groups, backend, "groups"),
        conversations: Instrumented::wrap(tables.conversations, backend, "conversations"),
        push_tokens: Instrumented::wrap(tables.push_tokens, backend, "push_tokens"),
    }
}

#[cfg(test)]
mod tests;
