//! Builds each service from configuration and its dependencies. The
//! all-in-one process and the one-service binaries use the same builders, so
//! both shapes run one code path. Clients get explicit gRPC message limits
//! ([`MAX_GRPC_MESSAGE_BYTES`]), like every server.

use std::sync::Arc;
use std::time::Duration;

use tidings_gateway::{DevAuthenticator, Gateway, GatewayBackends};
use tidings_logic::{Backends, LogicServer, PushRouter};
use tidings_proto::MAX_GRPC_MESSAGE_BYTES;
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_proto::logic::v1::logic_service_server::LogicServiceServer;
use tidings_proto::sequence::v1::sequence_service_server::SequenceServiceServer;
use tidings_proto::store::v1::store_service_client::StoreServiceClient;
use tidings_proto::store::v1::store_service_server::StoreServiceServer;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_proto::sync::v1::sync_service_server::SyncServiceServer;
use tidings_registry::Registry;
use tidings_sequence::{Allocator, SequenceServer};
use tidings_sequence_client::SequenceRouter;
use tidings_storage::Tables;
use tidings_store::StoreServer;
use tidings_sync::{SyncServer, SyncTables};
use tokio::task::JoinHandle;

use tidings_telemetry::TracedChannel;

use crate::config::TidingsConfig;

/// The sequence service, its background tasks (commit deadline reaper,
/// lease keeper) and its allocator (released on shutdown). `address` is
/// where other services reach this instance.
pub async fn sequence(
    config: &TidingsConfig,
    tables: &Tables,
    address: &str,
) -> (
    SequenceServiceServer<SequenceServer>,
    Vec<JoinHandle<()>>,
    Arc<Allocator>,
) {
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
    let service = SequenceServer::new(Arc::clone(&allocator)).into_service();
    (service, tasks, allocator)
}

/// Routes to the sequence instances at `instances`.
pub fn sequence_router(
    config: &TidingsConfig,
    instances: Vec<String>,
) -> anyhow::Result<Arc<SequenceRouter>> {
    Ok(Arc::new(SequenceRouter::new(
        instances,
        config.sequence.sections,
        config.grpc.call_timeout(),
    )?))
}

pub fn store(tables: &Tables) -> StoreServiceServer<StoreServer> {
    StoreServer::new(tables.messages.clone()).into_service()
}

/// The sync service, asking `logic` for users' large groups.
pub fn sync(
    config: &TidingsConfig,
    tables: &Tables,
    router: Arc<SequenceRouter>,
    logic: TracedChannel,
) -> SyncServiceServer<SyncServer> {
    SyncServer::new(
        config.sync.clone(),
        SyncTables {
            inbox: tables.inbox.clone(),
            checkpoints: tables.checkpoints.clone(),
            conversations: tables.conversations.clone(),
        },
        router,
        LogicServiceClient::new(logic)
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
    )
    .into_service()
}

/// Routes pushes to the gateways the registry names; must be called inside
/// a tokio runtime.
pub fn push_router(config: &TidingsConfig, registry: Arc<dyn Registry>) -> PushRouter {
    PushRouter::new(
        registry,
        Duration::from_millis(config.logic.push_timeout_ms),
    )
}

/// The logic service, calling `store` and `sync` and pushing through `push`.
pub fn logic(
    config: &TidingsConfig,
    tables: &Tables,
    router: Arc<SequenceRouter>,
    store: TracedChannel,
    sync: TracedChannel,
    push: PushRouter,
) -> anyhow::Result<LogicServiceServer<LogicServer>> {
    Ok(LogicServer::new(
        config.logic.clone(),
        Backends {
            sequence: router,
            store: StoreServiceClient::new(store)
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
            sync: SyncServiceClient::new(sync)
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
            dedupe: tables.dedupe.clone(),
            groups: tables.groups.clone(),
            push,
        },
    )
    .into_service())
}

/// A gateway calling `logic` and `sync`, known to others (in the registry)
/// as `advertised`; must be called inside a tokio runtime.
pub fn gateway(
    config: &TidingsConfig,
    logic: TracedChannel,
    sync: TracedChannel,
    registry: Arc<dyn Registry>,
    advertised: String,
) -> anyhow::Result<Arc<Gateway>> {
    Ok(Gateway::new(
        config.gateway.clone(),
        GatewayBackends {
            logic: LogicServiceClient::new(logic)
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
            sync: SyncServiceClient::new(sync)
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES),
            registry,
            auth: Arc::new(DevAuthenticator),
        },
        advertised,
    ))
}
