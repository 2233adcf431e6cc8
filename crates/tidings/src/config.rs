//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `TIDINGS__SECTION__KEY` environment variables; validated before anything
//! starts, with errors that name the key. `tidings.example.toml` documents
//! every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tidings_gateway::GatewayConfig;
use tidings_logic::LogicConfig;
use tidings_sequence::SequenceConfig;
use tidings_sync::SyncConfig;

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
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `info,tidings_logic=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info,fjall=warn,lsm_tree=warn".into(),
            format: "text".into(),
        }
    }
}

/// The whole configuration of the all-in-one process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TidingsConfig {
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    pub listen: ListenConfig,
    pub log: LogConfig,
    pub sequence: SequenceConfig,
    pub store: StoreConfig,
    pub sync: SyncConfig,
    pub logic: LogicConfig,
    pub gateway: GatewayConfig,
}

impl Default for TidingsConfig {
    fn default() -> Self {
        TidingsConfig {
            data_dir: PathBuf::from("./data"),
            listen: ListenConfig::default(),
            log: LogConfig::default(),
            sequence: SequenceConfig::default(),
            store: StoreConfig::default(),
            sync: SyncConfig::default(),
            logic: LogicConfig::default(),
            gateway: GatewayConfig::default(),
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
                .try_parsing(true),
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
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(format!(
                "log.format must be \"text\" or \"json\", got {:?}",
                self.log.format
            ));
        }
        self.sequence.validate()?;
        self.sync.validate()?;
        self.logic.validate()?;
        self.gateway.validate()?;
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
}
