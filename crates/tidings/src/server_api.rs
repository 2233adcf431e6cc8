//! Builds the public server API from configuration: its keys (config and
//! keys file), its token minter (the gateway's HS secret) and its router,
//! over handles on logic and store, the registry and the push router's
//! gateway pool. Served by the all-in-one and by the logic binary, which
//! both hold logic and the push router, over TLS with `[server_api.tls]`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidings_logic::PushRouter;
use tidings_registry::Registry;
use tidings_rpc::{GatewayApi, LogicApi, StoreApi};
use tidings_server_api::config::{ApiKeyConfig, KeysFile};
use tidings_server_api::{ApiKeys, Gateways, PublicApi, PublicApiBackends, TokenMinter};
use tidings_tls::rustls::ServerConfig;
use tidings_tls::{ALPN_H2, ALPN_HTTP1, ReloadingCert, ServerTlsOptions};

use crate::config::TidingsConfig;

/// The gateways the push router reaches (in the all-in-one, its own
/// gateway directly), so a disconnect goes the way pushes go.
struct PushGateways(PushRouter);

impl Gateways for PushGateways {
    fn gateway(&self, address: &str) -> Option<GatewayApi> {
        self.0.gateway(address)
    }
}

/// The keys of `server_api.keys` and of `server_api.keys_file`.
pub fn load_keys(config: &TidingsConfig) -> anyhow::Result<ApiKeys> {
    let mut keys: Vec<ApiKeyConfig> = config.server_api.keys.clone();
    let file = &config.server_api.keys_file;
    if !file.is_empty() {
        let from_file: KeysFile = config::Config::builder()
            .add_source(config::File::new(file, config::FileFormat::Toml).required(true))
            .build()
            .and_then(config::Config::try_deserialize)
            .with_context(|| format!("server_api.keys_file {file:?}"))?;
        keys.extend(from_file.keys);
    }
    ApiKeys::from_config(&keys).map_err(|e| anyhow::anyhow!("server_api keys: {e}"))
}

/// Signs client tokens with `gateway.auth.jwt.hs_secret` (or the file it
/// names); without one, MintClientToken answers `unavailable`.
pub fn token_minter(config: &TidingsConfig) -> anyhow::Result<TokenMinter> {
    let jwt = &config.gateway.auth.jwt;
    let secret = if !jwt.hs_secret.is_empty() {
        Some(jwt.hs_secret.clone().into_bytes())
    } else if !jwt.hs_secret_file.is_empty() {
        let text = std::fs::read_to_string(&jwt.hs_secret_file)
            .with_context(|| format!("gateway.auth.jwt.hs_secret_file {:?}", jwt.hs_secret_file))?;
        Some(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec())
    } else {
        None
    };
    let api = &config.server_api;
    TokenMinter::new(
        secret.as_deref(),
        &jwt.audience,
        &jwt.issuer,
        Duration::from_secs(api.token_ttl_secs),
        Duration::from_secs(api.max_token_ttl_secs),
    )
    .map_err(|e| anyhow::anyhow!(e))
}

/// The server API's router (gRPC with health and reflection, and JSON).
pub async fn router(
    config: &TidingsConfig,
    logic: LogicApi,
    store: StoreApi,
    registry: Arc<dyn Registry>,
    push: PushRouter,
) -> anyhow::Result<axum::Router> {
    let api = PublicApi::new(
        PublicApiBackends {
            logic,
            store,
            registry,
            gateways: Arc::new(PushGateways(push)),
        },
        load_keys(config)?,
        token_minter(config)?,
    );
    Ok(tidings_server_api::router(Arc::new(api)).await?)
}

/// The TLS of the server API port (`server_api.tls`), or `None` when it is
/// off. gRPC callers need ALPN `h2`; JSON callers may speak HTTP/1.1. With
/// `client_ca_file`, a caller without a certificate from it is refused in
/// the handshake, before its API key is looked at.
pub fn tls(config: &TidingsConfig) -> anyhow::Result<Option<Arc<ServerConfig>>> {
    let tls = &config.server_api.tls;
    if !tls.enabled() {
        return Ok(None);
    }
    let named = |e: String| anyhow::anyhow!("invalid configuration: server_api.tls: {e}");
    let cert = ReloadingCert::new(
        Path::new(&tls.cert_file),
        Path::new(&tls.key_file),
        Duration::from_millis(tls.reload_check_ms),
        tidings_tls::provider(),
    )
    .map_err(named)?;
    let client_ca_file = (!tls.client_ca_file.is_empty()).then(|| Path::new(&tls.client_ca_file));
    let server = tidings_tls::server_config(&ServerTlsOptions {
        cert: Arc::new(cert),
        client_ca_file,
        alpn: &[ALPN_H2, ALPN_HTTP1],
    })
    .map_err(named)?;
    Ok(Some(server))
}
