//! Starts every service in this process, each on its own port. By default
//! the services call each other's handlers directly, the same handlers the
//! gRPC servers run (`all_in_one.calls`, see [`CallMode`]). With
//! `[grpc.tls]` its gRPC ports serve TLS as in the distributed shape, and
//! the calls that go over its own sockets (loopback mode, sync's calls to
//! logic) connect with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_registry::Registry;
use tidings_storage::Tables;
use tidings_telemetry::{ServiceDialer, ServiceToken};
use tokio::net::TcpListener;

use tidings_rpc::{GatewayApi, LogicApi, SequenceApi, StoreApi, SyncApi};

use crate::config::{CallMode, TidingsConfig};
use crate::grpc_tls::ServiceSecurity;
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
    /// The public server API (gRPC and `POST /api/v1/<Method>`).
    pub server_api: SocketAddr,
    /// Whether the WebSocket port speaks TLS (`gateway.tls`).
    pub gateway_tls: bool,
    /// Whether the WebSocket port also serves the web page (`gateway.web_dir`).
    pub gateway_web: bool,
}

impl Addresses {
    /// The client WebSocket URL: `wss://` when the gateway serves TLS.
    pub fn ws_url(&self) -> String {
        let scheme = if self.gateway_tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.gateway_ws)
    }

    /// The web chat page's URL, when the gateway serves it.
    pub fn web_url(&self) -> Option<String> {
        let scheme = if self.gateway_tls { "https" } else { "http" };
        self.gateway_web
            .then(|| format!("{scheme}://{}/", self.gateway_ws))
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
        // Its ports are reachable from outside the process (tools, other
        // hosts when not on loopback): they require a credential even when
        // the services only call each other in process.
        let service_token = match config
            .grpc
            .service_token()
            .map_err(|e| anyhow::anyhow!(e))?
        {
            Some(token) => Some(token),
            // Client certificates are the credential.
            None if config.grpc.tls.mutual() => None,
            None => {
                tracing::info!(
                    "no grpc.service_token configured: generated a random one for this process; \
                     set grpc.service_token to call its grpc ports from outside"
                );
                Some(ServiceToken::generate())
            }
        };
        let security = ServiceSecurity::new(service_token, &config.grpc.tls)
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let server_api_tls = crate::server_api::tls(&config)?;
        let dialer = &security.dialer;
        let listen = &config.listen;
        let sequence_listener = bind(listen.sequence, "sequence").await?;
        let store_listener = bind(listen.store, "store").await?;
        let sync_listener = bind(listen.sync, "sync").await?;
        let logic_listener = bind(listen.logic, "logic").await?;
        let gateway_grpc_listener = bind(listen.gateway_grpc, "gateway grpc").await?;
        let server_api_listener = bind(listen.server_api, "server api").await?;
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
            gateway_tls: config.gateway.tls.enabled(),
            gateway_web: !config.gateway.web_dir.is_empty(),
            server_api: server_api_listener.local_addr()?,
        };
        let (sequence_addr, store_addr, sync_addr, logic_addr) = (
            addresses.sequence.to_string(),
            addresses.store.to_string(),
            addresses.sync.to_string(),
            addresses.logic.to_string(),
        );

        let mut servers = ServerSet::new(&security);
        if let Some(listener) = metrics_listener {
            servers.metrics(listener);
        }
        let (sequence, tasks, allocator) =
            services::sequence(&config, &tables, &sequence_addr).await;
        servers.background(tasks);
        servers.release_on_shutdown(allocator);
        let store = services::store(&tables);
        let router = services::sequence_router(&config, vec![sequence_addr.clone()], dialer)?;
        // How the services call each other here (`all_in_one.calls`); their
        // ports serve callers from outside (tools, probes) either way. Every
        // call has a deadline, whichever way it goes.
        let calls = Calls {
            mode: config.all_in_one.calls,
            deadline: config.grpc.call_timeout(),
            dialer,
        };
        router.connect_in_process(
            &sequence_addr,
            handle!(calls, SequenceApi, &sequence, &sequence_addr),
        );
        // Sync asks logic for users' large groups (cached), and logic is
        // built after sync, so that one call goes over the loopback socket.
        let sync = services::sync(
            &config,
            &tables,
            router.clone(),
            LogicApi::grpc(lazy_channel(&logic_addr, calls.deadline, dialer)?),
        );
        let push = services::push_router(&config, registry.clone(), dialer);
        let (logic, dispatcher) = services::logic(
            &config,
            &tables,
            router,
            handle!(calls, StoreApi, &store, &store_addr),
            handle!(calls, SyncApi, &sync, &sync_addr),
            push.clone(),
        )?;
        servers.stop_on_shutdown(dispatcher);
        let server_api = crate::server_api::router(
            &config,
            handle!(calls, LogicApi, &logic, &logic_addr),
            handle!(calls, StoreApi, &store, &store_addr),
            registry.clone(),
            push.clone(),
        )
        .await?;
        let gateway_grpc = addresses.gateway_grpc.to_string();
        let (gateway, key_refresh) = services::gateway(
            &config,
            handle!(calls, LogicApi, &logic, &logic_addr),
            handle!(calls, SyncApi, &sync, &sync_addr),
            registry,
            gateway_grpc.clone(),
        )
        .await?;
        servers.background(key_refresh);
        // A push's deadline is the push timeout.
        let pushes = Calls {
            deadline: Duration::from_millis(config.logic.push_timeout_ms),
            ..calls
        };
        push.connect_in_process(
            &gateway_grpc,
            handle!(pushes, GatewayApi, &gateway.push_handler(), &gateway_grpc),
        );
        servers.grpc("sequence", sequence_listener, sequence.service())?;
        servers.grpc("store", store_listener, store.service())?;
        servers.grpc("sync", sync_listener, sync.service())?;
        servers.grpc("logic", logic_listener, logic.service())?;
        servers.gateway(gateway, gateway_ws_listener, gateway_grpc_listener)?;
        servers.http(
            "server api",
            server_api_listener,
            server_api,
            server_api_tls,
        )?;

        tracing::info!(
            gateway_ws = %addresses.gateway_ws,
            gateway_grpc = %addresses.gateway_grpc,
            logic = %addresses.logic,
            sequence = %addresses.sequence,
            store = %addresses.store,
            sync = %addresses.sync,
            server_api = %addresses.server_api,
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

/// How the all-in-one's services reach one another.
#[derive(Clone, Copy)]
struct Calls<'a> {
    mode: CallMode,
    deadline: Duration,
    /// How calls over loopback sockets go: TLS or not, with the service
    /// credential (in-process calls need neither).
    dialer: &'a ServiceDialer,
}

/// A handle of type `$api` on `$handler`, a service of this process served
/// at `$addr`, reached the way `$calls` says.
macro_rules! handle {
    ($calls:expr, $api:ident, $handler:expr, $addr:expr) => {{
        let calls: Calls<'_> = $calls;
        let handler = $handler;
        match calls.mode {
            CallMode::Direct => $api::direct(handler.clone(), calls.deadline),
            CallMode::InProcessGrpc => $api::grpc(tidings_telemetry::in_process(
                Arc::clone(&handler).service(),
                calls.deadline,
            )),
            CallMode::Loopback => $api::grpc(lazy_channel($addr, calls.deadline, calls.dialer)?),
        }
    }};
}
use handle;
