//! Metrics for any [`Registry`], as a decorator: [`instrumented`] wraps a
//! registry so that every call records how long it took and whether it
//! failed, and look-ups also how many users they asked for, through the
//! `metrics` facade (a no-op until the binary installs a recorder).
//!
//! Every method is forwarded explicitly to the wrapped registry; arguments
//! and results pass through unchanged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{DeviceRoute, Presence, PresenceFeed, Registry, RegistryError};

/// Histogram of the duration of each registry operation, in seconds,
/// labelled `backend` and `op`.
pub const OPERATION_DURATION: &str = "tidings_registry_operation_duration_seconds";

/// Counter of registry operations that returned an error, labelled `backend`
/// and `op`.
pub const ERRORS: &str = "tidings_registry_errors_total";

/// Counter of batched look-ups, labelled `backend`.
pub const LOOKUPS: &str = "tidings_registry_lookups_total";

/// Counter of users asked for across all look-ups, labelled `backend`.
pub const LOOKED_UP_USERS: &str = "tidings_registry_looked_up_users_total";

/// Registers the unit and help text of the registry metrics with the
/// installed recorder; call once after installing it.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        OPERATION_DURATION,
        metrics::Unit::Seconds,
        "Duration of registry operations."
    );
    metrics::describe_counter!(ERRORS, "Registry operations that returned an error.");
    metrics::describe_counter!(LOOKUPS, "Batched registry look-ups.");
    metrics::describe_counter!(LOOKED_UP_USERS, "Users asked for by registry look-ups.");
}

/// `inner`, each call recording its metrics under the label `backend`
/// (e.g. `in_process`, `redis`).
pub fn instrumented(inner: Arc<dyn Registry>, backend: &'static str) -> Arc<dyn Registry> {
    Arc::new(Instrumented { inner, backend })
}

struct Instrumented {
    inner: Arc<dyn Registry>,
    backend: &'static str,
}

impl Instrumented {
    /// Awaits `call`, the inner registry's `op`, and records its duration
    /// and, if it failed, an error.
    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let started = Instant::now();
        let result = call.await;
        let elapsed = started.elapsed().as_secs_f64();
        let backend = self.backend;
        metrics::histogram!(OPERATION_DURATION, "backend" => backend, "op" => op).record(elapsed);
        if result.is_err() {
            metrics::counter!(ERRORS, "backend" => backend, "op" => op).increment(1);
        }
        result
    }
}

#[async_trait]
impl Registry for Instrumented {
    async fn register(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let call = self.inner.register(user, device, gateway, ttl);
        self.timed("register", call).await
    }

    async fn unregister(
        &self,
        user: &str,
        device: &str,
        gateway: &str,
    ) -> Result<bool, RegistryError> {
        let call = self.inner.unregister(user, device, gateway);
        self.timed("unregister", call).await
    }

    async fn lookup(&self, users: &[String]) -> Result<Vec<Vec<DeviceRoute>>, RegistryError> {
        let backend = self.backend;
        metrics::counter!(LOOKUPS, "backend" => backend).increment(1);
        metrics::counter!(LOOKED_UP_USERS, "backend" => backend).increment(users.len() as u64);
        self.timed("lookup", self.inner.lookup(users)).await
    }

    async fn join_room(
        &self,
        room: &str,
        gateway: &str,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        self.timed("join_room", self.inner.join_room(room, gateway, ttl))
            .await
    }

    async fn leave_room(&self, room: &str, gateway: &str) -> Result<bool, RegistryError> {
        self.timed("leave_room", self.inner.leave_room(room, gateway))
            .await
    }

    async fn room_gateways(&self, room: &str) -> Result<Vec<String>, RegistryError> {
        self.timed("room_gateways", self.inner.room_gateways(room))
            .await
    }

    async fn mark_gateway(&self, gateway: &str, ttl: Duration) -> Result<bool, RegistryError> {
        self.timed("mark_gateway", self.inner.mark_gateway(gateway, ttl))
            .await
    }

    async fn presence(&self, users: &[String]) -> Result<Vec<Presence>, RegistryError> {
        self.timed("presence", self.inner.presence(users)).await
    }

    async fn record_last_seen(
        &self,
        user: &str,
        at_ms: u64,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let call = self.inner.record_last_seen(user, at_ms, ttl);
        self.timed("record_last_seen", call).await
    }

    async fn publish_presence(&self, user: &str) -> Result<(), RegistryError> {
        self.timed("publish_presence", self.inner.publish_presence(user))
            .await
    }

