//! The two backends under measurement: the embedded store in a temporary
//! directory, and the CQL backend in a fresh keyspace of the test node, which
//! is dropped afterwards. Reaching the node is checked before anything else,
//! so a missing node costs nothing but a line in the report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidings_storage::embedded::EmbeddedStore;
use tidings_storage::{InboxStore, MessageStore};
use tidings_storage_scylla::{ScyllaConfig, ScyllaStore, migrate};

use crate::params::StorageParams;

/// The node `scripts/cassandra.sh start` runs.
const DEFAULT_CQL: &str = "127.0.0.1:19042";

/// How long a connection attempt to the node may take before it counts as
/// not answering.
const PROBE_TIME: Duration = Duration::from_secs(3);

/// Deadline of one CQL request: generous, the node shares 2 cores with the
/// bench.
const CQL_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Time limit of dropping the keyspace at the end.
const DROP_TIME: Duration = Duration::from_secs(60);

const HOW_TO_START: &str = "start one with `scripts/cassandra.sh start`, or name a loopback \
    node with TIDINGS_TEST_SCYLLA or TIDINGS_TEST_CQL";

/// Where the CQL rows ran.
#[derive(Debug, Clone)]
pub struct CqlNode {
    /// `host:port` of the node.
    pub contact_point: String,
    /// The variable that named it, or `default`.
    pub source: &'static str,
    pub keyspace: String,
    /// `cassandra` or `scylladb`.
    pub server: String,
    /// The node's commit log sync settings, when it tells them: whether a
    /// write is on disk when it is acknowledged.
    pub commit_log: Option<String>,
    /// Whether the keyspace was dropped at the end, or why not.
    pub keyspace_dropped: Result<(), String>,
}

/// The CQL rows, or why there are none.
#[derive(Debug, Clone)]
pub enum CqlOutcome {
    Measured {
        node: CqlNode,
        rows: Vec<super::StorageRow>,
    },
    Skipped {
        contact_point: String,
        source: &'static str,
        reason: String,
    },
}

/// One backend's stores, and what must live as long as they do.
pub(crate) struct Backend {
    pub(crate) messages: Arc<dyn MessageStore>,
    pub(crate) inbox: Arc<dyn InboxStore>,
    /// Declared last, so dropped after the stores.
    owned: Owned,
}

enum Owned {
    /// The embedded store's data directory, removed on drop.
    Directory { _dir: tempfile::TempDir },
    /// The CQL store and its keyspace, dropped by [`Backend::drop_keyspace`].
    Keyspace(Arc<ScyllaStore>, String),
}

impl Backend {
    /// The embedded store in a fresh temporary directory.
    pub(crate) fn embedded() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tidings-bench-storage-")
            .tempdir()
            .context("cannot create a temporary directory for the embedded store")?;
        let store = EmbeddedStore::open(dir.path())?;
        Ok(Backend {
            messages: store.clone(),
            inbox: store,
            owned: Owned::Directory { _dir: dir },
        })
    }

    /// The CQL backend on a fresh keyspace `tidings_bench_<pid>` of the test
    /// node, or why it cannot be used.
    pub(crate) async fn cql(params: &StorageParams) -> Result<(Self, CqlNode), CqlOutcome> {
        let (contact_point, source) = contact_point();
        let skip = |reason: String| CqlOutcome::Skipped {
            contact_point: contact_point.clone(),
            source,
            reason,
        };
        let address = loopback_address(&contact_point).await.map_err(skip)?;
        probe(address, &contact_point).await.map_err(skip)?;

        let config = ScyllaConfig {
            contact_points: vec![contact_point.clone()],
            keyspace: format!("tidings_bench_{}", std::process::id()),
            request_timeout_ms: CQL_REQUEST_TIMEOUT_MS,
            ..ScyllaConfig::default()
        };
        let setup = async {
            let report = migrate(&config)
                .await
                .map_err(|e| format!("migrate failed: {e}"))?;
            let store = ScyllaStore::connect(&config)
                .await
                .map_err(|e| format!("connect after migrate failed: {e}"))?;
            Ok::<_, String>((report, store))
        };
        let (report, store) = tokio::time::timeout(params.cql_setup_time, setup)
            .await
            .map_err(|_| {
                skip(format!(
                    "migrating keyspace {} and connecting took more than {} s",
                    config.keyspace,
                    params.cql_setup_time.as_secs()
                ))
            })?
            .map_err(skip)?;

        let node = CqlNode {
            contact_point: contact_point.clone(),
            source,
            keyspace: config.keyspace.clone(),
            server: report.server.to_string(),
            commit_log: commit_log_settings(&store).await,
            keyspace_dropped: Ok(()),
        };
        let backend = Backend {
            messages: store.clone(),
            inbox: store.clone(),
            owned: Owned::Keyspace(store, config.keyspace),
        };
        Ok((backend, node))
    }

    /// Drops the CQL keyspace this run created (nothing for the embedded
    /// store, whose directory goes with it).
    pub(crate) async fn drop_keyspace(&self) -> Result<(), String> {
        let Owned::Keyspace(store, keyspace) = &self.owned else {
            return Ok(());
        };
        let statement = format!("DROP KEYSPACE IF EXISTS {keyspace}");
        match tokio::time::timeout(DROP_TIME, store.session().query_unpaged(statement, ())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {} s", DROP_TIME.as_secs())),
        }
    }
}

