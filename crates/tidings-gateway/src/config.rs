//! Gateway settings.

use std::time::Duration;

use serde::Deserialize;

use crate::limits::LimitsConfig;
use crate::tls::TlsConfig;

/// Settings of the gateway (`[gateway]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Largest frame either way, in bytes, announced in `Welcome`: larger
    /// client frames get `frame_too_large` and the connection stays open;
    /// the gateway never writes a larger one (pages are cut to fit, with
    /// `has_more` set). Must hold one message of `logic.max_body_bytes`
    /// with its ids (see `tidings_core::wire::MESSAGE_OVERHEAD`).
    pub max_frame_bytes: usize,
    /// How long a registry entry lives without a heartbeat (seconds); the
    /// gateway refreshes its entries every third of it.
    pub registry_ttl_secs: u64,
    /// Frames queued for one slow connection before it is closed (it will
    /// reconnect and pull).
    pub outbound_queue: usize,
    /// Bytes of frames queued for one connection before it is closed like
    /// one whose queue is full (at least twice `max_frame_bytes`, see
    /// [`GatewayConfig::outbound_bytes`]). Answers to its own requests wait
    /// for room instead (the connection's requests slow down).
    pub outbound_queue_bytes: usize,
    /// A connection that takes none of its waiting frames for this long
    /// (milliseconds) is closed as too slow.
    pub write_timeout_ms: u64,
    /// On SIGTERM: how long (milliseconds) requests in flight get to finish
    /// before they are answered `unavailable`; then every connection gets
    /// its close frame and the process exits.
    pub drain_timeout_ms: u64,
    /// How often (milliseconds) the gateway checks that the registry still
    /// holds its entries; when they are gone (Redis restarted empty) it
    /// registers its connections again at once.
    pub registry_check_ms: u64,
    /// Listen backlog of the WebSocket port: connections the kernel queues
    /// before they are accepted (capped by `net.core.somaxconn`).
    pub listen_backlog: u32,
    /// How connections prove who they are (`[gateway.auth]`).
    pub auth: AuthConfig,
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
    /// Send and read rates, connections per user (`[gateway.limits]`).
    pub limits: LimitsConfig,
    /// `wss://` on the WebSocket port (`[gateway.tls]`); off by default.
    pub tls: TlsConfig,
    /// A directory of static files (the built web chat page, `web/dist`)
    /// served at `/` on the WebSocket port; empty (the default) serves none.
    pub web_dir: String,
    /// At most one typing signal per connection and conversation is
    /// forwarded in this many milliseconds; the ones in between are answered
    /// `forwarded: false`. Receivers show the indicator for twice this long.
    pub typing_interval_ms: u64,
    /// Most users one connection may watch the presence of; a subscribe
    /// past it is refused `rate_limited`.
    pub presence_max_subscriptions: usize,
    /// Most user ids in one presence subscribe or unsubscribe frame.
    pub presence_max_ids_per_frame: usize,
    /// How long a user's last-seen moment is remembered in the registry
    /// after its last device disconnected (seconds).
    pub presence_last_seen_ttl_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            // One body of the default 32 KiB limit with its ids, and pages
            // of a few hundred ordinary messages. Larger frames would let
            // one page fill a connection's whole `outbound_queue_bytes`,
            // so that any push racing it closed the connection.
            max_frame_bytes: 64 * 1024,
            registry_ttl_secs: 60,
            outbound_queue: 1024,
            outbound_queue_bytes: 1 << 20,
            write_timeout_ms: 10_000,
            drain_timeout_ms: 5_000,
            registry_check_ms: 1_000,
            listen_backlog: 4096,
            auth: AuthConfig::default(),
            max_in_flight: 32,
            send_lanes: 2,
            max_send_batch: 256,
            ws_read_buffer_bytes: 4096,
            ws_write_buffer_bytes: 4096,
            limits: LimitsConfig::default(),
            tls: TlsConfig::default(),
            web_dir: String::new(),
            typing_interval_ms: 2_500,
            presence_max_subscriptions: 200,
            presence_max_ids_per_frame: 100,
            presence_last_seen_ttl_secs: 7 * 24 * 3600,
        }
    }
}

impl GatewayConfig {
    /// The byte bound of a connection's queue: `outbound_queue_bytes`, but
    /// room for two of the largest frames at least, so that a push of the
    /// largest size does not close a connection that has one frame queued.
    pub fn outbound_bytes(&self) -> usize {
        self.outbound_queue_bytes.max(2 * self.max_frame_bytes)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }

    pub fn registry_check(&self) -> Duration {
        Duration::from_millis(self.registry_check_ms)
    }

    pub fn typing_interval(&self) -> Duration {
        Duration::from_millis(self.typing_interval_ms)
    }

