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
    /// TLS of the port, for gRPC and JSON alike (`[server_api.tls]`); off
    /// by default.
    pub tls: ServerApiTlsConfig,
}

/// TLS of the server API port (`[server_api.tls]`). Empty strings mean
/// unset; both files set turn TLS on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerApiTlsConfig {
    /// PEM certificate chain served, the server's certificate first.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    pub key_file: String,
    /// PEM bundle of CAs: when set, callers must also present a certificate
    /// signed by one of them (mTLS, in addition to the API key); others are
    /// refused in the handshake. Read at start.
    pub client_ca_file: String,
    /// How often (milliseconds) at most the certificate files are looked at
    /// again for a renewed certificate.
    pub reload_check_ms: u64,
}

impl Default for ServerApiTlsConfig {
    fn default() -> Self {
        ServerApiTlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            client_ca_file: String::new(),
            reload_check_ms: 5_000,
        }
    }
}

impl ServerApiTlsConfig {
    /// Whether the port speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    /// Checks the values, naming the key. The files are read when the port
    /// starts serving.
    pub fn validate(&self) -> Result<(), String> {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            return Err(
                "server_api.tls.cert_file and server_api.tls.key_file must be set together".into(),
            );
        }
        if !self.enabled() && !self.client_ca_file.is_empty() {
            return Err(
                "server_api.tls.client_ca_file needs server_api.tls.cert_file and \
                 server_api.tls.key_file: client certificates are asked for in a TLS handshake"
                    .into(),
            );
        }
        if !(100..=3_600_000).contains(&self.reload_check_ms) {
            return Err("server_api.tls.reload_check_ms must be between 100 and 3600000".into());
        }
        Ok(())
    }
}

impl Default for ServerApiConfig {
    fn default() -> Self {
        ServerApiConfig {
            keys: Vec::new(),
            keys_file: String::new(),
            token_ttl_secs: 3600,
            max_token_ttl_secs: 86_400,
            tls: ServerApiTlsConfig::default(),
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
        self.tls.validate()?;
        crate::keys::ApiKeys::from_config(&self.keys)
            .map(|_| ())
            .map_err(|e| format!("server_api.keys: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keys_are_checked_and_named() {
        let on = ServerApiTlsConfig {
            cert_file: "/tls/tls.crt".into(),
            key_file: "/tls/tls.key".into(),
            client_ca_file: "/tls/ca.crt".into(),
            ..ServerApiTlsConfig::default()
        };
        assert_eq!(on.validate(), Ok(()));
        assert_eq!(ServerApiTlsConfig::default().validate(), Ok(()));
        let no_key = ServerApiTlsConfig {
            key_file: String::new(),
            ..on.clone()
        };
        let err = no_key.validate().unwrap_err();
        assert!(err.starts_with("server_api.tls.cert_file"), "{err}");
        let ca_only = ServerApiTlsConfig {
            client_ca_file: "/tls/ca.crt".into(),
            ..ServerApiTlsConfig::default()
        };
        let err = ca_only.validate().unwrap_err();
        assert!(err.starts_with("server_api.tls.client_ca_file"), "{err}");
        let config = ServerApiConfig {
            tls: ServerApiTlsConfig {
                reload_check_ms: 0,
                ..on
            },
            ..ServerApiConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert!(err.starts_with("server_api.tls.reload_check_ms"), "{err}");
    }
}
