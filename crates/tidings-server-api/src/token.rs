//! Client tokens minted for the product: HS256 JWTs signed with the
//! gateway's `gateway.auth.jwt.hs_secret`, which the gateway then accepts
//! in `Hello`. Lifetimes are bounded so a leaked token expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tidings_core::ids::SYSTEM_SENDER_PREFIX;
use tidings_core::{Error, UserId};

/// Signs client tokens; without a secret, minting answers `unavailable`.
#[derive(Clone)]
pub struct TokenMinter {
    key: Option<EncodingKey>,
    audience: Option<String>,
    issuer: Option<String>,
    default_ttl: Duration,
    max_ttl: Duration,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
}

impl TokenMinter {
    /// `secret`: the gateway's HS secret, if one is configured; `audience`
    /// and `issuer` (empty: none) as the gateway checks them.
    pub fn new(
        secret: Option<&[u8]>,
        audience: &str,
        issuer: &str,
        default_ttl: Duration,
        max_ttl: Duration,
    ) -> Result<Self, String> {
        let set = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let key = secret
            .map(EncodingKey::from_secret)
            .transpose()
            .map_err(|e| format!("gateway.auth.jwt.hs_secret: {e}"))?;
        Ok(TokenMinter {
            key,
            audience: set(audience),
            issuer: set(issuer),
            default_ttl,
            max_ttl,
        })
    }

    /// A minter that refuses every request (no HS secret configured).
    pub fn disabled() -> Self {
        TokenMinter {
            key: None,
            audience: None,
            issuer: None,
            default_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(1),
        }
    }

    /// A token for `user` valid for `ttl_secs` (0: the default); returns it
    /// and its `exp`.
    pub fn mint(&self, user: &UserId, ttl_secs: u64) -> Result<(String, u64), Error> {
        let Some(key) = &self.key else {
            return Err(Error::unavailable(
                "no client token secret is configured: set gateway.auth.jwt.hs_secret \
                 or hs_secret_file",
            ));
        };
        if user.as_str().starts_with(SYSTEM_SENDER_PREFIX) {
            return Err(Error::invalid(format!(
                "user ids starting with {SYSTEM_SENDER_PREFIX:?} are reserved for system senders"
            )));
        }
        let ttl = match ttl_secs {
            0 => self.default_ttl,
            secs => Duration::from_secs(secs),
        };
        if ttl > self.max_ttl {
            return Err(Error::invalid(format!(
                "ttl_secs must be at most {} (server_api.max_token_ttl_secs)",
                self.max_ttl.as_secs()
            )));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let exp = now + ttl.as_secs();
        let claims = Claims {
            sub: user.as_str(),
            iat: now,
            exp,
            aud: self.audience.as_deref(),
            iss: self.issuer.as_deref(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| Error::internal(format!("cannot sign a client token: {e}")))?;
        Ok((token, exp))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_with_the_secret_and_is_bounded() {
        let minter = TokenMinter::new(
            Some(SECRET),
            "chat",
            "",
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
        .unwrap();
        let alice = UserId::parse("alice").unwrap();
        let (token, exp) = minter.mint(&alice, 0).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["chat"]);
        let key = DecodingKey::from_secret(SECRET).unwrap();
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
        assert_eq!(decoded.claims["sub"], "alice");
        assert_eq!(decoded.claims["exp"], exp);
        assert!(minter.mint(&alice, 601).is_err(), "over the bound");
        let system = UserId::parse("system.billing").unwrap();
        assert!(minter.mint(&system, 0).is_err(), "reserved ids");
        assert_eq!(
            TokenMinter::disabled().mint(&alice, 0).unwrap_err().code,
            tidings_core::ErrorCode::Unavailable
        );
    }
}
