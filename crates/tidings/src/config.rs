//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `TIDINGS__SECTION__KEY` environment variables; validated before anything
//! starts, with errors that name the key. `tidings.example.toml` documents
//! every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tidings_gateway::GatewayConfig;
use tidings_logic::LogicConfig;
use tidings_sequence::SequenceConfig;
use tidings_server_api::ServerApiConfig;
use tidings_storage_scylla::ScyllaConfig;
use tidings_sync::SyncConfig;
use tidings_telemetry::{LogConfig, ServiceToken, TelemetryConfig};
use tidings_webhooks::WebhooksConfig;

pub use crate::grpc_tls::{ClientAuth, GrpcTlsConfig};

/// Where each service listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// Client WebSocket endpoint (`/ws`) of the gateway.
    pub gateway_ws: SocketAddr,
    /// The gateway's gRPC endpoint, which logic pushes to.
    pub gateway_grpc: SocketAddr,
    pub logic: SocketAddr,
    pub sequence: SocketAddr,
    pub store: SocketAddr,
    pub sync: SocketAddr,
    /// Prometheus metrics (`/metrics`) of this process, when
    /// `telemetry.metrics` is on.
    pub metrics: SocketAddr,
    /// The public server API (gRPC and JSON over HTTP on one port), served
    /// by the all-in-one and by the logic binary.
    pub server_api: SocketAddr,
}

impl Default for ListenConfig {
    fn default() -> Self {
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        ListenConfig {
            gateway_ws: at(7400),
            gateway_grpc: at(7401),
            logic: at(7402),
            sequence: at(7403),
            store: at(7404),
            sync: at(7405),
            metrics: at(7406),
            server_api: at(7407),
        }
    }
}

impl ListenConfig {
    /// Every address on port 0 of loopback: the OS picks free ports (tests).
    pub fn ephemeral() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        ListenConfig {
            gateway_ws: any,
            gateway_grpc: any,
            logic: any,
            sequence: any,
            store: any,
            sync: any,
            metrics: any,
            server_api: any,
        }
    }
}

/// Where the tables live.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `embedded` (fjall under `data_dir`; one process per directory, so
    /// all-in-one only) or `scylla` (the `[scylla]` section).
    pub backend: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: "embedded".into(),
        }
    }
}

/// Where the user/device to gateway registry lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// `in_process` (all-in-one only: gateways and logic share the process)
    /// or `redis`.
    pub backend: String,
    /// Redis URL for a single server, e.g. `redis://10.0.0.5:6379`.
    pub url: String,
    /// Seed URLs of a Redis Cluster; when not empty, used instead of `url`.
    pub cluster_urls: Vec<String>,
    /// Prefix of every key, so deployments can share a Redis.
    pub key_prefix: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            backend: "in_process".into(),
            url: "redis://127.0.0.1:6379".into(),
            cluster_urls: Vec::new(),
            key_prefix: "tidings:".into(),
        }
    }
}

/// Where the other services are, for a service running on its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeersConfig {
    /// Every sequence instance (`host:port`); callers route keys to the
    /// owner of their section.
    pub sequence: Vec<String>,
    /// The store service (a load-balanced address).
    pub store: String,
    /// The sync service.
    pub sync: String,
    /// The logic service.
    pub logic: String,
}

impl Default for PeersConfig {
    fn default() -> Self {
        let listen = ListenConfig::default();
        PeersConfig {
            sequence: vec![listen.sequence.to_string()],
            store: listen.store.to_string(),
            sync: listen.sync.to_string(),
            logic: listen.logic.to_string(),
        }
    }
}

/// Calls between services (`[grpc]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// Deadline of every call one service makes to another (pushes to
    /// gateways have `logic.push_timeout_ms`), in process or over a socket.
    /// A call unanswered by then fails as `unavailable`, so no send hangs
    /// on a stuck or vanished peer; the client retries.
    pub call_timeout_ms: u64,
    /// The service credential: a shared secret every internal gRPC call
    /// carries (`authorization: Bearer <token>`) and every internal gRPC
    /// server requires (health checks excepted). At least 16 visible ASCII
    /// characters; the same in every process of a deployment. Empty: unset.
    /// One-service binaries refuse to start without one unless mutual TLS
    /// (`grpc.tls.client_auth = "required"`) is the credential; the
    /// all-in-one then needs none, and otherwise generates a random one.
    pub service_token: String,
    /// A file holding the service token (trailing newline ignored), e.g. a
    /// mounted Kubernetes Secret. Set this or `service_token`, not both.
    pub service_token_file: String,
    /// TLS and mutual TLS between services (`[grpc.tls]`); off by default.
    pub tls: GrpcTlsConfig,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            call_timeout_ms: 8_000,
            service_token: String::new(),
            service_token_file: String::new(),
            tls: GrpcTlsConfig::default(),
        }
    }
}

