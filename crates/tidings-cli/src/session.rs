//! Who the CLI acts as, and an authenticated connection to the gateway.
//!
//! The user id is never chosen here: the server derives it from the token and
//! names it in `Welcome`. With `--user` the token is the development token
//! `dev:<user>`, which only a gateway with development tokens enabled accepts.

use tidings_client::{ClientError, Connection, Device, dev_token};
use tidings_core::{DeviceId, UserId};

use crate::error::CliError;

/// How the CLI authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A bearer token as the gateway takes it (e.g. a signed JWT).
    Token(String),
    /// The development token of a user.
    Dev(UserId),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A real token stays out of logs.
        match self {
            Credentials::Token(_) => f.write_str("Token(..)"),
            Credentials::Dev(user) => f.debug_tuple("Dev").field(user).finish(),
        }
    }
}

impl Credentials {
    /// Exactly one of `--token` and `--user` (either may come from the
    /// environment), validated.
    pub fn from_flags(token: Option<String>, user: Option<String>) -> Result<Self, CliError> {
        match (token, user) {
            (Some(_), Some(_)) => Err(CliError::Usage(
                "give either --token (TIDINGS_TOKEN) or --user (TIDINGS_USER), not both".into(),
            )),
            (None, None) => Err(CliError::Usage(
                "no credentials: give --token (or TIDINGS_TOKEN), or --user (or TIDINGS_USER) \
                 against a gateway that accepts development tokens"
                    .into(),
            )),
            (Some(token), None) if token.trim().is_empty() => {
                Err(CliError::bad_value("--token", "the token is empty"))
            }
            (Some(token), None) => Ok(Credentials::Token(token.trim().to_string())),
            (None, Some(user)) => Ok(Credentials::Dev(parse_user("--user", &user)?)),
        }
    }

    /// The token sent in `Hello`.
    pub fn token(&self) -> String {
        match self {
            Credentials::Token(token) => token.clone(),
            Credentials::Dev(user) => dev_token(user.as_str()),
        }
    }
}

/// Where the CLI connects, and as whom.
#[derive(Debug, Clone)]
pub struct Identity {
    pub url: String,
    pub credentials: Credentials,
    pub device: DeviceId,
}

impl Identity {
    pub fn new(url: String, credentials: Credentials, device: &str) -> Result<Self, CliError> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(CliError::bad_value(
                "--url",
                format!("expected a ws:// or wss:// URL, got {url:?}"),
            ));
        }
        let device =
            DeviceId::parse(device).map_err(|e| CliError::bad_value("--device", e.message))?;
        Ok(Identity {
            url,
            credentials,
            device,
        })
    }

    /// A connection that has said `Hello` (checkpoint 0: one-shot commands
    /// apply nothing).
    pub async fn session(&self) -> Result<Session, CliError> {
        let connection = Connection::connect(&self.url)
            .await
            .map_err(|e| self.unreachable(e))?;
        let welcome = connection
            .hello(&self.credentials.token(), self.device.as_str(), 0)
            .await?;
        let user = welcomed_user(&welcome.user_id)?;
        Ok(Session { connection, user })
    }

    /// A device that has said `Hello` with `checkpoint`, and its user.
    pub async fn device(&self, checkpoint: u64) -> Result<(Device, UserId), CliError> {
        let (device, welcome) = Device::connect(
            &self.url,
            &self.credentials.token(),
            self.device.as_str(),
            checkpoint,
        )
        .await
        .map_err(|e| self.unreachable(e))?;
        let user = welcomed_user(&welcome.user_id)?;
        Ok((device, user))
    }

    /// A failure to connect, naming the URL; a refusal stays as it is.
    fn unreachable(&self, error: ClientError) -> CliError {
        match CliError::from(error) {
            CliError::Connection(why) => {
                CliError::Connection(format!("cannot connect to {}: {why}", self.url))
            }
            CliError::Timeout(why) => {
                CliError::Timeout(format!("cannot connect to {}: {why}", self.url))
            }
            other => other,
        }
    }
}

/// An authenticated connection and the user the server says it is.
pub struct Session {
    pub connection: Connection,
    pub user: UserId,
}

impl Session {
    /// Closes the connection. The command's work is done by then: a close
    /// handshake that fails changes nothing for the caller, so it is not an
    /// error.
    pub async fn close(self) {
        let _ = self.connection.close().await;
    }
}

fn welcomed_user(user_id: &str) -> Result<UserId, CliError> {
    UserId::parse(user_id).map_err(|e| {
        CliError::Protocol(format!(
            "the gateway welcomed an invalid user id: {}",
            e.message
        ))
    })
}

/// Validates a user id given on the command line, naming the flag.
pub fn parse_user(flag: &str, value: &str) -> Result<UserId, CliError> {
    UserId::parse(value).map_err(|e| CliError::bad_value(flag, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_credential_is_required() {
        let token = Credentials::from_flags(Some(" eyJ.x.y \n".into()), None).unwrap();
        assert_eq!(token.token(), "eyJ.x.y");
        assert_eq!(format!("{token:?}"), "Token(..)");
        let dev = Credentials::from_flags(None, Some("alice".into())).unwrap();
        assert_eq!(dev.token(), "dev:alice");
        for (token, user) in [
            (None, None),
            (Some("t".to_string()), Some("alice".to_string())),
            (Some("  ".to_string()), None),
            (None, Some("not a user".to_string())),
        ] {
            let error = Credentials::from_flags(token, user).unwrap_err();
            assert_eq!(error.code(), "usage", "{error}");
        }
    }

    #[test]
    fn urls_and_device_ids_are_checked_before_connecting() {
        let dev = Credentials::Dev(UserId::parse("alice").unwrap());
        assert!(Identity::new("ws://127.0.0.1:7400/ws".into(), dev.clone(), "cli").is_ok());
        let bad_url = Identity::new("http://x".into(), dev.clone(), "cli").unwrap_err();
        assert!(bad_url.to_string().starts_with("--url:"), "{bad_url}");
        let bad_device = Identity::new("ws://x/ws".into(), dev, "my phone").unwrap_err();
        assert!(
            bad_device.to_string().starts_with("--device:"),
            "{bad_device}"
        );
    }
}
