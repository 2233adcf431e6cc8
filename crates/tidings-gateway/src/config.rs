//! Gateway settings.

use serde::Deserialize;

/// Settings of the gateway (`[gateway]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Largest client frame accepted, in bytes; larger ones get
    /// `frame_too_large` and the connection stays open.
    pub max_frame_bytes: usize,
    /// How long a registry entry lives without a heartbeat (seconds); the
    /// gateway refreshes its entries every third of it.
    pub registry_ttl_secs: u64,
    /// Frames queued for one slow connection before it is closed (it will
    /// reconnect and pull).
    pub outbound_queue: usize,
    /// Token scheme: only `dev` for now (`dev:<user_id>`).
    pub auth: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_frame_bytes: 64 * 1024,
            registry_ttl_secs: 60,
            outbound_queue: 1024,
            auth: "dev".to_string(),
        }
    }
}

impl GatewayConfig {
    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=16 << 20).contains(&self.max_frame_bytes) {
            return Err("gateway.max_frame_bytes must be between 1024 and 16777216".into());
        }
        if self.registry_ttl_secs < 3 {
            return Err("gateway.registry_ttl_secs must be at least 3".into());
        }
        if self.outbound_queue == 0 {
            return Err("gateway.outbound_queue must be at least 1".into());
        }
        if self.auth != "dev" {
            return Err(format!(
                "gateway.auth: unknown scheme {:?}; supported: \"dev\"",
                self.auth
            ));
        }
        Ok(())
    }
}
