//! `[server_api]`: the API keys and the bounds of minted client tokens.

use serde::Deserialize;

use crate::keys::Scope;

/// Settings of the server API (`[server_api]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerApiConfig {
    /// The accepted keys, by hash. Empty (and no `keys_file`): every call
    /// is refused.
    pub keys: Vec<ApiKeyConfig>,
    /// A TOML file with more keys in the same shape (`keys = [{ ... }]`),
    /// e.g. mounted from a Kubernetes Secret; read at start.
    pub keys_file: String,
    /// Lifetime of a minted client token when the request names none.
    pub token_ttl_secs: u64,
    /// Longest lifetime a minted client token may have.
    pub max_token_ttl_secs: u64,
}

impl Default for ServerApiConfig {
    fn default() -> Self {
        ServerApiConfig {
            keys: Vec::new(),
            keys_file: String::new(),
            token_ttl_secs: 3600,
            max_token_ttl_secs: 86_400,
        }
    }
}

/// One API key: who it is for, its hash, what it may do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key in logs and refusals (never the key itself).
    pub name: String,
    /// Hex SHA-256 of the key (`tidings hash-api-key <key>` prints it).
    pub sha256: String,
    pub scopes: Vec<Scope>,
}

/// The shape of `server_api.keys_file`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysFile {
    pub keys: Vec<ApiKeyConfig>,
}

impl ServerApiConfig {
    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.token_ttl_secs == 0 {
            return Err("server_api.token_ttl_secs must be at least 1".into());
        }
        if self.max_token_ttl_secs < self.token_ttl_secs {
            return Err(format!(
                "server_api.max_token_ttl_secs ({}) must be at least server_api.token_ttl_secs ({})",
                self.max_token_ttl_secs, self.token_ttl_secs
            ));
        }
        crate::keys::ApiKeys::from_config(&self.keys)
            .map(|_| ())
            .map_err(|e| format!("server_api.keys: {e}"))
    }
}
