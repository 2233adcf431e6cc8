//! Starts every service in this process, each on its own port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidings_gateway::{DevAuthenticator, Gateway, GatewayBackends};
use tidings_logic::{Backends, LogicServer, PushRouter};
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_proto::store::v1::store_service_client::StoreServiceClient;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_registry::{InProcessRegistry, Registry};
use tidings_sequence::{Allocator, SequenceRouter, SequenceServer};
use tidings_storage::Tables;
use tidings_storage::embedded::EmbeddedStore;
use tidings_store::StoreServer;
use tidings_sync::SyncServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::TidingsConfig;
use crate::serve::{self, lazy_channel};

/// How long shutdown waits for servers to finish their connections.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// The addresses the services actually listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub gateway_ws: SocketAddr,
    pub gateway_grpc: SocketAddr,
    pub logic: SocketAddr,
    pub sequence: SocketAddr,
    pub store: SocketAddr,
    pub sync: SocketAddr,
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
    shutdown: watch::Sender<bool>,
    servers: Vec<(&'static str, JoinHandle<()>)>,
    background: Vec<JoinHandle<()>>,
    gateway: Arc<Gateway>,
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}"))
}

impl AllInOne {
    /// Opens the embedded store under `config.data_dir` and starts every service.
    pub async fn start(config: TidingsConfig) -> anyhow::Result<Self> {
        config.validate().map_err(|e| anyhow::anyhow!(e))?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
        let store = EmbeddedStore::open(&config.data_dir)
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
        let tables = Tables::from_backend(store);
        let registry: Arc<dyn Registry> = Arc::new(InProcessRegistry::new());
        Self::start_with(config, tables, registry).await
    }

    /// Starts every service on the given backends.
    pub async fn start_with(
        config: TidingsConfig,
        tables: Tables,
        registry: Arc<dyn Registry>,
    ) -> anyhow::Result<Self> {
        let listen = &config.listen;
        let sequence_listener = bind(listen.sequence, "sequence").await?;
        let store_listener = bind(listen.store, "store").await?;
        let sync_listener = bind(listen.sync, "sync").await?;
        let logic_listener = bind(listen.logic, "logic").await?;
        let gateway_grpc_listener = bind(listen.gateway_grpc, "gateway grpc").await?;
        let gateway_ws_listener = bind(listen.gateway_ws, "gateway websocket").await?;
        let addresses = Addresses {
            sequence: sequence_listener.local_addr()?,
            store: store_listener.local_addr()?,
            sync: sync_listener.local_addr()?,
            logic: logic_listener.local_addr()?,
            gateway_grpc: gateway_grpc_listener.local_addr()?,
            gateway_ws: gateway_ws_listener.local_addr()?,
        };

        let sequence_router = Arc::new(SequenceRouter::new(
            vec![addresses.sequence.to_string()],
            config.sequence.sections,
        )?);
        let store_client = StoreServiceClient::new(lazy_channel(&addresses.store.to_string())?);
        let sync_client = SyncServiceClient::new(lazy_channel(&addresses.sync.to_string())?);
        let logic_client = LogicServiceClient::new(lazy_channel(&addresses.logic.to_string())?);

        let allocator = Arc::new(Allocator::new(
            config.sequence.clone(),
            tables.sections.clone(),
            &addresses.sequence.to_string(),
        ));
        let reaper = allocator.spawn_reaper();
        let lease_keeper = allocator.spawn_lease_keeper();
        let sequence = SequenceServer::new(allocator).into_service();
        let store = StoreServer::new(tables.messages.clone()).into_service();
        let sync = SyncServer::new(
            config.sync.clone(),
            tables.inbox.clone(),
            tables.checkpoints.clone(),
            sequence_router.clone(),
        )
        .into_service();
        let push = PushRouter::new(
            registry.clone(),
            Duration::from_millis(config.logic.push_timeout_ms),
        );
        let logic = LogicServer::new(
            config.logic.clone(),
            Backends {
                sequence: sequence_router,
                store: store_client,
                sync: sync_client.clone(),
                dedupe: tables.dedupe.clone(),
                push,
            },
        )
        .into_service();
        let gateway = Gateway::new(
            config.gateway.clone(),
            GatewayBackends {
                logic: logic_client,
                sync: sync_client,
                registry,
                auth: Arc::new(DevAuthenticator),
            },
            addresses.gateway_grpc.to_string(),
        );
        let heartbeat = gateway.spawn_heartbeat();

        let (shutdown, watch_shutdown) = watch::channel(false);
        let mut servers = Vec::new();
        let grpc_servers = [
            (
                "sequence",
                spawn_grpc(sequence_listener, sequence, &watch_shutdown)?,
            ),
            ("store", spawn_grpc(store_listener, store, &watch_shutdown)?),
            ("sync", spawn_grpc(sync_listener, sync, &watch_shutdown)?),
            ("logic", spawn_grpc(logic_listener, logic, &watch_shutdown)?),
            (
                "gateway",
                spawn_grpc(
                    gateway_grpc_listener,
                    gateway.push_service(),
                    &watch_shutdown,
                )?,
            ),
        ];
        for (name, server) in grpc_servers {
            servers.push((
                name,
                tokio::spawn(async move {
                    if let Err(e) = server.await {
                        tracing::error!(service = name, error = %e, "grpc server failed");
                    }
                }),
            ));
        }
        let router = gateway.router();
        let ws_shutdown = serve::wait_for(watch_shutdown.clone());
        servers.push((
            "gateway websocket",
            tokio::spawn(async move {
                if let Err(e) = axum::serve(gateway_ws_listener, router)
                    .with_graceful_shutdown(ws_shutdown)
                    .await
                {
                    tracing::error!(error = %e, "websocket server failed");
                }
            }),
        ));
        tracing::info!(
            gateway_ws = %addresses.gateway_ws,
            gateway_grpc = %addresses.gateway_grpc,
            logic = %addresses.logic,
            sequence = %addresses.sequence,
            store = %addresses.store,
            sync = %addresses.sync,
            "all services listening"
        );
        Ok(AllInOne {
            addresses,
            shutdown,
            servers,
            background: vec![reaper, lease_keeper, heartbeat],
            gateway,
        })
    }

    /// Stops every service and waits (bounded) for them to finish, so the
    /// store can be reopened.
    pub async fn shutdown(self) {
        // Stop accepting, then close client connections so the WebSocket
        // server can finish; devices reconnect and pull.
        let _ = self.shutdown.send(true);
        self.gateway.hub().close_all();
        for task in &self.background {
            task.abort();
        }
        for task in self.background {
            let _ = task.await;
        }
        // gRPC servers wait for their peers' HTTP/2 connections to close;
        // give them a bounded drain, then cut what is left.
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        for (name, mut server) in self.servers {
            if tokio::time::timeout_at(deadline, &mut server)
                .await
                .is_err()
            {
                tracing::debug!(service = name, "drain deadline passed; closing the rest");
                server.abort();
                let _ = server.await;
            }
        }
    }
}

type BoxedServe = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>,
>;

fn spawn_grpc<S>(
    listener: TcpListener,
    service: S,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<BoxedServe>
where
    S: tonic::server::NamedService
        + tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    Ok(Box::pin(serve::grpc(listener, service, shutdown.clone())?))
}