    pub fn presence_last_seen_ttl(&self) -> Duration {
        Duration::from_secs(self.presence_last_seen_ttl_secs)
    }

    /// Checks that `web_dir`, when set, is a directory. Checked where a
    /// gateway is built, like [`AuthConfig::check_keys`], so that the other
    /// services of a shared config file need not have the page.
    pub fn check_web_dir(&self) -> Result<(), String> {
        crate::web::check_dir(&self.web_dir)
    }

    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        self.limits.validate()?;
        self.tls.validate()?;
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
        if !(4096..=1 << 30).contains(&self.outbound_queue_bytes) {
            return Err("gateway.outbound_queue_bytes must be between 4096 and 1073741824".into());
        }
        if !(100..=600_000).contains(&self.write_timeout_ms) {
            return Err("gateway.write_timeout_ms must be between 100 and 600000".into());
        }
        if self.drain_timeout_ms > 600_000 {
            return Err("gateway.drain_timeout_ms must be at most 600000".into());
        }
        if self.registry_check_ms < 100 || self.registry_check_ms >= self.registry_ttl_secs * 1000 {
            return Err(
                "gateway.registry_check_ms must be at least 100 and below gateway.registry_ttl_secs"
                    .into(),
            );
        }
        if !(1..=65_535).contains(&self.listen_backlog) {
            return Err("gateway.listen_backlog must be between 1 and 65535".into());
        }
        if !(100..=30_000).contains(&self.typing_interval_ms) {
            return Err("gateway.typing_interval_ms must be between 100 and 30000".into());
        }
        if !(1..=10_000).contains(&self.presence_max_subscriptions) {
            return Err("gateway.presence_max_subscriptions must be between 1 and 10000".into());
        }
        if !(1..=1_000).contains(&self.presence_max_ids_per_frame) {
            return Err("gateway.presence_max_ids_per_frame must be between 1 and 1000".into());
        }
        if self.presence_last_seen_ttl_secs == 0 {
            return Err("gateway.presence_last_seen_ttl_secs must be at least 1".into());
        }
        self.auth.validate()
    }
}

/// Client authentication (`[gateway.auth]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub scheme: AuthScheme,
    /// Keys and checks of the `jwt` scheme (`[gateway.auth.jwt]`).
    pub jwt: JwtConfig,
}

/// The token scheme of client connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// Signed JSON Web Tokens: `sub` is the user id.
    #[default]
    Jwt,
    /// Development tokens `dev:<user_id>`: anyone can connect as anyone.
    /// Only when chosen explicitly.
    Dev,
}

/// Keys and checks of JWT authentication (`[gateway.auth.jwt]`). Empty
/// strings mean unset; at least one key source must be set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Shared secret of HS256/HS384/HS512 tokens (at least 32 bytes).
    pub hs_secret: String,
    /// Or a file holding it (trailing line breaks are ignored).
    pub hs_secret_file: String,
    /// A JWKS file of RS256/ES256/EdDSA (and other asymmetric) public keys;
    /// reloaded when it changes.
    pub jwks_file: String,
    /// Or an `http://` JWKS URL (in-cluster): cached, fetched again on an
    /// unknown key id (at most once every few seconds) and every few minutes.
    pub jwks_url: String,
    /// When set, tokens must name it in `aud`.
    pub audience: String,
    /// When set, tokens must carry it as `iss`.
    pub issuer: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            hs_secret: String::new(),
            hs_secret_file: String::new(),
            jwks_file: String::new(),
            jwks_url: String::new(),
            audience: String::new(),
            issuer: String::new(),
            leeway_secs: 30,
        }
    }
}

/// How to say which keys to set, or how to choose development tokens.
const NO_KEY_HELP: &str = "gateway.auth.scheme is \"jwt\" but no key is configured: set \
    gateway.auth.jwt.hs_secret, hs_secret_file, jwks_file or jwks_url \
    (TIDINGS__GATEWAY__AUTH__JWT__HS_SECRET=...), or, for local development only, \
    gateway.auth.scheme = \"dev\" (TIDINGS__GATEWAY__AUTH__SCHEME=dev) to accept \
    dev:<user_id> tokens from anyone";