impl GrpcConfig {
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// The configured service token, read from `service_token_file` when
    /// that is set; `None` when neither key is set. The error names the key
    /// and never shows the token.
    pub fn service_token(&self) -> Result<Option<ServiceToken>, String> {
        if !self.service_token_file.is_empty() {
            let path = &self.service_token_file;
            let read = std::fs::read_to_string(path)
                .map_err(|e| format!("grpc.service_token_file: cannot read {path}: {e}"))?;
            let token = read.trim_end_matches(['\n', '\r']);
            return ServiceToken::new(token)
                .map(Some)
                .map_err(|e| format!("grpc.service_token_file: the token in {path} {e}"));
        }
        if self.service_token.is_empty() {
            return Ok(None);
        }
        ServiceToken::new(&self.service_token)
            .map(Some)
            .map_err(|e| format!("grpc.service_token {e}"))
    }

    /// The service token a one-service process needs: its peers require it,
    /// and it must require it from them.
    pub fn required_service_token(&self) -> Result<ServiceToken, String> {
        self.service_token()?.ok_or_else(|| {
            "grpc.service_token (or grpc.service_token_file) must be set: every internal gRPC \
             call carries this shared secret and every service requires it; give all the \
             services of a deployment the same one (e.g. TIDINGS__GRPC__SERVICE_TOKEN)"
                .to_string()
        })
    }

    /// `commit_deadline_ms`: heads of a section taken over wait up to that
    /// long before they answer, so a shorter deadline would fail every
    /// `Hello` after a sequence restart.
    fn validate(&self, commit_deadline_ms: u64) -> Result<(), String> {
        if self.call_timeout_ms < 100 {
            return Err("grpc.call_timeout_ms must be at least 100".into());
        }
        if self.call_timeout_ms <= commit_deadline_ms {
            return Err(format!(
                "grpc.call_timeout_ms ({}) must be greater than sequence.commit_deadline_ms \
                 ({commit_deadline_ms}), which reads of heads may wait for",
                self.call_timeout_ms
            ));
        }
        if !self.service_token.is_empty() && !self.service_token_file.is_empty() {
            return Err(
                "grpc.service_token and grpc.service_token_file are both set: set one".into(),
            );
        }
        // The file is read when a service starts (`tidings migrate` needs
        // no token and may run where the file is not mounted).
        if !self.service_token.is_empty() {
            ServiceToken::new(&self.service_token)
                .map_err(|e| format!("grpc.service_token {e}"))?;
        }
        self.tls.validate()
    }
}

/// Addresses this process tells others to reach it at, when they differ
/// from where it listens (e.g. listening on 0.0.0.0, reached at the pod IP).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvertiseConfig {
    /// The gateway's gRPC address as written into the registry.
    pub gateway_grpc: Option<String>,
    /// The sequence instance's address as written into section leases.
    pub sequence: Option<String>,
}

/// The whole configuration of the all-in-one process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TidingsConfig {
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    pub listen: ListenConfig,
    pub advertise: AdvertiseConfig,
    pub peers: PeersConfig,
    pub grpc: GrpcConfig,
    pub storage: StorageConfig,
    pub scylla: ScyllaConfig,
    pub registry: RegistryConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    pub sequence: SequenceConfig,
    pub store: StoreConfig,
    pub sync: SyncConfig,
    pub logic: LogicConfig,
    /// Webhooks logic calls (`[webhooks.*]`); none by default.
    pub webhooks: WebhooksConfig,
    pub gateway: GatewayConfig,
    pub server_api: ServerApiConfig,
    pub all_in_one: AllInOneConfig,
}

/// Settings of the all-in-one shape (`[all_in_one]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AllInOneConfig {
    /// How the services call each other inside the process.
    pub calls: CallMode,
}

/// How the all-in-one's services call each other. Every mode runs the same
/// handlers; they differ in what lies between caller and handler
/// (docs/benchmarks.md, "In-process calls", has the measurements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    /// The handler is called as a function: no encoding, no HTTP request.
    #[default]
    Direct,
    /// Through the gRPC client and server stack over an in-process
    /// transport: encoded as on the wire, no socket.
    InProcessGrpc,
    /// Over loopback gRPC sockets, as when deployed apart.
    Loopback,
}

impl Default for TidingsConfig {
    fn default() -> Self {
        TidingsConfig {
            data_dir: PathBuf::from("./data"),
            listen: ListenConfig::default(),
            advertise: AdvertiseConfig::default(),
            peers: PeersConfig::default(),
            grpc: GrpcConfig::default(),
            storage: StorageConfig::default(),
            scylla: ScyllaConfig::default(),
            registry: RegistryConfig::default(),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            sequence: SequenceConfig::default(),
            store: StoreConfig::default(),
            sync: SyncConfig::default(),
            logic: LogicConfig::default(),
            webhooks: WebhooksConfig::default(),
            gateway: GatewayConfig::default(),
            server_api: ServerApiConfig::default(),
            all_in_one: AllInOneConfig::default(),
        }
    }
}

/// Settings of the store service; none yet beyond the backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {}