    async fn presence_feed(&self) -> Result<PresenceFeed, RegistryError> {
        self.timed("presence_feed", self.inner.presence_feed())
            .await
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::MetricKind;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

    use super::*;
    use crate::InProcessRegistry;

    /// A registry whose backend is down.
    struct UnreachableRegistry;

    #[async_trait]
    impl Registry for UnreachableRegistry {
        async fn register(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: Duration,
        ) -> Result<(), RegistryError> {
            Err(unreachable())
        }

        async fn unregister(&self, _: &str, _: &str, _: &str) -> Result<bool, RegistryError> {
            Err(unreachable())
        }

        async fn lookup(&self, _: &[String]) -> Result<Vec<Vec<DeviceRoute>>, RegistryError> {
            Err(unreachable())
        }

        async fn join_room(&self, _: &str, _: &str, _: Duration) -> Result<(), RegistryError> {
            Err(unreachable())
        }

        async fn leave_room(&self, _: &str, _: &str) -> Result<bool, RegistryError> {
            Err(unreachable())
        }

        async fn room_gateways(&self, _: &str) -> Result<Vec<String>, RegistryError> {
            Err(unreachable())
        }

        async fn mark_gateway(&self, _: &str, _: Duration) -> Result<bool, RegistryError> {
            Err(unreachable())
        }

        async fn presence(&self, _: &[String]) -> Result<Vec<Presence>, RegistryError> {
            Err(unreachable())
        }

        async fn record_last_seen(
            &self,
            _: &str,
            _: u64,
            _: Duration,
        ) -> Result<(), RegistryError> {
            Err(unreachable())
        }

        async fn publish_presence(&self, _: &str) -> Result<(), RegistryError> {
            Err(unreachable())
        }

        async fn presence_feed(&self) -> Result<PresenceFeed, RegistryError> {
            Err(unreachable())
        }
    }

    fn unreachable() -> RegistryError {
        RegistryError::Backend("unreachable".to_string())
    }

    /// Everything recorded, as `(kind, name, labels sorted by key, value)`.
    type Recorded = Vec<(MetricKind, String, Vec<(String, String)>, DebugValue)>;

    /// Takes everything recorded so far. This drains the recorder, so a test
    /// takes it once, at the end.
    fn take(snapshotter: &Snapshotter) -> Recorded {
        let snapshot = snapshotter.snapshot().into_vec();
        let entries = snapshot.into_iter().map(|(key, _, _, value)| {
            let mut labels: Vec<_> = key
                .key()
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            (key.kind(), key.key().name().to_string(), labels, value)
        });
        entries.collect()
    }

    /// The value recorded as `kind` under `name` with exactly `labels`
    /// (sorted by key), if any.
    fn find<'a>(
        recorded: &'a Recorded,
        kind: MetricKind,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<&'a DebugValue> {
        recorded.iter().find_map(|(k, n, found, value)| {
            let same_labels = found
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .eq(labels.iter().copied());
            (*k == kind && n == name && same_labels).then_some(value)
        })
    }

    fn counter(recorded: &Recorded, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        match find(recorded, MetricKind::Counter, name, labels)? {
            DebugValue::Counter(n) => Some(*n),
            other => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn samples(recorded: &Recorded, op: &str) -> usize {
        let labels = [("backend", "in_process"), ("op", op)];
        match find(recorded, MetricKind::Histogram, OPERATION_DURATION, &labels) {
            Some(DebugValue::Histogram(values)) => values.len(),
            other => panic!("no duration histogram for {op}: {other:?}"),
        }
    }

    // `#[tokio::test]` polls every call on the test thread, where the local
    // recorder is set.
    #[tokio::test]
    async fn lookups_count_calls_and_users() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let registry = instrumented(Arc::new(InProcessRegistry::new()), "in_process");

        let _local = metrics::set_default_local_recorder(&recorder);
        let ttl = Duration::from_secs(30);
        registry
            .register("alice", "phone", "gw1:7401", ttl)
            .await
            .unwrap();
        let users = ["alice", "bob", "carol"].map(String::from);
        let found = registry.lookup(&users).await.unwrap();
        registry.lookup(&users[..1]).await.unwrap();

        let phone = DeviceRoute {
            device_id: "phone".to_string(),
            gateway: "gw1:7401".to_string(),
        };
        assert_eq!(found, [vec![phone], vec![], vec![]]);
        let recorded = take(&snapshotter);
        let backend = [("backend", "in_process")];
        assert_eq!(counter(&recorded, LOOKUPS, &backend), Some(2));
        assert_eq!(counter(&recorded, LOOKED_UP_USERS, &backend), Some(4));
        assert_eq!(samples(&recorded, "lookup"), 2);
        assert_eq!(samples(&recorded, "register"), 1);
        let errors = [("backend", "in_process"), ("op", "lookup")];
        assert_eq!(counter(&recorded, ERRORS, &errors), None);
    }

    #[tokio::test]
    async fn a_failed_call_is_counted_and_its_error_passed_through() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let registry = instrumented(Arc::new(UnreachableRegistry), "redis");

        let _local = metrics::set_default_local_recorder(&recorder);
        let result = registry.lookup(&["alice".to_string()]).await;
        registry.leave_room("lobby", "gw1:7401").await.unwrap_err();

        match result {
            Err(RegistryError::Backend(detail)) => assert_eq!(detail, "unreachable"),
            other => panic!("expected the backend error, got {other:?}"),
        }
        let recorded = take(&snapshotter);
        for op in ["lookup", "leave_room"] {
            let labels = [("backend", "redis"), ("op", op)];
            assert_eq!(counter(&recorded, ERRORS, &labels), Some(1), "{op}");
        }
        let backend = [("backend", "redis")];
        assert_eq!(counter(&recorded, LOOKUPS, &backend), Some(1));
        assert_eq!(counter(&recorded, LOOKED_UP_USERS, &backend), Some(1));
    }
}
