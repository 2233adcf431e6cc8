//! JWT authentication: `sub` is the user id, `exp` is required, `nbf`,
//! `aud` and `iss` are checked (the last two when configured), with a
//! leeway for clock skew.
//!
//! Which key checks a token: a token with a `kid` is checked with the JWKS
//! key of that id only (an unknown id reloads the JWKS once, then is
//! refused); a token without one, or when no JWKS is configured, with the
//! HS secret (HS tokens) or the JWKS keys of its algorithm's kind. The
//! algorithm must always be of the key's kind: `none` is never accepted, an
//! HS token is never checked against an RSA/EC/Ed key (whose public half
//! would then be a known secret), nor an RS/ES/EdDSA token against the HS
//! secret.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tidings_core::{Error, ErrorCode, UserId};
use tokio::task::JoinHandle;

use crate::auth::{Authenticated, Authenticator};
use crate::config::{JwtConfig, MIN_HS_SECRET_BYTES};
use crate::jwks::{Jwks, Key, family_name};

/// Checks signed tokens against the configured keys.
pub struct JwtAuthenticator {
    /// The HS secret, as a key without id.
    hs_secret: Option<Arc<Key>>,
    jwks: Option<Arc<Jwks>>,
    audience: Option<String>,
    issuer: Option<String>,
    leeway_secs: u64,
}

/// The header fields that pick the key, read before any check.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The claims the gateway uses (the rest are checked by `jsonwebtoken`).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
}

fn refused(why: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, why)
}

