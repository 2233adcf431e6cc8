//! The fault suite (DESIGN §6, §9): a ledger campaign runs steady 1:1 and
//! group traffic while real processes are killed, restarted or drained, then
//! audits every acknowledged message on two devices of the receiver and in
//! History. Each run prints
//! `acked / lost / duplicated (inbox) / duplicated (history) / out of order /
//! send errors / recovery` and fails on any loss, duplicate or reorder, or on
//! a recovery (first ack and first delivery after the fault healed) over 10 s.
//!
//! The runs share the CQL node and restart it, so they take turns.

use std::time::{Duration, Instant};

use rand::Rng as _;
use tidings_testkit::ledger::{Campaign, Plan};
use tidings_testkit::{Cluster, ProcessServer, RedisServer, Service, ServiceProcess};

/// Longest recovery a fault may take.
const MAX_RECOVERY: Duration = Duration::from_secs(10);

/// How long recovery is awaited before the run is failed.
const PATIENCE: Duration = Duration::from_secs(30);

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A random pause of `min..max` milliseconds: faults land at random moments
/// of the send path.
async fn pause_between(min_ms: u64, max_ms: u64) {
    let ms = rand::rng().random_range(min_ms..max_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_killed_five_times() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = ProcessServer::start(dir.path(), &[]).unwrap();
    let campaign = Campaign::start(Plan::new("all-in-one"), vec![server.ws_url.clone()])
        .await
        .unwrap();
    for round in 1..=5 {
        pause_between(800, 2500).await;
        server.kill();
        server = ProcessServer::start(dir.path(), &[]).unwrap();
        let healed = Instant::now();
        campaign.set_gateways(vec![server.ws_url.clone()]);
        campaign
            .recovered(&format!("kill -9 #{round}"), healed, PATIENCE)
            .await;
    }
    pause_between(1000, 1500).await;
    let report = campaign.finish().await.unwrap();
    println!("{report}");
    report.assert_clean(MAX_RECOVERY);
    server.kill();
}

/// Two gateways over one distributed cluster, and a campaign across them.
struct Distributed {
    cluster: Cluster,
    gateways: Vec<ServiceProcess>,
    campaign: Campaign,
}

impl Distributed {
    async fn start(name: &str, redis: &str) -> Distributed {
        let cluster = Cluster::start_on(name, redis, &[]).unwrap();
        let gateways = vec![cluster.gateway().unwrap(), cluster.gateway().unwrap()];
        let urls = gateways.iter().map(ServiceProcess::ws_url).collect();
        let campaign = Campaign::start(Plan::new(name), urls).await.unwrap();
        Distributed {
            cluster,
            gateways,
            campaign,
        }
    }

    fn point_clients_at_gateways(&self) {
        let urls = self.gateways.iter().map(ServiceProcess::ws_url).collect();
        self.campaign.set_gateways(urls);
    }

    async fn finish(self) {
        pause_between(1000, 1500).await;
        let report = self.campaign.finish().await.unwrap();
        println!("{report}");
        report.assert_clean(MAX_RECOVERY);
        drop(self.gateways);
        drop(self.cluster);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_services_killed_in_turn() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut run = Distributed::start("fault_services", &tidings_testkit::redis_url()).await;
    for service in Service::ALL {
        pause_between(800, 2000).await;
        run.cluster.kill(service);
        pause_between(200, 600).await;
        run.cluster.restart(service).unwrap();
        let healed = Instant::now();
        run.campaign
            .recovered(&format!("kill -9 {}", service.name()), healed, PATIENCE)
            .await;
    }
    // One gateway: its clients move to the other one, then it comes back.
    pause_between(800, 2000).await;
    let killed = run.gateways.remove(0);
    killed.kill();
    run.point_clients_at_gateways();
    let healed = Instant::now();
    run.campaign
        .recovered("kill -9 gateway", healed, PATIENCE)
        .await;
    run.gateways.insert(0, run.cluster.gateway().unwrap());
    run.point_clients_at_gateways();
    // A rolling update: one gateway drained with SIGTERM while its clients
    // are connected; they reconnect to the other one.
    pause_between(800, 2000).await;
    let drained = run.gateways.remove(0);
    run.point_clients_at_gateways();
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || drained.terminate())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "the drained gateway exits cleanly: {status}"
    );
    println!(
        "gateway drained in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    run.campaign
        .recovered("SIGTERM gateway", started, PATIENCE)
        .await;
    run.gateways.insert(0, run.cluster.gateway().unwrap());
    run.point_clients_at_gateways();
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_redis_restarted_empty() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut redis = RedisServer::start().unwrap();
    let run = Distributed::start("fault_redis", &redis.url()).await;
    for round in 1..=2 {
        pause_between(1000, 2000).await;
        redis.restart_empty().unwrap();
        let healed = Instant::now();
        run.campaign
            .recovered(&format!("redis restarted empty #{round}"), healed, PATIENCE)
            .await;
    }
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_cql_node_killed_and_restarted() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let run = Distributed::start("fault_cql", &tidings_testkit::redis_url()).await;
    pause_between(1000, 2000).await;
    cassandra("kill");
    cassandra("start");
    // Ready when the project's own CQL client can migrate the keyspace.
    let migrate = std::process::Command::new(tidings_testkit::binary("tidings"))
        .args(["migrate", "--wait", "120"])
        .envs(run.cluster.storage_env())
        .status()
        .unwrap();
    assert!(migrate.success(), "the CQL node is back");
    let healed = Instant::now();
    run.campaign
        .recovered("cql node kill -9 and restart", healed, PATIENCE)
        .await;
    run.finish().await;
}

/// Runs `scripts/cassandra.sh <command>` on the node the tests share.
fn cassandra(command: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cassandra.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .arg(command)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/cassandra.sh {command}");
}
