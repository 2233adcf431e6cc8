//! Connection authentication: the server, not the client, decides the user id.

use tidings_core::{Error, ErrorCode, UserId};

/// Turns a token into the user id the connection acts as.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, token: &str) -> Result<UserId, Error>;
}

/// Development tokens of the form `dev:<user_id>`. Anyone can mint one, so
/// this is only for local use; signed tokens replace it in production.
#[derive(Debug, Default, Clone, Copy)]
pub struct DevAuthenticator;

impl Authenticator for DevAuthenticator {
    fn authenticate(&self, token: &str) -> Result<UserId, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_tokens_name_the_user() {
        assert_eq!(
            DevAuthenticator.authenticate("dev:alice").unwrap().as_str(),
            "alice"
        );
        for bad in ["alice", "dev:", "dev:a b", "jwt:x"] {
            let err = DevAuthenticator.authenticate(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated, "{bad}");
        }
    }
}
