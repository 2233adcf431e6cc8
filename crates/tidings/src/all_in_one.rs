//! Starts every service in this process, each on its own port. By default
//! the services call each other in process through the same gRPC clients and
//! handlers as when deployed apart, minus the sockets
//! (`all_in_one.in_process_calls`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_registry::Registry;
use tidings_storage::Tables;
use tokio::net::TcpListener;

use tidings_telemetry::TracedChannel;

use crate::config::TidingsConfig;
use crate::serve::lazy_channel;
use crate::server_set::{ServerSet, bind, bind_with_backlog};
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
        let gateway_ws_listener = bind_with_backlog(
            listen.gateway_ws,
            "gateway websocket",
            config.gateway.listen_backlog,
        )?;
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
        let (sequence, tasks, allocator) =
            services::sequence(&config, &tables, &sequence_addr).await;
        servers.background(tasks);
        servers.release_on_shutdown(allocator);
        let store = services::store(&tables);
        let router = services::sequence_router(&config, vec![sequence_addr.clone()])?;
        // In process (the default), services call each other through the
        // same clients over the served services themselves, with no socket;
        // their ports still serve callers from outside (tools, probes).
        let in_process = config.all_in_one.in_process_calls;
        // Every call has a deadline, in process as over a socket.
        let call_timeout = config.grpc.call_timeout();
        if in_process {
            router.connect_in_process(
                &sequence_addr,
                tidings_telemetry::in_process(sequence.clone(), call_timeout),
            );
        }
        let channel = |addr: &str, local: Option<TracedChannel>| -> anyhow::Result<TracedChannel> {
            match local {
                Some(local) if in_process => Ok(local),
                _ => lazy_channel(addr, call_timeout),
            }
        };
        // Sync asks logic for users' large groups (cached), and logic is
        // built after sync, so that one call goes over the loopback socket.
        let sync = services::sync(
            &config,
            &tables,
            router.clone(),
            lazy_channel(&logic_addr, call_timeout)?,
        );
        let push = services::push_router(&config, registry.clone());
        let logic = services::logic(
            &config,
            &tables,
            router,
            channel(
                &store_addr,
                Some(tidings_telemetry::in_process(store.clone(), call_timeout)),
            )?,
            channel(
                &sync_addr,
                Some(tidings_telemetry::in_process(sync.clone(), call_timeout)),
            )?,
            push.clone(),
        )?;
        let gateway_grpc = addresses.gateway_grpc.to_string();
        let gateway = services::gateway(
            &config,
            channel(
                &logic_addr,
                Some(tidings_telemetry::in_process(logic.clone(), call_timeout)),
            )?,
            channel(
                &sync_addr,
                Some(tidings_telemetry::in_process(sync.clone(), call_timeout)),
            )?,
            registry,
            gateway_grpc.clone(),
        )?;
        if in_process {
            push.connect_in_process(
                &gateway_grpc,
                tidings_telemetry::in_process(
                    gateway.push_service(),
                    Duration::from_millis(config.logic.push_timeout_ms),
                ),
            );
        }
        servers.grpc("sequence", sequence_listener, sequence)?;
        servers.grpc("store", store_listener, store)?;
        servers.grpc("sync", sync_listener, sync)?;
        servers.grpc("logic", logic_listener, logic)?;
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