impl TidingsConfig {
    /// Loads defaults, then `file` if given, then `TIDINGS__...` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("TIDINGS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // Lists come comma-separated: TIDINGS__PEERS__SEQUENCE=a:1,b:2
                .list_separator(",")
                .with_list_parse_key("peers.sequence")
                .with_list_parse_key("registry.cluster_urls")
                .with_list_parse_key("scylla.contact_points"),
        );
        let config: TidingsConfig = builder
            .build()?
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(config)
    }

    /// Checks every section; the error names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.data_dir.as_os_str().is_empty() {
            return Err("data_dir must be set".into());
        }
        self.log.validate()?;
        self.telemetry.validate()?;
        self.webhooks.validate()?;
        if !matches!(self.storage.backend.as_str(), "embedded" | "scylla") {
            return Err(format!(
                "storage.backend must be \"embedded\" or \"scylla\", got {:?}",
                self.storage.backend
            ));
        }
        if self.storage.backend == "scylla" {
            self.scylla.validate()?;
        }
        if !matches!(self.registry.backend.as_str(), "in_process" | "redis") {
            return Err(format!(
                "registry.backend must be \"in_process\" or \"redis\", got {:?}",
                self.registry.backend
            ));
        }
        if self.peers.sequence.is_empty() {
            return Err("peers.sequence must list at least one sequence instance".into());
        }
        self.sequence.validate()?;
        self.grpc.validate(self.sequence.commit_deadline_ms)?;
        self.sync.validate()?;
        self.logic.validate()?;
        self.gateway.validate()?;
        self.server_api.validate()?;
        // Every page holds at least one message, and pages are cut to the
        // frame limit: one message of the largest body must fit a frame.
        let one_message = self.logic.max_body_bytes + tidings_core::wire::MESSAGE_OVERHEAD;
        if self.gateway.max_frame_bytes < one_message {
            return Err(format!(
                "gateway.max_frame_bytes must be at least logic.max_body_bytes + {} ({one_message})",
                tidings_core::wire::MESSAGE_OVERHEAD
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_override_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "data_dir = \"/tmp/x\"\n[sync]\ninbox_ttl_secs = 60\n",
        )
        .unwrap();
        let config = TidingsConfig::load(Some(&file)).unwrap();
        assert_eq!(config.sync.inbox_ttl_secs, 60);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));

        std::fs::write(&file, "[sync]\ninbox_ttl_secs = 0\n").unwrap();
        let err = TidingsConfig::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("sync.inbox_ttl_secs"), "{err}");

        std::fs::write(&file, "[sync]\nno_such_key = 1\n").unwrap();
        let err = TidingsConfig::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("no_such_key"), "{err}");
    }

    #[test]
    fn a_frame_holds_one_message_of_the_largest_body() {
        let mut config = TidingsConfig::default();
        config.logic.max_body_bytes = 1 << 20;
        let err = config.validate().unwrap_err();
        assert!(err.contains("gateway.max_frame_bytes"), "{err}");
        assert!(err.contains("logic.max_body_bytes"), "{err}");
        config.gateway.max_frame_bytes = (1 << 20) + tidings_core::wire::MESSAGE_OVERHEAD;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn the_service_token_comes_from_one_key_and_is_checked() {
        let mut config = TidingsConfig::default();
        assert!(config.grpc.service_token().unwrap().is_none());
        let err = config.grpc.required_service_token().unwrap_err();
        assert!(err.contains("grpc.service_token"), "{err}");

        config.grpc.service_token = "too-short".into();
        let err = config.validate().unwrap_err();
        assert!(
            err.contains("grpc.service_token must be at least 16"),
            "{err}"
        );
        assert!(
            !err.contains("too-short"),
            "the error shows the token: {err}"
        );

        config.grpc.service_token = "0123456789abcdef-token".into();
        assert_eq!(config.validate(), Ok(()));
        let token = config.grpc.required_service_token().unwrap();
        assert_eq!(token.reveal(), "0123456789abcdef-token");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-the-file-0123456789\n").unwrap();
        config.grpc.service_token_file = file.display().to_string();
        let err = config.validate().unwrap_err();
        assert!(err.contains("both set"), "{err}");

        config.grpc.service_token.clear();
        assert_eq!(config.validate(), Ok(()));
        let token = config.grpc.service_token().unwrap().unwrap();
        assert_eq!(token.reveal(), "from-the-file-0123456789");

        config.grpc.service_token_file = dir.path().join("absent").display().to_string();
        let err = config.grpc.service_token().unwrap_err();
        assert!(err.contains("grpc.service_token_file"), "{err}");
    }

    #[test]
    fn the_call_deadline_outlasts_the_commit_deadline() {
        let mut config = TidingsConfig::default();
        assert_eq!(config.validate(), Ok(()));
        config.grpc.call_timeout_ms = 50;
        let err = config.validate().unwrap_err();
        assert!(err.contains("grpc.call_timeout_ms"), "{err}");
        config.grpc.call_timeout_ms = config.sequence.commit_deadline_ms;
        let err = config.validate().unwrap_err();
        assert!(err.contains("sequence.commit_deadline_ms"), "{err}");
        config.sequence.commit_deadline_ms = 1_000;
        assert_eq!(config.validate(), Ok(()));
    }
}