impl JwtAuthenticator {
    /// Reads the configured keys: the HS secret (from its file if so
    /// configured) and the JWKS file, or fetches the JWKS URL.
    pub async fn from_config(config: &JwtConfig) -> Result<Self, String> {
        let hs_secret = if !config.hs_secret.is_empty() {
            Some(config.hs_secret.as_bytes().to_vec())
        } else if !config.hs_secret_file.is_empty() {
            let path = &config.hs_secret_file;
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| format!("gateway.auth.jwt.hs_secret_file: {path}: {e}"))?;
            let end = bytes
                .iter()
                .rposition(|b| !matches!(b, b'\n' | b'\r'))
                .map_or(0, |i| i + 1);
            if end < MIN_HS_SECRET_BYTES {
                return Err(format!(
                    "gateway.auth.jwt.hs_secret_file: {path} must hold at least {MIN_HS_SECRET_BYTES} bytes"
                ));
            }
            Some(bytes[..end].to_vec())
        } else {
            None
        };
        let jwks = if !config.jwks_file.is_empty() {
            Some(Jwks::open_file(&config.jwks_file).await?)
        } else if !config.jwks_url.is_empty() {
            Some(Jwks::open_url(&config.jwks_url).await?)
        } else {
            None
        };
        Self::new(hs_secret.as_deref(), jwks, config)
    }

    fn new(
        hs_secret: Option<&[u8]>,
        jwks: Option<Jwks>,
        config: &JwtConfig,
    ) -> Result<Self, String> {
        let hs_secret = match hs_secret {
            Some(secret) => Some(Arc::new(Key {
                kid: None,
                alg: None,
                key: DecodingKey::from_secret(secret)
                    .map_err(|e| format!("gateway.auth.jwt.hs_secret: {e}"))?,
            })),
            None => None,
        };
        let set = |s: &String| (!s.is_empty()).then(|| s.clone());
        Ok(JwtAuthenticator {
            hs_secret,
            jwks: jwks.map(Arc::new),
            audience: set(&config.audience),
            issuer: set(&config.issuer),
            leeway_secs: config.leeway_secs,
        })
    }

    /// Keeps the JWKS fresh (see `jwks`), if there is one.
    pub fn spawn_key_refresh(&self) -> Option<JoinHandle<()>> {
        self.jwks.as_ref().map(Jwks::spawn_refresh)
    }

    /// The keys that may check a token with this header.
    async fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Result<Vec<Arc<Key>>, Error> {
        if let (Some(kid), Some(jwks)) = (kid, &self.jwks) {
            let key = match jwks.find(kid) {
                Some(key) => key,
                None => {
                    jwks.reload_for_unknown_kid().await;
                    jwks.find(kid)
                        .ok_or_else(|| refused(format!("unknown key id {kid:?}")))?
                }
            };
            if !key.allows(alg) {
                return Err(refused(format!(
                    "algorithm {alg:?} not allowed for key {kid:?} (an {} key{})",
                    key.kind(),
                    key.alg.map(|a| format!(" for {a:?}")).unwrap_or_default()
                )));
            }
            return Ok(vec![key]);
        }
        let mut keys: Vec<Arc<Key>> = self
            .hs_secret
            .iter()
            .filter(|key| key.allows(alg))
            .cloned()
            .collect();
        if let Some(jwks) = &self.jwks {
            keys.extend(jwks.allowing(alg));
        }
        if keys.is_empty() {
            return Err(refused(format!(
                "algorithm {alg:?} not allowed: no {} key is configured",
                family_name(alg.family())
            )));
        }
        Ok(keys)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        let mut required: HashSet<String> = ["exp", "sub"].map(String::from).into();
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.insert("aud".into());
            }
            // Without a configured audience, `aud` is not looked at.
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.insert("iss".into());
        }
        validation.required_spec_claims = required;
        validation
    }

    /// Why `jsonwebtoken` refused a token, for the client.
    fn refusal(&self, error: &JwtError) -> Error {
        let why = match error.kind() {
            ErrorKind::ExpiredSignature => "token expired".to_string(),
            ErrorKind::ImmatureSignature => "token not yet valid (nbf is in the future)".into(),
            ErrorKind::InvalidAudience => format!(
                "wrong audience: the token's aud does not name {:?}",
                self.audience.as_deref().unwrap_or_default()
            ),
            ErrorKind::InvalidIssuer => format!(
                "wrong issuer: the token's iss is not {:?}",
                self.issuer.as_deref().unwrap_or_default()
            ),
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_) => "bad signature".into(),
            ErrorKind::InvalidAlgorithm => "algorithm not allowed for this key".into(),
            ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
            ErrorKind::InvalidClaimFormat(claim) => format!("malformed {claim} claim"),
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => format!("malformed token: {error}"),
            _ => format!("token refused: {error}"),
        };
        refused(why)
    }

    /// Checks the token's signature and claims with `key`.
    fn check(&self, token: &str, key: &Key, alg: Algorithm) -> Result<Claims, JwtError> {
        Ok(jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(alg))?.claims)
    }

    /// The identity checked claims give.
    fn identity(&self, claims: Claims) -> Result<Authenticated, Error> {
        let sub = claims.sub.unwrap_or_default();
        let user = UserId::parse(&sub)
            .map_err(|e| refused(format!("the token's sub is not a user id: {}", e.message)))?;
        // `exp` is required and numeric: `decode` checked it.
        let exp = claims.exp.unwrap_or_default().max(0.0);
        Ok(Authenticated {
            user,
            expires_at_ms: Some((exp * 1000.0) as u64),
            leeway: Duration::from_secs(self.leeway_secs),
        })
    }
}

/// The algorithm and key id of a token, read (unchecked) from its header.
fn header(token: &str) -> Result<(Algorithm, Option<String>), Error> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused(
            "malformed token: a JWT has three base64url parts separated by dots",
        ));
    };
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| refused(format!("malformed token header: {e}")))?;
    let header: Header = serde_json::from_slice(&decoded)
        .map_err(|e| refused(format!("malformed token header: {e}")))?;
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(refused("algorithm none not allowed: tokens must be signed"));
    }
    let alg = Algorithm::from_str(&header.alg)
        .map_err(|_| refused(format!("algorithm {:?} not allowed", header.alg)))?;
    Ok((alg, header.kid))
}

#[async_trait::async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, token: &str) -> Result<Authenticated, Error> {
        let (alg, kid) = header(token)?;
        let keys = self.candidates(alg, kid.as_deref()).await?;
        let mut last = None;
        for key in keys {
            match self.check(token, &key, alg) {
                Ok(claims) => return self.identity(claims),
                // Another key of the same kind may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => last = Some(e),
                Err(e) => return Err(self.refusal(&e)),
            }
        }
        Err(last.map_or_else(|| refused("bad signature"), |e| self.refusal(&e)))
    }
}

#[cfg(test)]
mod tests;
