//! One connection type for a single Redis server and for a Redis Cluster, so
//! the registry's commands, scripts and pipelines are written once.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A cheap-to-clone handle on Redis: clones share the underlying multiplexed
/// connections, and both variants reconnect on their own.
#[derive(Clone)]
pub(super) enum Connection {
    /// A single server (or a primary behind a stable address), through a
    /// [`ConnectionManager`] that reconnects with backoff.
    Single(ConnectionManager),
    /// A Redis Cluster; commands are routed by the hash slot of their key.
    Cluster(ClusterConnection),
}

impl Connection {
    pub(super) async fn single(
        url: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Self> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self::Single(manager))
    }

    pub(super) async fn cluster(
        urls: &[String],
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Self> {
        let client = ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            .build()?;
        Ok(Self::Cluster(client.get_async_connection().await?))
    }

    pub(super) fn mode(&self) -> &'static str {
        match self {
            Self::Single(_) => "single",
            Self::Cluster(_) => "cluster",
        }
    }

    /// Splits `keys` (by index) into groups that may share one pipeline: all
    /// of them on a single server; one group per hash slot on a cluster,
    /// where a pipeline must not cross slots.
    pub(super) fn pipeline_groups(&self, keys: &[String]) -> Vec<Vec<usize>> {
        match self {
            Self::Single(_) => vec![(0..keys.len()).collect()],
            Self::Cluster(_) => {
                let mut by_slot: HashMap<Slot, Vec<usize>> = HashMap::new();
                for (index, key) in keys.iter().enumerate() {
                    by_slot.entry(Slot::for_key(key)).or_default().push(index);
                }
                by_slot.into_values().collect()
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
