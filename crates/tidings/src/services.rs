//! Builds each service from configuration and its dependencies. The
//! all-in-one process and the one-service binaries use the same builders, so
//! both shapes run one code path.

use std::sync::Arc;
use std::time::Duration;

use tidings_gateway::{DevAuthenticator, Gateway, GatewayBackends};
use tidings_logic::{Backends, LogicServer, PushRouter};
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_proto::logic::v1::logic_service_server::LogicServiceServer;
use tidings_proto::sequence::v1::sequence_service_server::SequenceServiceServer;
use tidings_proto::store::v1::store_service_client::StoreServiceClient;
use tidings_proto::store::v1::store_service_server::StoreServiceServer;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_proto::sync::v1::sync_service_server::SyncServiceServer;
use tidings_registry::Registry;
use tidings_sequence::{Allocator, SequenceRouter, SequenceServer};
use tidings_storage::Tables;
use tidings_store::StoreServer;
use tidings_sync::SyncServer;
use tokio::task::JoinHandle;

use crate::config::TidingsConfig;
use crate::serve::lazy_channel;

/// The sequence service and its background tasks (commit deadline reaper,
/// lease keeper). `address` is where other services reach this instance.
pub fn sequence(
    config: &TidingsConfig,
    tables: &Tables,
    address: &str,
) -> (SequenceServiceServer<SequenceServer>, Vec<JoinHandle<()>>) {
    let allocator = Arc::new(Allocator::new(
        config.sequence.clone(),
        tables.sections.clone(),
        address,
    ));
    let tasks = vec![allocator.spawn_reaper(), allocator.spawn_lease_keeper()];
    (SequenceServer::new(allocator).into_service(), tasks)
}

/// Routes to the sequence instances at `instances`.
pub fn sequence_router(
    config: &TidingsConfig,
    instances: Vec<String>,
) -> anyhow::Result<Arc<SequenceRouter>> {
    Ok(Arc::new(SequenceRouter::new(
        instances,
        config.sequence.sections,
    )?))
}

pub fn store(tables: &Tables) -> StoreServiceServer<StoreServer> {
    StoreServer::new(tables.messages.clone()).into_service()
}

pub fn sync(
    config: &TidingsConfig,
    tables: &Tables,
    router: Arc<SequenceRouter>,
) -> SyncServiceServer<SyncServer> {
    SyncServer::new(
        config.sync.clone(),
        tables.inbox.clone(),
        tables.checkpoints.clone(),
        tables.groups.clone(),
        router,
    )
    .into_service()
}

/// The logic service, calling store at `store_addr` and sync at `sync_addr`.
pub fn logic(
    config: &TidingsConfig,
    tables: &Tables,
    router: Arc<SequenceRouter>,
    store_addr: &str,
    sync_addr: &str,
    registry: Arc<dyn Registry>,
) -> anyhow::Result<LogicServiceServer<LogicServer>> {
    let push = PushRouter::new(
        registry,
        Duration::from_millis(config.logic.push_timeout_ms),
    );
    Ok(LogicServer::new(
        config.logic.clone(),
        Backends {
            sequence: router,
            store: StoreServiceClient::new(lazy_channel(store_addr)?),
            sync: SyncServiceClient::new(lazy_channel(sync_addr)?),
            dedupe: tables.dedupe.clone(),
            groups: tables.groups.clone(),
            conversations: tables.conversations.clone(),
            push,
        },
    )
    .into_service())
}

/// A gateway calling logic at `logic_addr` and sync at `sync_addr`, known to
/// others (in the registry) as `advertised`.
pub fn gateway(
    config: &TidingsConfig,
    logic_addr: &str,
    sync_addr: &str,
    registry: Arc<dyn Registry>,
    advertised: String,
) -> anyhow::Result<Arc<Gateway>> {
    Ok(Gateway::new(
        config.gateway.clone(),
        GatewayBackends {
            logic: LogicServiceClient::new(lazy_channel(logic_addr)?),
            sync: SyncServiceClient::new(lazy_channel(sync_addr)?),
            registry,
            auth: Arc::new(DevAuthenticator),
        },
        advertised,
    ))
}
