//! Telemetry of the distributed shape: every service process serves
//! Prometheus metrics at `/metrics` with the series an operator needs, and a
//! client's send is one trace across gateway, logic, sequence, store and
//! sync, exported over OTLP to a collector.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tidings_testkit::telemetry::{Collector, ReceivedSpan, sample, scrape};
use tidings_testkit::{Cluster, ServiceProcess, dm, synced_device};

const WAIT: Duration = Duration::from_secs(15);
const SERVICES: [&str; 5] = [
    "tidings-gateway",
    "tidings-logic",
    "tidings-sequence",
    "tidings-store",
    "tidings-sync",
];

async fn metrics_of(process: &ServiceProcess) -> String {
    scrape(&process.addr("metrics")).await.expect("scrape")
}

/// Asserts `name{labels}` is on `page` with a value of at least `min`.
fn expect(page: &str, service: &str, name: &str, labels: &[(&str, &str)], min: f64) {
    let value = sample(page, name, labels)
        .unwrap_or_else(|| panic!("{service}: no {name}{labels:?} on /metrics:\n{page}"));
    assert!(
        value >= min,
        "{service}: {name}{labels:?} is {value}, expected at least {min}"
    );
}

/// The labels of a successful gRPC call; `[..2]` leaves out the code.
fn grpc<'a>(service: &'a str, method: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("grpc_service", service),
        ("grpc_method", method),
        ("grpc_code", "Ok"),
    ]
}

/// The trace rooted at the gateway's `client/send` span, once it holds a
/// span of every service and every span's parent has arrived.
fn whole_send_trace(spans: &[ReceivedSpan]) -> Option<(String, Vec<ReceivedSpan>)> {
    let mut traces: BTreeMap<&str, Vec<&ReceivedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(&span.trace_id).or_default().push(span);
    }
    traces.into_iter().find_map(|(trace_id, spans)| {
        let root = spans.iter().find(|s| s.parent_span_id.is_empty())?;
        if root.name != "client/send" || root.service != "tidings-gateway" {
            return None;
        }
        let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
        let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        let linked = spans
            .iter()
            .all(|s| s.parent_span_id.is_empty() || ids.contains(s.parent_span_id.as_str()));
        (SERVICES.iter().all(|s| services.contains(s)) && linked)
            .then(|| (trace_id.to_string(), spans.into_iter().cloned().collect()))
    })
}

