//! Starts every service in this process, each on its own port, calling each
//! other over gRPC as they do when deployed apart.

use std::net::SocketAddr;
use std::sync::Arc;

use tidings_registry::Registry;
use tidings_storage::Tables;
use tokio::net::TcpListener;

use crate::config::TidingsConfig;
use crate::server_set::{ServerSet, bind};
use crate::{backends, services};

/// The addresses the services actually listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub gateway_ws: SocketAddr,
    pub gateway_grpc: SocketAddr,
    pub logic: SocketAddr,
    pub sequence: SocketAddr,
    pub store: SocketAddr,
    pub sync: SocketAddr,
    /// Prometheus `/metrics`, when `telemetry.metrics` is on.
    pub metrics: Option<SocketAddr>,
}

impl Addresses {
    /// The client WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.gateway_ws)
    }
}

/// A running all-in-one process.
pub struct AllInOne {
    pub addresses: Addresses,
    servers: ServerSet,
}

impl AllInOne {
    /// Opens the configured backends (by default the embedded store under
    /// `data_dir` and the in-process registry) and starts every service.
    pub async fn start(config: TidingsConfig) -> anyhow::Result<Self> {
        config.validate().map_err(|e| anyhow::anyhow!(e))?;
        let tables = backends::open_tables(&config).await?;
        let registry = backends::open_registry(&config).await?;
        Self::start_with(config, tables, registry).await
    }

    /// Starts every service on the given backends.
    pub async fn start_with(
        config: TidingsConfig,
        tables: Tables,
        registry: Arc<dyn Registry>,
    ) -> anyhow::Result<Self> {
        backends::install_metrics(&config);
        let listen = &config.listen;
        let sequence_listener = bind(listen.sequence, "sequence").await?;
        let store_listener = bind(listen.store, "store").await?;
        let sync_listener = bind(listen.sync, "sync").await?;
        let logic_listener = bind(listen.logic, "logic").await?;
        let gateway_grpc_listener = bind(listen.gateway_grpc, "gateway grpc").await?;
        let gateway_ws_listener = bind(listen.gateway_ws, "gateway websocket").await?;
        let metrics_listener = if config.telemetry.metrics {
            Some(bind(listen.metrics, "metrics").await?)
        } else {
            None
        };
        let addresses = Addresses {
            metrics: metrics_listener
                .as_ref()
                .map(TcpListener::local_addr)
                .transpose()?,
            sequence: sequence_listener.local_addr()?,
            store: store_listener.local_addr()?,
            sync: sync_listener.local_addr()?,
            logic: logic_listener.local_addr()?,
            gateway_grpc: gateway_grpc_listener.local_addr()?,
            gateway_ws: gateway_ws_listener.local_addr()?,
        };
        let (sequence_addr, store_addr, sync_addr, logic_addr) = (
            addresses.sequence.to_string(),
            addresses.store.to_string(),
            addresses.sync.to_string(),
            addresses.logic.to_string(),
        );

        let mut servers = ServerSet::new();
        if let Some(listener) = metrics_listener {
            servers.metrics(listener);
        }
        let (sequence, tasks) = services::sequence(&config, &tables, &sequence_addr);
        servers.background(tasks);
        servers.grpc("sequence", sequence_listener, sequence)?;
        servers.grpc("store", store_listener, services::store(&tables))?;
        let router = services::sequence_router(&config, vec![sequence_addr])?;
        servers.grpc(
            "sync",
            sync_listener,
            services::sync(&config, &tables, router.clone()),
        )?;
        let logic = services::logic(
            &config,
            &tables,
            router,
            &store_addr,
            &sync_addr,
            registry.clone(),
        )?;
        servers.grpc("logic", logic_listener, logic)?;
        let gateway = services::gateway(
            &config,
            &logic_addr,
            &sync_addr,
            registry,
            addresses.gateway_grpc.to_string(),
        )?;
        servers.gateway(gateway, gateway_ws_listener, gateway_grpc_listener)?;

        tracing::info!(
            gateway_ws = %addresses.gateway_ws,
            gateway_grpc = %addresses.gateway_grpc,
            logic = %addresses.logic,
            sequence = %addresses.sequence,
            store = %addresses.store,
            sync = %addresses.sync,
            "all services listening"
        );
        Ok(AllInOne { addresses, servers })
    }

    /// Stops every service and waits (bounded) for them to finish, so the
    /// store can be reopened.
    pub async fn shutdown(self) {
        self.servers.shutdown().await;
    }
}
