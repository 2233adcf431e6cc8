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
    /// The Redis every service of this cluster uses.
    pub redis_url: String,
    gateway_env: Vec<(String, String)>,
    /// What each service was started with, to start it again.
    envs: [Vec<(String, String)>; 4],
}

/// A backend service of a [`Cluster`] (gateways are the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sequence,
    Store,
    Sync,
    Logic,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Sequence,
        Service::Store,
        Service::Sync,
        Service::Logic,
    ];

    /// The name in its binary (`tidings-<name>`), its listen key and its
    /// printed address.
    pub fn name(self) -> &'static str {
        match self {
            Service::Sequence => "sequence",
            Service::Store => "store",
            Service::Sync => "sync",
            Service::Logic => "logic",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl Cluster {
    /// Migrates a fresh keyspace and starts every service but gateways.
    /// `extra` adds `TIDINGS__...` settings for every process.
    pub fn start(name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_on(name, &redis_url(), extra)
    }

    /// Like [`Cluster::start`], with the registry in the Redis at `redis_url`.
    pub fn start_on(name: &str, redis: &str, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
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
            ("TIDINGS__REGISTRY__URL", redis.to_string()),
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
        let logic_env = with(&[
            ("TIDINGS__LISTEN__LOGIC", logic_addr),
            peers_sequence,
            ("TIDINGS__PEERS__STORE", store.addr("store")),
            ("TIDINGS__PEERS__SYNC", sync.addr("sync")),
        ]);
        let logic = ServiceProcess::start("tidings-logic", &logic_env)?;
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
            redis_url: redis.to_string(),
            gateway_env,
            envs: [env.clone(), env, sync_env, logic_env],
        })
    }

    /// The `TIDINGS__...` settings naming this cluster's keyspace, for
    /// running `tidings migrate` against it.
    pub fn storage_env(&self) -> Vec<(String, String)> {
        self.envs[Service::Store.index()]
            .iter()
            .filter(|(key, _)| {
                key.starts_with("TIDINGS__STORAGE__") || key.starts_with("TIDINGS__SCYLLA__")
            })
            .cloned()
            .collect()
    }

    /// The registry this cluster's services share, read straight from Redis.
    pub async fn registry(&self) -> anyhow::Result<RedisRegistry> {
        let options = RedisRegistryOptions {
            key_prefix: self.key_prefix.clone(),
            ..RedisRegistryOptions::default()
        };
        RedisRegistry::connect_with(&self.redis_url, options)
            .await
            .context("redis unreachable; run scripts/redis.sh start")
    }

    fn process_mut(&mut self, service: Service) -> &mut ServiceProcess {
        match service {
            Service::Sequence => &mut self.sequence,
            Service::Store => &mut self.store,
            Service::Sync => &mut self.sync,
            Service::Logic => &mut self.logic,
        }
    }

    /// `kill -9` of one service's process; its address stays reserved for
    /// [`Cluster::restart`].
    pub fn kill(&mut self, service: Service) {
        let name = service.name();
        let process = self.process_mut(service);
        let placeholder = ServiceProcess::placeholder(name, &process.addr(name));
        std::mem::replace(process, placeholder).kill();
    }

    /// Starts a killed service again, at the address it had (its peers know
    /// it by that address).
    pub fn restart(&mut self, service: Service) -> anyhow::Result<()> {
        let name = service.name();
        let mut env = self.envs[service.index()].clone();
        let address = self.process_mut(service).addr(name);
        env.push((format!("TIDINGS__LISTEN__{}", name.to_uppercase()), address));
        *self.process_mut(service) = ServiceProcess::start(&format!("tidings-{name}"), &env)?;
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
