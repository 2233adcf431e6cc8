//! Connection authentication: the server, not the client, decides the user id.
//! A token is checked by the scheme `gateway.auth.scheme` chooses: signed
//! JWTs (`jwt`, the default) or development tokens (`dev`, only when chosen
//! explicitly).

use std::sync::Arc;
use std::time::Duration;

use tidings_core::{Error, ErrorCode, UserId};
use tokio::task::JoinHandle;

use crate::config::{AuthConfig, AuthScheme};
use crate::jwt::JwtAuthenticator;

/// Who a token names, and until when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user: UserId,
    /// The token's `exp` in unix milliseconds; `None`: it never expires
    /// (development tokens).
    pub expires_at_ms: Option<u64>,
    /// Clock skew allowed past `expires_at_ms` before a connection that did
    /// not refresh its token is closed.
    pub leeway: Duration,
}

/// Turns a token into the user id the connection acts as.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// Checks `token`. Every refusal is `ErrorCode::Unauthenticated` with a
    /// message saying why (expired, wrong audience, bad signature...).
    async fn authenticate(&self, token: &str) -> Result<Authenticated, Error>;
}

/// Development tokens of the form `dev:<user_id>`. Anyone can mint one, so
/// this is only for local use; signed tokens replace it in production.
#[derive(Debug, Default, Clone, Copy)]
pub struct DevAuthenticator;

impl DevAuthenticator {
    /// The user a development token names (no I/O, no expiry).
    pub fn user(&self, token: &str) -> Result<UserId, Error> {
        let user = token.strip_prefix("dev:").ok_or_else(|| {
            Error::new(
                ErrorCode::Unauthenticated,
                "token must be of the form dev:<user_id>",
            )
        })?;
        UserId::parse(user)
            .map_err(|e| Error::new(ErrorCode::Unauthenticated, format!("token: {}", e.message)))
    }
}

#[async_trait::async_trait]
impl Authenticator for DevAuthenticator {
    async fn authenticate(&self, token: &str) -> Result<Authenticated, Error> {
        Ok(Authenticated {
            user: self.user(token)?,
            expires_at_ms: None,
            leeway: Duration::ZERO,
        })
    }
}

/// The authenticator `config` asks for, and the task that keeps its keys
/// fresh (a JWKS file watched or a JWKS URL fetched again), if it has one.
/// Reads key files now: a missing key or an unreadable file fails here, with
/// a message naming the key.
pub async fn build_authenticator(
    config: &AuthConfig,
) -> Result<(Arc<dyn Authenticator>, Option<JoinHandle<()>>), String> {
    config.validate()?;
    config.check_keys()?;
    match config.scheme {
        AuthScheme::Dev => Ok((Arc::new(DevAuthenticator), None)),
        AuthScheme::Jwt => {
            let jwt = JwtAuthenticator::from_config(&config.jwt).await?;
            let refresher = jwt.spawn_key_refresh();
            Ok((Arc::new(jwt), refresher))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dev_tokens_name_the_user() {
        let authenticated = DevAuthenticator.authenticate("dev:alice").await.unwrap();
        assert_eq!(authenticated.user.as_str(), "alice");
        assert_eq!(authenticated.expires_at_ms, None);
        for bad in ["alice", "dev:", "dev:a b", "jwt:x"] {
            let err = DevAuthenticator.authenticate(bad).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_default_scheme_refuses_to_start_without_a_key() {
        let error = build_authenticator(&AuthConfig::default())
            .await
            .err()
            .expect("no key");
        assert!(error.contains("gateway.auth.scheme"), "{error}");
    }
}