impl AuthConfig {
    /// Checks the values, naming the offending key. Key files are read (and
    /// so checked) when the gateway starts.
    pub fn validate(&self) -> Result<(), String> {
        let jwt = &self.jwt;
        if jwt.leeway_secs > 3600 {
            return Err("gateway.auth.jwt.leeway_secs must be at most 3600".into());
        }
        if !jwt.hs_secret.is_empty() && !jwt.hs_secret_file.is_empty() {
            return Err(
                "gateway.auth.jwt.hs_secret and hs_secret_file are both set; set one".into(),
            );
        }
        if !jwt.jwks_file.is_empty() && !jwt.jwks_url.is_empty() {
            return Err("gateway.auth.jwt.jwks_file and jwks_url are both set; set one".into());
        }
        if !jwt.jwks_url.is_empty() && !jwt.jwks_url.starts_with("http://") {
            return Err(format!(
                "gateway.auth.jwt.jwks_url must be an http:// URL (in-cluster), got {:?}",
                jwt.jwks_url
            ));
        }
        if !jwt.hs_secret.is_empty() && jwt.hs_secret.len() < MIN_HS_SECRET_BYTES {
            return Err(format!(
                "gateway.auth.jwt.hs_secret must be at least {MIN_HS_SECRET_BYTES} bytes"
            ));
        }
        Ok(())
    }

    /// Checks that the scheme can authenticate anyone: `jwt` needs a key
    /// source. Checked where a gateway is built, not by [`Self::validate`],
    /// so that the other services start without gateway keys.
    pub fn check_keys(&self) -> Result<(), String> {
        let jwt = &self.jwt;
        let keyless = [
            &jwt.hs_secret,
            &jwt.hs_secret_file,
            &jwt.jwks_file,
            &jwt.jwks_url,
        ]
        .iter()
        .all(|source| source.is_empty());
        if self.scheme == AuthScheme::Jwt && keyless {
            return Err(NO_KEY_HELP.into());
        }
        Ok(())
    }
}

/// Shortest HS secret accepted: 256 bits, as RFC 7518 asks of HS256.
pub const MIN_HS_SECRET_BYTES: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    /// Spoils one value of a valid config.
    type Spoil = fn(&mut GatewayConfig);

    #[test]
    fn out_of_range_values_name_their_key() {
        assert_eq!(GatewayConfig::default().validate(), Ok(()));
        let cases: [(&str, Spoil); 5] = [
            ("gateway.outbound_queue_bytes", |c| {
                c.outbound_queue_bytes = 100
            }),
            ("gateway.write_timeout_ms", |c| c.write_timeout_ms = 0),
            ("gateway.drain_timeout_ms", |c| c.drain_timeout_ms = 1 << 30),
            ("gateway.registry_check_ms", |c| c.registry_check_ms = 1),
            ("gateway.listen_backlog", |c| c.listen_backlog = 0),
        ];
        for (key, spoil) in cases {
            let mut config = GatewayConfig::default();
            spoil(&mut config);
            let error = config.validate().unwrap_err();
            assert!(error.starts_with(key), "{key}: {error}");
        }
    }

    #[test]
    fn jwt_is_the_default_and_needs_a_key() {
        let mut auth = AuthConfig::default();
        assert_eq!(auth.scheme, AuthScheme::Jwt);
        assert_eq!(auth.validate(), Ok(()));
        let error = auth.check_keys().unwrap_err();
        assert!(error.contains("hs_secret"), "{error}");
        assert!(
            error.contains("TIDINGS__GATEWAY__AUTH__SCHEME=dev"),
            "{error}"
        );
        auth.jwt.jwks_file = "/etc/tidings/jwks.json".into();
        assert_eq!(auth.check_keys(), Ok(()));
        let dev = AuthConfig {
            scheme: AuthScheme::Dev,
            ..AuthConfig::default()
        };
        assert_eq!(dev.check_keys(), Ok(()));
    }

    #[test]
    fn auth_values_name_their_key() {
        type SpoilJwt = fn(&mut JwtConfig);
        let cases: [(&str, SpoilJwt); 4] = [
            ("gateway.auth.jwt.leeway_secs", |j| j.leeway_secs = 1 << 20),
            ("gateway.auth.jwt.hs_secret", |j| {
                j.hs_secret = "short".into()
            }),
            ("gateway.auth.jwt.jwks_url", |j| {
                j.jwks_url = "https://idp.example/jwks".into()
            }),
            ("gateway.auth.jwt.jwks_file", |j| {
                j.jwks_file = "a".into();
                j.jwks_url = "http://b".into();
            }),
        ];
        for (key, spoil) in cases {
            let mut auth = AuthConfig::default();
            spoil(&mut auth.jwt);
            let error = auth.validate().unwrap_err();
            assert!(error.starts_with(key), "{key}: {error}");
        }
    }

    #[test]
    fn the_queue_holds_two_of_the_largest_frames() {
        let mut config = GatewayConfig::default();
        assert_eq!(config.outbound_bytes(), 1 << 20);
        config.max_frame_bytes = 1 << 20;
        assert_eq!(config.outbound_bytes(), 2 << 20);
    }
}