/// The node to use and the variable that named it: `TIDINGS_TEST_SCYLLA`,
/// else `TIDINGS_TEST_CQL`, else the default test node.
fn contact_point() -> (String, &'static str) {
    for variable in ["TIDINGS_TEST_SCYLLA", "TIDINGS_TEST_CQL"] {
        if let Ok(address) = std::env::var(variable)
            && !address.trim().is_empty()
        {
            return (address.trim().to_string(), variable);
        }
    }
    (DEFAULT_CQL.to_string(), "default")
}

/// The address of `contact_point`, which must be a loopback one: this bench
/// talks to nothing else.
async fn loopback_address(contact_point: &str) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(contact_point)
        .await
        .map_err(|e| format!("{contact_point} is not a host:port that resolves: {e}"))?
        .collect();
    match addresses.iter().find(|a| !a.ip().is_loopback()) {
        Some(other) => Err(format!(
            "{contact_point} resolves to {}, which is not a loopback address \
             (this bench talks to loopback only)",
            other.ip()
        )),
        None => addresses
            .first()
            .copied()
            .ok_or_else(|| format!("{contact_point} resolves to no address")),
    }
}

/// Whether anything accepts connections at `address`.
async fn probe(address: SocketAddr, contact_point: &str) -> Result<(), String> {
    match tokio::time::timeout(PROBE_TIME, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(format!(
            "no CQL node answers at {contact_point} ({error}); {HOW_TO_START}"
        )),
        Err(_) => Err(format!(
            "no CQL node answers at {contact_point} within {} s; {HOW_TO_START}",
            PROBE_TIME.as_secs()
        )),
    }
}

/// `commitlog_sync` and, for the periodic and group modes, its period or
/// window, as the node reports them; `None` when it does not say.
async fn commit_log_settings(store: &ScyllaStore) -> Option<String> {
    let mode = setting(store, &["commitlog_sync"]).await?;
    let detail = match mode.as_str() {
        "periodic" => {
            let names = ["commitlog_sync_period", "commitlog_sync_period_in_ms"];
            setting(store, &names).await.map(|v| format!("every {v}"))
        }
        "group" => {
            let names = [
                "commitlog_sync_group_window",
                "commitlog_sync_group_window_in_ms",
            ];
            setting(store, &names).await.map(|v| format!("window {v}"))
        }
        _ => None,
    };
    Some(match detail {
        Some(detail) => format!("commitlog_sync={mode}, {detail}"),
        None => format!("commitlog_sync={mode}"),
    })
}

/// The first of `names` the node reports a value for: Cassandra lists its
/// settings in `system_views.settings`, ScyllaDB in `system.config`.
async fn setting(store: &ScyllaStore, names: &[&str]) -> Option<String> {
    for table in ["system_views.settings", "system.config"] {
        for name in names {
            let query = format!("SELECT value FROM {table} WHERE name = '{name}'");
            let Ok(result) = store.session().query_unpaged(query, ()).await else {
                break;
            };
            let Ok(rows) = result.into_rows_result() else {
                break;
            };
            if let Ok(Some((Some(value),))) = rows.maybe_first_row::<(Option<String>,)>() {
                let value = value.trim_matches('"');
                if !value.is_empty() && value != "null" {
                    return Some(value.to_string());
                }
            }
        }
    }
    None
}
