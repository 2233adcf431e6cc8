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
    /// Requests of one connection served at once; past it the gateway stops
    /// reading the connection until one is answered.
    pub max_in_flight: usize,
    /// Sends go to logic in batches, split into this many lanes by
    /// conversation, each with one batch in flight.
    pub send_lanes: usize,
    /// Most sends in one batch to logic.
    pub max_send_batch: usize,
    /// WebSocket read buffer per connection, in bytes (larger frames still
    /// arrive whole).
    pub ws_read_buffer_bytes: usize,
    /// WebSocket write buffer per connection, in bytes: queued frames are
    /// written once this much is buffered, and always at the end of a burst.
    pub ws_write_buffer_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_frame_bytes: 64 * 1024,
            registry_ttl_secs: 60,
            outbound_queue: 1024,
            auth: "dev".to_string(),
            max_in_flight: 32,
            send_lanes: 2,
            max_send_batch: 256,
            ws_read_buffer_bytes: 4096,
            ws_write_buffer_bytes: 4096,
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
        if !(1..=1024).contains(&self.max_in_flight) {
            return Err("gateway.max_in_flight must be between 1 and 1024".into());
        }
        if !(1..=64).contains(&self.send_lanes) {
            return Err("gateway.send_lanes must be between 1 and 64".into());
        }
        if !(1..=1024).contains(&self.max_send_batch) {
            return Err("gateway.max_send_batch must be between 1 and 1024".into());
        }
        if !(512..=1 << 20).contains(&self.ws_read_buffer_bytes) {
            return Err("gateway.ws_read_buffer_bytes must be between 512 and 1048576".into());
        }
        if self.ws_write_buffer_bytes > 1 << 20 {
            return Err("gateway.ws_write_buffer_bytes must be at most 1048576".into());
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
