//! Builds each service from configuration and its dependencies. The
//! all-in-one process and the one-service binaries use the same builders, so
//! both shapes run one code path. Each builder returns the shared handler;
//! its gRPC service is `handler.service()`, and in the all-in-one the other
//! services may call the handler directly (`tidings_rpc`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tidings_gateway::{AuthScheme, Gateway, GatewayBackends};
use tidings_logic::{Backends, LogicServer, LogicWebhooks, PushRouter};
use tidings_registry::Registry;
use tidings_rpc::{LogicApi, StoreApi, SyncApi};
use tidings_sequence::{Allocator, SequenceServer};
use tidings_sequence_client::SequenceRouter;
use tidings_storage::Tables;
use tidings_store::StoreServer;
use tidings_sync::{SyncServer, SyncTables};
use tidings_telemetry::ServiceDialer;
use tidings_webhooks::{Dispatcher, DispatcherHandle, FjallOutbox, Outbox, WebhookClient};
use tokio::task::JoinHandle;

use crate::config::TidingsConfig;

/// The sequence service, its background tasks (commit deadline reaper,
/// lease keeper) and its allocator (released on shutdown). `address` is
/// where other services reach this instance.
pub async fn sequence(
    config: &TidingsConfig,
    tables: &Tables,
    address: &str,
) -> (Arc<SequenceServer>, Vec<JoinHandle<()>>, Arc<Allocator>) {
    let allocator = Arc::new(Allocator::new(
        config.sequence.clone(),
        tables.sections.clone(),
        address,
    ));
    let taken = allocator.take_back_own_sections().await;
    if taken > 0 {
        tracing::info!(
            sections = taken,
            "took back the sections this instance held"
        );
    }
    let tasks = vec![allocator.spawn_reaper(), allocator.spawn_lease_keeper()];
    let service = Arc::new(SequenceServer::new(Arc::clone(&allocator)));
    (service, tasks, allocator)
}

/// Routes to the sequence instances at `instances`, calling them through
/// `dialer` (TLS or not, with the service credential).
pub fn sequence_router(
    config: &TidingsConfig,
    instances: Vec<String>,
    dialer: &ServiceDialer,
) -> anyhow::Result<Arc<SequenceRouter>> {
    Ok(Arc::new(SequenceRouter::new(
        instances,
        config.sequence.sections,
        config.grpc.call_timeout(),
        dialer.clone(),
    )?))
}

pub fn store(tables: &Tables) -> Arc<StoreServer> {
    Arc::new(StoreServer::new(tables.messages.clone()))
}

/// The sync service, asking `logic` for users' large groups.
pub fn sync(
    config: &TidingsConfig,
    tables: &Tables,
    router: Arc<SequenceRouter>,
    logic: LogicApi,
) -> Arc<SyncServer> {
    Arc::new(SyncServer::new(
        config.sync.clone(),
        SyncTables {
            inbox: tables.inbox.clone(),
            checkpoints: tables.checkpoints.clone(),
            conversations: tables.conversations.clone(),
        },
        router,
        logic,
    ))
}

/// Routes pushes to the gateways the registry names, calling them through
/// `dialer`; must be called inside a tokio runtime.
pub fn push_router(
    config: &TidingsConfig,
    registry: Arc<dyn Registry>,
    dialer: &ServiceDialer,
) -> PushRouter {
    PushRouter::new(
        registry,
        Duration::from_millis(config.logic.push_timeout_ms),
        dialer.clone(),
    )
}

/// The logic service, calling `store` and `sync` and pushing through `push`,
/// with the webhooks `[webhooks]` configures and the dispatcher draining
/// their outbox (when an asynchronous event is configured; stop it at
/// shutdown). Must be called inside a tokio runtime.
pub fn logic(
    config: &TidingsConfig,
    tables: &Tables,
    router: Arc<SequenceRouter>,
    store: StoreApi,
    sync: SyncApi,
    push: PushRouter,
) -> anyhow::Result<(Arc<LogicServer>, Option<DispatcherHandle>)> {
    let (webhooks, dispatcher) = webhooks(config)?;
    let logic = Arc::new(LogicServer::new(
        config.logic.clone(),
        Backends {
            sequence: router,
            store,
            sync,
            dedupe: tables.dedupe.clone(),
            groups: tables.groups.clone(),
            push_tokens: tables.push_tokens.clone(),
            push,
        },
        webhooks,
    ));
    Ok((logic, dispatcher))
}

/// The webhooks logic calls, and the running dispatcher of their outbox.
fn webhooks(config: &TidingsConfig) -> anyhow::Result<(LogicWebhooks, Option<DispatcherHandle>)> {
    let settings = &config.webhooks;
    let client = WebhookClient::default();
    let invalid = |e: String| anyhow::anyhow!("invalid configuration: {e}");
    if !settings.has_async_events() {
        return Ok((
            LogicWebhooks::new(settings, client, None).map_err(invalid)?,
            None,
        ));
    }
    let dir = &settings.outbox_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create webhooks.outbox_dir {}", dir.display()))?;
    let outbox: Arc<dyn Outbox> = Arc::new(
        FjallOutbox::open(dir)
            .with_context(|| format!("cannot open the webhook outbox in {}", dir.display()))?,
    );
    let dispatcher = Dispatcher::new(outbox.clone(), settings, client.clone())
        .map_err(invalid)?
        .spawn();
    let webhooks = LogicWebhooks::new(settings, client, Some((outbox, dispatcher.waker())))
        .map_err(invalid)?;
    Ok((webhooks, Some(dispatcher)))
}

/// A gateway calling `logic` and `sync`, known to others (in the registry)
/// as `advertised`, and the task keeping its token keys fresh (a JWKS file
/// or URL), if any; must be called inside a tokio runtime. Fails when the
/// token scheme has no key (`gateway.auth`).
pub async fn gateway(
    config: &TidingsConfig,
    logic: LogicApi,
    sync: SyncApi,
    registry: Arc<dyn Registry>,
    advertised: String,
) -> anyhow::Result<(Arc<Gateway>, Option<JoinHandle<()>>)> {
    let auth_config = &config.gateway.auth;
    config
        .gateway
        .check_web_dir()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let (auth, key_refresh) = tidings_gateway::build_authenticator(auth_config)
        .await
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    if auth_config.scheme == AuthScheme::Dev {
        tracing::warn!(
            "development tokens are enabled: anyone can connect as anyone (gateway.auth.scheme = \"dev\")"
        );
    }
    let gateway = Gateway::new(
        config.gateway.clone(),
        GatewayBackends {
            logic,
            sync,
            registry,
            auth,
        },
        advertised,
    );
    Ok((gateway, key_refresh))
}
