//! A connection's token expiry: when a connection whose token ran out
//! without a `Refresh` is closed, and the `Refresh` frame that moves it.
//!
//! The connection closes at the token's `exp` plus the configured leeway,
//! with an `Error` (unauthenticated, `connection_kept` false) and then Close
//! [`CLOSE_TOKEN_EXPIRED`]. A refresh must name the connection's user;
//! otherwise it is refused and the old expiry stands. Development tokens
//! never expire.

use std::future::pending;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings_core::{Error, ErrorCode, UserId};
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tokio::time::{Instant, Sleep};

use crate::auth::Authenticated;
use crate::outbound::Ending;
use crate::session::{Conn, server_frame};

/// WebSocket close code of a connection whose token expired (4001, in the
/// private-use range): connect again with a fresh token, and pull.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;

/// When the connection's token stops being valid.
#[derive(Default)]
pub(crate) struct TokenExpiry {
    /// Fires at `exp` + leeway; `None`: the token never expires.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl TokenExpiry {
    /// Follows the token just accepted.
    pub(crate) fn set(&mut self, authenticated: &Authenticated) {
        let Some(expires_at_ms) = authenticated.expires_at_ms else {
            self.deadline = None;
            return;
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let left =
            Duration::from_millis(expires_at_ms.saturating_sub(now_ms)) + authenticated.leeway;
        let at = Instant::now() + left;
        match &mut self.deadline {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// Resolves once the token has expired; never for tokens without expiry.
    pub(crate) async fn expired(&mut self) {
        match &mut self.deadline {
            Some(sleep) => sleep.as_mut().await,
            None => pending().await,
        }
    }
}

/// What a connection whose token expired is told before its close.
pub(crate) fn expired_ending() -> Ending {
    let why =
        "token expired: send refresh with a new token before exp; connect again with a fresh token";
    Ending {
        error: Some(server_frame(Out::Error(
            Error::new(ErrorCode::Unauthenticated, why).to_client_frame(false),
        ))),
        code: CLOSE_TOKEN_EXPIRED,
        reason: "token expired",
    }
}

/// Serves `Refresh` on a connection authenticated as `user`.
pub(crate) async fn refresh(
    conn: &Conn,
    user: &UserId,
    expiry: &mut TokenExpiry,
    refresh: client::Refresh,
) -> Result<Out, Error> {
    let authenticated = conn
        .gateway
        .backends
        .auth
        .authenticate(&refresh.token)
        .await?;
    if &authenticated.user != user {
        return Err(Error::new(
            ErrorCode::Unauthenticated,
            format!(
                "the token names user {:?}; this connection is {:?} (the old token stands)",
                authenticated.user.as_str(),
                user.as_str()
            ),
        ));
    }
    expiry.set(&authenticated);
    tracing::debug!(user_id = %user, expires_at_ms = ?authenticated.expires_at_ms, "token refreshed");
    Ok(Out::Refreshed(client::Refreshed {
        expires_at_ms: authenticated.expires_at_ms.unwrap_or(0),
    }))
}
