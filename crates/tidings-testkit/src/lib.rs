//! Test helpers: start Tidings on ephemeral loopback ports, in this process
//! ([`TestServer`]) or as a real child process that can be killed
//! ([`ProcessServer`]), and reach it with real WebSocket devices and gRPC
//! clients.

mod cluster;
pub mod ledger;
mod process;
mod redis;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tidings::config::ListenConfig;
use tidings::{Addresses, AllInOne, TidingsConfig};
use tidings_client::{ClientError, Device, dev_token, proto::Welcome};
use tidings_core::{ConversationId, ErrorCode, UserId};
use tidings_proto::MAX_GRPC_MESSAGE_BYTES;
use tidings_proto::common::v1::Message;
use tidings_proto::sequence::v1::sequence_service_client::SequenceServiceClient;
use tidings_proto::store::v1::{RangeRequest, store_service_client::StoreServiceClient};
use tidings_proto::sync::v1::PullRequest;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_telemetry::{ServiceToken, TracedChannel};

pub use cluster::{Cluster, Service, cql_contact_point, redis_url};
pub use process::{EPHEMERAL, ProcessServer, ServiceProcess, binary};
pub use redis::RedisServer;

/// The service credential (`grpc.service_token`) of every server this test
/// process starts, in process or as child processes: random, one per test
/// binary, so the test's gRPC clients can carry it.
pub fn service_token() -> &'static ServiceToken {
    static TOKEN: OnceLock<ServiceToken> = OnceLock::new();
    TOKEN.get_or_init(ServiceToken::generate)
}

/// A channel to an internal gRPC service that carries [`service_token`].
pub type ServiceChannel = TracedChannel;

/// The canonical 1:1 conversation id of two users.
pub fn dm(a: &str, b: &str) -> String {
    ConversationId::direct(&UserId::parse(a).unwrap(), &UserId::parse(b).unwrap()).to_string()
}

/// The error code of a request the server must refuse; panics on success
/// or on a failure that is not a server error.
pub fn server_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("not a server error: {e:?}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// A device of `user` connected to `url` with checkpoint 0 that has pulled
/// everything.
pub async fn synced_device(url: &str, user: &str, device: &str) -> Device {
    let (mut d, _) = Device::connect(url, &dev_token(user), device, 0)
        .await
        .expect("device connects");
    d.pull_all().await.expect("initial pull");
    d
}

/// Sends `count` text messages `"{prefix} {i}"` with client ids
/// `"{prefix}-{i}"`; returns their message ids in the order sent.
pub async fn send_texts(
    device: &Device,
    conversation: &str,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let ack = device
            .send(
                conversation,
                &format!("{prefix}-{i}"),
                "text",
                format!("{prefix} {i}"),
            )
            .await
            .expect("send");
        ids.push(ack.message_id);
    }
    ids
}

/// A configuration for tests: ephemeral ports, data under `dir`.
pub fn test_config(dir: &Path) -> TidingsConfig {
    let mut config = TidingsConfig {
        data_dir: dir.to_path_buf(),
        listen: ListenConfig::ephemeral(),
        ..TidingsConfig::default()
    };
    config.log.level = "warn".into();
    // Tests connect with dev:<user> tokens (tests/tests/jwt_auth.rs sets jwt).
    config.gateway.auth.scheme = tidings::AuthScheme::Dev;
    config.grpc.service_token = service_token().reveal().to_string();
    // Tests of other features send and pull as fast as they are answered;
    // tests/tests/limits.rs sets the limits it tests. Processes started by
    // `ProcessServer` and `Cluster` keep the binary's default limits.
    config.gateway.limits = tidings_gateway::LimitsConfig::off();
    config
}

/// The all-in-one, started in this process on ephemeral ports.
pub struct TestServer {
    server: Option<AllInOne>,
    pub addresses: Addresses,
    config: TidingsConfig,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts with test defaults in a fresh temporary directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts after `tweak` has adjusted the test configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut TidingsConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let server = AllInOne::start(config.clone())
            .await
            .expect("start all-in-one");
        TestServer {
            addresses: server.addresses,
            server: Some(server),
            config,
            _dir: Some(dir),
        }
    }

    pub fn url(&self) -> String {
        self.addresses.ws_url()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// Stops every service and starts them again on the same data (new ports).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let server = AllInOne::start(self.config.clone()).await.expect("restart");
        self.addresses = server.addresses;
        self.server = Some(server);
    }

    /// A device of `user` connected with `checkpoint`, before any pull.
    pub async fn device(&self, user: &str, device: &str, checkpoint: u64) -> (Device, Welcome) {
        Device::connect(&self.url(), &dev_token(user), device, checkpoint)
            .await
            .expect("device connects")
    }

    /// A device of `user` connected with checkpoint 0 that has pulled everything.
    pub async fn synced_device(&self, user: &str, device: &str) -> Device {
        synced_device(&self.url(), user, device).await
    }

    pub fn sequence_client(&self) -> SequenceServiceClient<ServiceChannel> {
        SequenceServiceClient::new(channel(&self.addresses.sequence.to_string()))
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
    }

    pub fn sync_client(&self) -> SyncServiceClient<ServiceChannel> {
        SyncServiceClient::new(channel(&self.addresses.sync.to_string()))
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
    }

    pub fn store_client(&self) -> StoreServiceClient<ServiceChannel> {
        StoreServiceClient::new(channel(&self.addresses.store.to_string()))
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
    }

    /// The head of `user`'s inbox, read from the sync service.
    pub async fn inbox_head(&self, user: &str) -> u64 {
        self.sync_client()
            .pull(PullRequest {
                user_id: user.to_string(),
                after: u64::MAX,
                limit: 1,
                max_bytes: 0,
            })
            .await
            .expect("sync pull")
            .into_inner()
            .head
    }

    /// Every message of a conversation's store timeline, oldest first.
    pub async fn stored_messages(&self, conversation: &str) -> Vec<Message> {
        stored_messages(&self.addresses.store.to_string(), conversation).await
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// A lazy channel for test clients, carrying the service credential
/// ([`service_token`]); each client built on it reads answers as large as
/// the services may send (`MAX_GRPC_MESSAGE_BYTES`).
fn channel(addr: &str) -> ServiceChannel {
    service_channel(addr)
}

/// A lazy channel to the internal gRPC service at `addr` (`host:port`) with
/// the service credential of this test process's servers.
pub fn service_channel(addr: &str) -> ServiceChannel {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect_timeout(Duration::from_secs(5));
    // A deadline no test waits for: tests bound their own waits.
    tidings_telemetry::traced(
        endpoint.connect_lazy(),
        Duration::from_secs(300),
        service_token(),
    )
}

/// Every message of a conversation's store timeline, read over gRPC.
pub async fn stored_messages(store_addr: &str, conversation: &str) -> Vec<Message> {
    let mut client = StoreServiceClient::new(channel(store_addr))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let mut after = 0;
    let mut all = Vec::new();
    loop {
        let page = client
            .range(RangeRequest {
                conversation_id: conversation.to_string(),
                after,
                up_to: 0,
                limit: 500,
                max_bytes: 0,
            })
            .await
            .expect("store range")
            .into_inner();
        if let Some(last) = page.messages.last() {
            after = last.conv_seq;
        }
        all.extend(page.messages);
        if !page.has_more {
            return all;
        }
    }
}
