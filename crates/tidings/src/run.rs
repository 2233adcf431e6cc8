//! One service per process: the distributed shape. Each binary
//! (`tidings-gateway`, `tidings-logic`, ...) starts one service here, finding
//! the others through `[peers]`.

use std::net::SocketAddr;

use tidings_gateway::Gateway;
use tidings_rpc::{LogicApi, StoreApi, SyncApi};

use crate::config::TidingsConfig;
use crate::grpc_tls::ServiceSecurity;
use crate::serve::lazy_channel;
use crate::server_set::{ServerSet, bind, bind_with_backlog};
use crate::{backends, services};

/// The services Tidings is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Gateway,
    Logic,
    Sequence,
    Store,
    Sync,
}

impl ServiceKind {
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Gateway => "gateway",
            ServiceKind::Logic => "logic",
            ServiceKind::Sequence => "sequence",
            ServiceKind::Store => "store",
            ServiceKind::Sync => "sync",
        }
    }
}

/// One running service.
pub struct RunningService {
    /// `name=address` pairs of what it listens on, e.g. `store=10.0.0.4:7404`.
    pub listening: Vec<(&'static str, SocketAddr)>,
    servers: ServerSet,
}

impl RunningService {
    /// Stops the service (gateways close their connections first).
    pub async fn shutdown(self) {
        self.servers.shutdown().await;
    }
}

/// The address others reach a listener at: the advertised one if set, else
/// the bound one (which must then be a specific interface).
fn advertised(advertise: Option<&String>, bound: SocketAddr, key: &str) -> anyhow::Result<String> {
    if let Some(address) = advertise {
        return Ok(address.clone());
    }
    if bound.ip().is_unspecified() {
        anyhow::bail!(
            "{key} must be set when listening on all interfaces ({bound}): other services need an address to reach this one"
        );
    }
    Ok(bound.to_string())
}

/// Starts `kind` as configured.
pub async fn start(kind: ServiceKind, config: &TidingsConfig) -> anyhow::Result<RunningService> {
    config.validate().map_err(|e| anyhow::anyhow!(e))?;
    // A service on its own is reached over the network: it must require the
    // credential (the token, a client certificate under mTLS, or both), and
    // its peers require it of it. No unauthenticated mode.
    let cannot_start = |e: String| anyhow::anyhow!("tidings-{} cannot start: {e}", kind.name());
    let token = config.grpc.service_token().map_err(cannot_start)?;
    let security = ServiceSecurity::new(token, &config.grpc.tls).map_err(cannot_start)?;
    let dialer = &security.dialer;
    backends::install_metrics(config);
    let mut servers = ServerSet::new(&security);
    let listen = &config.listen;
    let peers = &config.peers;
    let call_timeout = config.grpc.call_timeout();
    let mut listening = match kind {
        ServiceKind::Sequence => {
            let tables = backends::open_tables(config).await?;
            let listener = bind(listen.sequence, "sequence").await?;
            let bound = listener.local_addr()?;
            let address = advertised(
                config.advertise.sequence.as_ref(),
                bound,
                "advertise.sequence",
            )?;
            let (service, tasks, allocator) = services::sequence(config, &tables, &address).await;
            servers.background(tasks);
            servers.release_on_shutdown(allocator);
            servers.grpc("sequence", listener, service.service())?;
            vec![("sequence", bound)]
        }
        ServiceKind::Store => {
            let tables = backends::open_tables(config).await?;
            let listener = bind(listen.store, "store").await?;
            let bound = listener.local_addr()?;
            servers.grpc("store", listener, services::store(&tables).service())?;
            vec![("store", bound)]
        }
        ServiceKind::Sync => {
            let tables = backends::open_tables(config).await?;
            let listener = bind(listen.sync, "sync").await?;
            let bound = listener.local_addr()?;
            let router = services::sequence_router(config, peers.sequence.clone(), dialer)?;
            servers.grpc(
                "sync",
                listener,
                services::sync(
                    config,
                    &tables,
                    router,
                    LogicApi::grpc(lazy_channel(&peers.logic, call_timeout, dialer)?),
                )
                .service(),
            )?;
            vec![("sync", bound)]
        }
        ServiceKind::Logic => {
            let tables = backends::open_tables(config).await?;
            let registry = backends::open_registry(config).await?;
            let listener = bind(listen.logic, "logic").await?;
            let bound = listener.local_addr()?;
            let router = services::sequence_router(config, peers.sequence.clone(), dialer)?;
            let push = services::push_router(config, registry.clone(), dialer);
            let store = StoreApi::grpc(lazy_channel(&peers.store, call_timeout, dialer)?);
            let (logic, dispatcher) = services::logic(
                config,
                &tables,
                router,
                store.clone(),
                SyncApi::grpc(lazy_channel(&peers.sync, call_timeout, dialer)?),
                push.clone(),
            )?;
            servers.stop_on_shutdown(dispatcher);
            // The logic binary also serves the public server API: it holds
            // logic itself (called directly), the registry and the push
            // router's gateway pool, all of which the API needs.
            let api_listener = bind(listen.server_api, "server api").await?;
            let api_bound = api_listener.local_addr()?;
            let api = crate::server_api::router(
                config,
                LogicApi::direct(logic.clone(), call_timeout),
                store,
                registry,
                push,
            )
            .await?;
            servers.grpc("logic", listener, logic.service())?;
            servers.http(
                "server api",
                api_listener,
                api,
                crate::server_api::tls(config)?,
            )?;
            vec![("logic", bound), ("server_api", api_bound)]
        }
        ServiceKind::Gateway => {
            let registry = backends::open_registry(config).await?;
            let ws = bind_with_backlog(
                listen.gateway_ws,
                "gateway websocket",
                config.gateway.listen_backlog,
            )?;
            let grpc = bind(listen.gateway_grpc, "gateway grpc").await?;
            let (ws_bound, grpc_bound) = (ws.local_addr()?, grpc.local_addr()?);
            let address = advertised(
                config.advertise.gateway_grpc.as_ref(),
                grpc_bound,
                "advertise.gateway_grpc",
            )?;
            let (gateway, key_refresh): (std::sync::Arc<Gateway>, _) = services::gateway(
                config,
                LogicApi::grpc(lazy_channel(&peers.logic, call_timeout, dialer)?),
                SyncApi::grpc(lazy_channel(&peers.sync, call_timeout, dialer)?),
                registry,
                address,
            )
            .await?;
            servers.background(key_refresh);
            servers.gateway(gateway, ws, grpc)?;
            vec![("gateway_ws", ws_bound), ("gateway_grpc", grpc_bound)]
        }
    };
    if config.telemetry.metrics {
        let listener = bind(listen.metrics, "metrics").await?;
        listening.push(("metrics", listener.local_addr()?));
        servers.metrics(listener);
    }
    tracing::info!(service = kind.name(), listening = ?listening, "service started");
    Ok(RunningService { listening, servers })
}