#[tokio::test]
async fn every_service_serves_metrics_and_a_send_is_one_trace_across_all_five() {
    let collector = Collector::start().await.unwrap();
    let endpoint = collector.endpoint();
    let cluster = Cluster::start(
        "telemetry",
        &[
            ("TIDINGS__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            // Export spans every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .unwrap();
    let gateway = cluster.gateway().unwrap();

    let alice = synced_device(&gateway.ws_url(), "alice", "a1").await;
    let mut bob = synced_device(&gateway.ws_url(), "bob", "b1").await;
    let conversation = dm("alice", "bob");
    alice
        .send(&conversation, "traced-1", "text", "follow me")
        .await
        .unwrap();
    let pushed = bob.next_push(WAIT).await.unwrap();
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"follow me");
    bob.pull_all().await.unwrap();
    // A second device of bob's pulls the message.
    let bob2 = synced_device(&gateway.ws_url(), "bob", "b2").await;
    assert_eq!(bob2.messages().len(), 1);

    // Metrics: each process serves its own.
    let page = metrics_of(&gateway).await;
    expect(&page, "gateway", "tidings_gateway_connections", &[], 3.0);
    expect(
        &page,
        "gateway",
        "tidings_gateway_client_requests_total",
        &[("type", "send")],
        1.0,
    );
    expect(
        &page,
        "gateway",
        "tidings_gateway_client_requests_total",
        &[("type", "pull")],
        2.0,
    );
    expect(
        &page,
        "gateway",
        "tidings_gateway_pushes_total",
        &[("result", "sent")],
        1.0,
    );
    let push = grpc("tidings.gateway.v1.GatewayService", "Push");
    expect(
        &page,
        "gateway",
        "tidings_grpc_server_requests_total",
        &push,
        1.0,
    );
    expect(
        &page,
        "gateway",
        "tidings_registry_operation_duration_seconds_count",
        &[("backend", "redis"), ("op", "register")],
        2.0,
    );

    let page = metrics_of(&cluster.logic).await;
    let send = grpc("tidings.logic.v1.LogicService", "SendBatch");
    expect(
        &page,
        "logic",
        "tidings_grpc_server_requests_total",
        &send,
        1.0,
    );
    expect(
        &page,
        "logic",
        "tidings_grpc_server_duration_seconds_count",
        &send[..2],
        1.0,
    );
    expect(
        &page,
        "logic",
        "tidings_logic_messages_total",
        &[("kind", "direct")],
        1.0,
    );
    expect(
        &page,
        "logic",
        "tidings_logic_fanout_recipients_sum",
        &[("diffusion", "write")],
        2.0,
    );
    expect(
        &page,
        "logic",
        "tidings_logic_pushes_total",
        &[("result", "sent")],
        1.0,
    );
    expect(
        &page,
        "logic",
        "tidings_registry_lookups_total",
        &[("backend", "redis")],
        1.0,
    );
    expect(
        &page,
        "logic",
        "tidings_storage_operation_duration_seconds_count",
        &[
            ("backend", "scylla"),
            ("table", "dedupe"),
            ("op", "put_dedupe_ordered"),
        ],
        1.0,
    );

    let page = metrics_of(&cluster.sequence).await;
    let allocate = grpc("tidings.sequence.v1.SequenceService", "Allocate");
    expect(
        &page,
        "sequence",
        "tidings_grpc_server_requests_total",
        &allocate,
        1.0,
    );
    // One conversation seq and two inbox seqs.
    expect(
        &page,
        "sequence",
        "tidings_sequence_allocations_total",
        &[],
        3.0,
    );
    expect(
        &page,
        "sequence",
        "tidings_sequence_commits_total",
        &[],
        3.0,
    );
    expect(
        &page,
        "sequence",
        "tidings_sequence_abandonments_total",
        &[("reason", "deadline")],
        0.0,
    );
    expect(
        &page,
        "sequence",
        "tidings_storage_operation_duration_seconds_count",
        &[("table", "sections"), ("op", "claim_section")],
        1.0,
    );

    let page = metrics_of(&cluster.store).await;
    let append = grpc("tidings.store.v1.StoreService", "Append");
    expect(
        &page,
        "store",
        "tidings_grpc_server_requests_total",
        &append,
        1.0,
    );
    expect(
        &page,
        "store",
        "tidings_storage_operation_duration_seconds_count",
        &[
            ("backend", "scylla"),
            ("table", "messages"),
            ("op", "append_messages"),
        ],
        1.0,
    );

    let page = metrics_of(&cluster.sync).await;
    let append_inbox = grpc("tidings.sync.v1.SyncService", "AppendInbox");
    expect(
        &page,
        "sync",
        "tidings_grpc_server_requests_total",
        &append_inbox,
        1.0,
    );
    expect(&page, "sync", "tidings_sync_pulls_total", &[], 1.0);
    expect(&page, "sync", "tidings_sync_pulled_entries_sum", &[], 1.0);
    expect(
        &page,
        "sync",
        "tidings_storage_operation_duration_seconds_count",
        &[("table", "inbox"), ("op", "append_inbox")],
        1.0,
    );

    // Traces: the send is one trace, rooted at the gateway, through every
    // service, each span's parent in the same trace.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (trace_id, spans) = loop {
        if let Some(found) = whole_send_trace(&collector.spans()) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no whole trace of the send reached the collector; spans: {:#?}",
            collector.spans()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let names: BTreeSet<(String, String)> = spans
        .iter()
        .map(|s| (s.service.clone(), s.name.clone()))
        .collect();
    for (service, name) in [
        ("tidings-gateway", "client/send"),
        ("tidings-logic", "tidings.logic.v1.LogicService/SendBatch"),
        (
            "tidings-sequence",
            "tidings.sequence.v1.SequenceService/Allocate",
        ),
        (
            "tidings-sequence",
            "tidings.sequence.v1.SequenceService/Commit",
        ),
        ("tidings-store", "tidings.store.v1.StoreService/Append"),
        ("tidings-sync", "tidings.sync.v1.SyncService/AppendInbox"),
        ("tidings-gateway", "tidings.gateway.v1.GatewayService/Push"),
    ] {
        assert!(
            names.contains(&(service.to_string(), name.to_string())),
            "trace {trace_id} has no {name} span from {service}: {names:#?}"
        );
    }
    assert_eq!(trace_id.len(), 32, "a W3C trace id is 16 bytes of hex");
}
