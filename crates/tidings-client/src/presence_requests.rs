//! Typing and presence: ephemeral signals, never stored.
//!
//! - [`Connection::typing`] tells the conversation's other members' online
//!   devices that this user is typing; the server forwards at most one per
//!   connection and conversation every few seconds (the answer says whether
//!   this one was). Receivers get a `TypingEvent` and show it until its
//!   `expires_at_ms`.
//! - [`Connection::presence_subscribe`] watches users on this connection (up
//!   to the server's cap): the current state of each newly watched user,
//!   then every change, arrives as a `PresenceEvent`.
//!
//! Both events are server-initiated frames (request_id 0) in the same queue
//! as inbox pushes: read them with [`Connection::next_typing`] and
//! [`Connection::next_presence`], or with [`Connection::next_push`] when the
//! caller handles every kind of push itself. Watches end with the
//! connection: after a reconnect, subscribe again.

use std::time::Duration;

use tidings_proto::client::v1 as pb;
use tidings_proto::client::v1::{client_frame, server_frame};
use tokio::time::Instant;

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::requests::unexpected;

impl Connection {
    /// Signals that this user is typing in `conversation_id` (a member
    /// only, else `not_member`).
    pub async fn typing(&self, conversation_id: &str) -> Result<pb::TypingResult> {
        let frame = client_frame::Frame::Typing(pb::Typing {
            conversation_id: conversation_id.to_string(),
        });
        match self.request(frame).await?.frame {
            Some(server_frame::Frame::TypingResult(result)) => Ok(result),
            other => Err(unexpected("typing_result", other)),
        }
    }

    /// Watches the presence of `user_ids` on this connection; answers how
    /// many users it watches now. Past the server's cap the whole frame is
    /// refused `rate_limited` and the watches held stay.
    pub async fn presence_subscribe(&self, user_ids: &[&str]) -> Result<pb::PresenceResult> {
        let frame = client_frame::Frame::PresenceSubscribe(pb::PresenceSubscribe {
            user_ids: user_ids.iter().map(|u| u.to_string()).collect(),
        });
        presence_result(self.request(frame).await?)
    }

    /// Stops watching `user_ids` (every user when empty).
    pub async fn presence_unsubscribe(&self, user_ids: &[&str]) -> Result<pb::PresenceResult> {
        let frame = client_frame::Frame::PresenceUnsubscribe(pb::PresenceUnsubscribe {
            user_ids: user_ids.iter().map(|u| u.to_string()).collect(),
        });
        presence_result(self.request(frame).await?)
    }

    /// Waits up to `timeout` for the next typing event; other
    /// server-initiated frames that arrive first are dropped.
    pub async fn next_typing(&self, timeout: Duration) -> Result<pb::TypingEvent> {
        self.next_matching(timeout, |frame| match frame {
            server_frame::Frame::TypingEvent(event) => Some(event),
            _ => None,
        })
        .await
    }

    /// Waits up to `timeout` for the next presence event; other
    /// server-initiated frames that arrive first are dropped.
    pub async fn next_presence(&self, timeout: Duration) -> Result<pb::PresenceEvent> {
        self.next_matching(timeout, |frame| match frame {
            server_frame::Frame::PresenceEvent(event) => Some(event),
            _ => None,
        })
        .await
    }

    async fn next_matching<T>(
        &self,
        timeout: Duration,
        pick: impl Fn(server_frame::Frame) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next_push(left).await.map_err(|e| match e {
                ClientError::Timeout { .. } => ClientError::Timeout {
                    request_id: 0,
                    timeout,
                },
                other => other,
            })?;
            if let Some(found) = frame.frame.and_then(&pick) {
                return Ok(found);
            }
        }
    }
}

fn presence_result(answer: pb::ServerFrame) -> Result<pb::PresenceResult> {
    match answer.frame {
        Some(server_frame::Frame::PresenceResult(result)) => Ok(result),
        other => Err(unexpected("presence_result", other)),
    }
}
