//! The distributed shape for tests: every service as its own process on the
//! CQL node and Redis that `make test` starts (`TIDINGS_TEST_SCYLLA` or
//! `TIDINGS_TEST_CQL`, and `TIDINGS_TEST_REDIS`), in a keyspace and registry
//! prefix of its own.

use anyhow::Context as _;
use tidings_registry::{RedisRegistry, RedisRegistryOptions};

use crate::process::{ServiceProcess, binary};

/// The CQL contact point of the tests.
pub fn cql_contact_point() -> String {
    std::env::var("TIDINGS_TEST_SCYLLA")
        .or_else(|_| std::env::var("TIDINGS_TEST_CQL"))
        .unwrap_or_else(|_| "127.0.0.1:19042".into())
}

/// The Redis URL of the tests.
pub fn redis_url() -> String {
    std::env::var("TIDINGS_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:16379".into())
}

/// Sequence, store, sync and logic as processes; gateways on demand.
pub struct Cluster {
    pub sequence: ServiceProcess,
    pub store: ServiceProcess,
    pub sync: ServiceProcess,
    pub logic: ServiceProcess,
    /// Registry key prefix of this cluster.
    pub key_prefix: String,
    gateway_env: Vec<(String, String)>,
    sync_env: Vec<(String, String)>,
}

impl Cluster {
    /// Migrates a fresh keyspace and starts every service but gateways.
    /// `extra` adds `TIDINGS__...` settings for every process.
    pub fn start(name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let unique = format!(
            "{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
        );
        let keyspace = format!("tidings_{name}_{unique}");
        let key_prefix = format!("tidings-{name}-{unique}:");
        let mut env: Vec<(String, String)> = [
            ("TIDINGS__STORAGE__BACKEND", "scylla".to_string()),
            ("TIDINGS__SCYLLA__CONTACT_POINTS", cql_contact_point()),
            ("TIDINGS__SCYLLA__KEYSPACE", keyspace),
            ("TIDINGS__REGISTRY__BACKEND", "redis".to_string()),
            ("TIDINGS__REGISTRY__URL", redis_url()),
            ("TIDINGS__REGISTRY__KEY_PREFIX", key_prefix.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));

        let migrate = std::process::Command::new(binary("tidings"))
            .arg("migrate")
            .envs(env.iter().cloned())
            .status()?;
        anyhow::ensure!(
            migrate.success(),
            "tidings migrate failed; is the CQL node up (scripts/cassandra.sh start)?"
        );
        let with = |extra: &[(&str, String)]| {
            let mut all = env.clone();
            all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
            all
        };
        let sequence = ServiceProcess::start("tidings-sequence", &env)?;
        let store = ServiceProcess::start("tidings-store", &env)?;
        let peers_sequence = ("TIDINGS__PEERS__SEQUENCE", sequence.addr("sequence"));
        // Sync and logic call each other: logic's port is chosen first so
        // that sync can be told it before logic starts.
        let logic_addr = free_loopback_port()?;
        let sync_env = with(&[
            peers_sequence.clone(),
            ("TIDINGS__PEERS__LOGIC", logic_addr.clone()),
        ]);
        let sync = ServiceProcess::start("tidings-sync", &sync_env)?;
        let logic = ServiceProcess::start(
            "tidings-logic",
            &with(&[
                ("TIDINGS__LISTEN__LOGIC", logic_addr),
                peers_sequence,
                ("TIDINGS__PEERS__STORE", store.addr("store")),
                ("TIDINGS__PEERS__SYNC", sync.addr("sync")),
            ]),
        )?;
        let gateway_env = with(&[
            ("TIDINGS__PEERS__LOGIC", logic.addr("logic")),
            ("TIDINGS__PEERS__SYNC", sync.addr("sync")),
        ]);
        Ok(Cluster {
            sequence,
            store,
            sync,
            logic,
            key_prefix,
            gateway_env,
            sync_env,
        })
    }

    /// The registry this cluster's services share, read straight from Redis.
    pub async fn registry(&self) -> anyhow::Result<RedisRegistry> {
        let options = RedisRegistryOptions {
            key_prefix: self.key_prefix.clone(),
            ..RedisRegistryOptions::default()
        };
        RedisRegistry::connect_with(&redis_url(), options)
            .await
            .context("redis unreachable; run scripts/redis.sh start")
    }

    /// `kill -9` of the sync process.
    pub fn kill_sync(&mut self) {
        let address = self.sync.addr("sync");
        let placeholder = ServiceProcess::placeholder("sync", &address);
        std::mem::replace(&mut self.sync, placeholder).kill();
    }

    /// Starts sync again, at the address it had.
    pub fn restart_sync(&mut self) -> anyhow::Result<()> {
        let mut env = self.sync_env.clone();
        env.push(("TIDINGS__LISTEN__SYNC".into(), self.sync.addr("sync")));
        self.sync = ServiceProcess::start("tidings-sync", &env)?;
        Ok(())
    }

    /// Starts one more gateway process.
    pub fn gateway(&self) -> anyhow::Result<ServiceProcess> {
        ServiceProcess::start("tidings-gateway", &self.gateway_env)
    }
}

/// A loopback address whose port was free a moment ago, for a service that
/// must be named to another before it starts.
fn free_loopback_port() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}
