//! API keys and their scopes. The configuration holds only the SHA-256 of
//! each key: a leaked config file gives no key away. A presented key is
//! hashed once and compared with every configured hash in constant time,
//! so neither the comparison nor which key matched shows in the timing.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tidings_core::{Error, ErrorCode};

use crate::config::ApiKeyConfig;

/// What a key may do. `admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// SendMessage.
    Send,
    /// CreateGroup, AddMembers, RemoveMembers, DeleteGroup.
    Groups,
    /// ListOnlineDevices, ReadHistory.
    Read,
    /// DisconnectUser, MintClientToken, and everything else.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Groups => "groups",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// The hex SHA-256 of `key`, as configured in `server_api.keys[].sha256`.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

/// One accepted key.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub name: String,
    sha256: [u8; 32],
    scopes: Vec<Scope>,
}

impl ApiKey {
    /// Whether the key may do what `scope` allows.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// The accepted keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl ApiKeys {
    /// Checks and takes the configured keys; the error names the bad entry.
    pub fn from_config(keys: &[ApiKeyConfig]) -> Result<Self, String> {
        let mut accepted: Vec<ApiKey> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if key.name.is_empty() {
                return Err(format!("entry {i} has no name"));
            }
            let sha256 = parse_hash(&key.sha256.to_ascii_lowercase()).ok_or_else(|| {
                format!(
                    "{:?}: sha256 must be 64 hex digits (tidings hash-api-key <key> prints it)",
                    key.name
                )
            })?;
            if key.scopes.is_empty() {
                return Err(format!("{:?}: scopes must not be empty", key.name));
            }
            if accepted.iter().any(|k| k.name == key.name) {
                return Err(format!("{:?}: two keys have this name", key.name));
            }
            accepted.push(ApiKey {
                name: key.name.clone(),
                sha256,
                scopes: key.scopes.clone(),
            });
        }
        Ok(ApiKeys { keys: accepted })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key presented in an `authorization` value (`Bearer <key>`), if it
    /// is one of ours and allows `scope`. A missing or unknown key is
    /// `unauthenticated`; a known key without the scope is `forbidden`,
    /// naming the scope.
    pub fn authorize(&self, authorization: Option<&str>, scope: Scope) -> Result<&ApiKey, Error> {
        let unauthenticated =
            |why: &str| Error::new(ErrorCode::Unauthenticated, format!("server api: {why}"));
        let Some(value) = authorization else {
            return Err(unauthenticated(
                "no API key: send `authorization: Bearer <key>`",
            ));
        };
        let presented = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| unauthenticated("the authorization value must be `Bearer <key>`"))?;
        let hash = Sha256::digest(presented.as_bytes());
        // Every configured hash is compared, whichever matches.
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.sha256.ct_eq(hash.as_slice())) {
                found = Some(key);
            }
        }
        let key = found.ok_or_else(|| unauthenticated("unknown API key"))?;
        if !key.allows(scope) {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!(
                    "API key {:?} lacks the scope {:?} this method needs",
                    key.name,
                    scope.as_str()
                ),
            ));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::from_config(&[
            ApiKeyConfig {
                name: "backend".into(),
                sha256: hash_key("k-backend"),
                scopes: vec![Scope::Send, Scope::Read],
            },
            ApiKeyConfig {
                name: "ops".into(),
                sha256: hash_key("k-ops").to_uppercase(),
                scopes: vec![Scope::Admin],
            },
        ])
        .unwrap()
    }

    #[test]
    fn the_hash_is_hex_sha256() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_key_passes_only_with_its_scopes_and_admin_implies_all() {
        let keys = keys();
        let key = keys
            .authorize(Some("Bearer k-backend"), Scope::Send)
            .unwrap();
        assert_eq!(key.name, "backend");
        assert!(
            keys.authorize(Some("Bearer k-backend"), Scope::Read)
                .is_ok()
        );
        let refused = keys
            .authorize(Some("Bearer k-backend"), Scope::Groups)
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        assert!(
            refused.message.contains("\"groups\""),
            "{}",
            refused.message
        );
        for scope in [Scope::Send, Scope::Groups, Scope::Read, Scope::Admin] {
            assert!(
                keys.authorize(Some("Bearer k-ops"), scope).is_ok(),
                "{scope:?}"
            );
        }
    }

    #[test]
    fn missing_malformed_and_unknown_keys_are_unauthenticated() {
        let keys = keys();
        for value in [
            None,
            Some("k-backend"),
            Some("Bearer "),
            Some("Bearer nope"),
        ] {
            let refused = keys.authorize(value, Scope::Send).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Unauthenticated, "{value:?}");
        }
        assert!(
            ApiKeys::default()
                .authorize(Some("Bearer k-backend"), Scope::Send)
                .is_err(),
            "no key configured: everything is refused"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let entry = |name: &str, sha256: &str, scopes: Vec<Scope>| ApiKeyConfig {
            name: name.into(),
            sha256: sha256.into(),
            scopes,
        };
        let err = ApiKeys::from_config(&[entry("b", "abcd", vec![Scope::Send])]).unwrap_err();
        assert!(err.contains("\"b\"") && err.contains("64 hex"), "{err}");
        let err = ApiKeys::from_config(&[entry("b", &hash_key("x"), vec![])]).unwrap_err();
        assert!(err.contains("scopes"), "{err}");
        let twice = [
            entry("b", &hash_key("x"), vec![Scope::Send]),
            entry("b", &hash_key("y"), vec![Scope::Send]),
        ];
        assert!(
            ApiKeys::from_config(&twice)
                .unwrap_err()
                .contains("two keys")
        );
    }
}
