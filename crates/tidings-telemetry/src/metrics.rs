//! The Prometheus recorder behind the `metrics` macros, the names of every
//! metric Tidings records, and the `/metrics` endpoint.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Metric names, in one place so dashboards and tests can rely on them.
pub mod names {
    /// Counter: gRPC calls served, by `grpc_service`, `grpc_method`, `grpc_code`.
    pub const GRPC_REQUESTS: &str = "tidings_grpc_server_requests_total";
    /// Histogram: gRPC call latency in seconds, by `grpc_service`, `grpc_method`.
    pub const GRPC_DURATION: &str = "tidings_grpc_server_duration_seconds";
    /// Gauge: open client WebSocket connections (authenticated or not).
    pub const GATEWAY_CONNECTIONS: &str = "tidings_gateway_connections";
    /// Counter: client connections accepted.
    pub const GATEWAY_CONNECTIONS_OPENED: &str = "tidings_gateway_connections_opened_total";
    /// Counter: client requests, by `type` (send, pull, history, ...).
    pub const GATEWAY_REQUESTS: &str = "tidings_gateway_client_requests_total";
    /// Counter: pushes a gateway handled, by `result`: `sent` (queued to a
    /// live connection) or `missed` (device not connected here, or its queue
    /// was full; the device pulls on its next hello).
    pub const GATEWAY_PUSHES: &str = "tidings_gateway_pushes_total";
    /// Counter: client requests and connections refused by a limit, by
    /// `limit` (`connection_sends`, `user_sends`, `connection_reads`,
    /// `user_reads`, `connections_per_user`).
    pub const GATEWAY_LIMITED: &str = "tidings_gateway_limited_total";
    /// Counter: messages accepted by logic, by `kind` (direct, group).
    pub const LOGIC_MESSAGES: &str = "tidings_logic_messages_total";
    /// Histogram: recipients (users) of one message, by `diffusion`
    /// (`write`: one inbox entry per member; `read`: members pull the group
    /// timeline).
    pub const LOGIC_FANOUT: &str = "tidings_logic_fanout_recipients";
    /// Counter: device pushes attempted by logic, by `result`: `sent`,
    /// `offline` (no gateway holds the device) or `failed` (gateway
    /// unreachable; the device catches up by pulling).
    pub const LOGIC_PUSHES: &str = "tidings_logic_pushes_total";
    /// Counter: pulls served by sync.
    pub const SYNC_PULLS: &str = "tidings_sync_pulls_total";
    /// Histogram: entries returned by one pull.
    pub const SYNC_PULLED_ENTRIES: &str = "tidings_sync_pulled_entries";
    /// Counter: seqs handed out.
    pub const SEQ_ALLOCATIONS: &str = "tidings_sequence_allocations_total";
    /// Counter: seqs committed.
    pub const SEQ_COMMITS: &str = "tidings_sequence_commits_total";
    /// Counter: seqs abandoned, by `reason` (`explicit`, `deadline`).
    pub const SEQ_ABANDONMENTS: &str = "tidings_sequence_abandonments_total";
    // Storage and registry metrics are named next to their decorators:
    // `tidings_storage::instrumented`, `tidings_registry::instrumented`.
}

/// Latency buckets in seconds: 100 µs to 5 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Size buckets (recipients, entries): 1 to 100,000.
const COUNT_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0,
    100000.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. Every service
/// of a process (all of them in the all-in-one shape) shares it. Call it
/// before recording anything: what is recorded earlier is lost.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(COUNT_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            })
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (a test's); this one
        // then renders nothing, which is what that process asked for.
        if metrics::set_global_recorder(recorder).is_ok() {
            describe();
        }
        handle
    })
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>> + Send {
    let handle = handle();
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
        }),
    );
    async move {
        // Histograms and idle series need regular upkeep.
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        upkeep.abort();
        result
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(GRPC_REQUESTS, "gRPC calls served");
    describe_histogram!(GRPC_DURATION, Unit::Seconds, "gRPC call latency");
    describe_gauge!(GATEWAY_CONNECTIONS, "Open client WebSocket connections");
    describe_counter!(GATEWAY_CONNECTIONS_OPENED, "Client connections accepted");
    describe_counter!(GATEWAY_REQUESTS, "Client requests by type");
    describe_counter!(GATEWAY_LIMITED, "Client requests refused by a limit");
    describe_counter!(
        GATEWAY_PUSHES,
        "Pushes handled by the gateway: sent or missed"
    );
    describe_counter!(LOGIC_MESSAGES, "Messages accepted");
    describe_histogram!(LOGIC_FANOUT, "Recipients of one message");
    describe_counter!(
        LOGIC_PUSHES,
        "Device pushes attempted: sent, offline or failed"
    );
    describe_counter!(SYNC_PULLS, "Pulls served");
    describe_histogram!(SYNC_PULLED_ENTRIES, "Entries returned by one pull");
    describe_counter!(SEQ_ALLOCATIONS, "Seqs handed out");
    describe_counter!(SEQ_COMMITS, "Seqs committed");
    describe_counter!(SEQ_ABANDONMENTS, "Seqs abandoned");
}
