//! The synchronous `before_send` hook.
//!
//! The send path POSTs the message (as JSON built by the caller) before it
//! reserves anything, and acts on the answer, a 2xx with a JSON body:
//!
//! ```json
//! {"action": "allow"}
//! {"action": "reject", "reason": "links are not allowed here"}
//! {"action": "replace", "body": "the rewritten message body"}
//! ```
//!
//! An empty 2xx body means allow. Unknown fields are ignored. There is one
//! attempt per send, under the hook's timeout: a send waiting for retries
//! would hold the client longer than the client waits. When the hook times
//! out, cannot be reached, answers another status or an answer that does not
//! parse, the outcome is [`BeforeSendOutcome::FailedOpen`] (send as is) or
//! [`BeforeSendOutcome::FailedClosed`] (refuse), as `fail_open` says.
//!
//! A client retrying a send (same client_msg_id) is checked again: the hook
//! may answer differently the second time, which is the hook's business; the
//! send path's dedupe keeps a committed message from being checked at all.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::BeforeSendConfig;
use crate::http::Endpoint;
use crate::{WebhookClient, WebhookError};

/// The event name in the `X-Tidings-Event` header.
pub const EVENT_NAME: &str = "before_send";
/// Longest reason passed on to a client; longer ones are cut (at a
/// character boundary), so a hook cannot make error frames unbounded.
pub const MAX_REASON_BYTES: usize = 512;
/// Largest answer read; a replaced body is checked against the message size
/// limit by the caller, this only bounds what is buffered.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// What the send path does with a message.
#[derive(Debug, Clone)]
pub enum BeforeSendOutcome {
    /// Send it unchanged.
    Allow,
    /// Refuse it; the client gets a stable code and this reason.
    Reject { reason: String },
    /// Send this body instead (moderation); the caller validates it like
    /// any body.
    Replace { body: Vec<u8> },
    /// The hook failed and `fail_open` is set: send it unchecked.
    FailedOpen { error: WebhookError },
    /// The hook failed and `fail_open` is not set: refuse it, as unavailable
    /// rather than rejected, so the client may retry.
    FailedClosed { error: WebhookError },
}

impl BeforeSendOutcome {
    /// Whether the message may be sent (possibly with a replaced body).
    pub fn allows_send(&self) -> bool {
        matches!(
            self,
            BeforeSendOutcome::Allow
                | BeforeSendOutcome::Replace { .. }
                | BeforeSendOutcome::FailedOpen { .. }
        )
    }
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Answer {
    Allow,
    Reject {
        #[serde(default)]
        reason: String,
    },
    Replace {
        body: String,
    },
}

/// The before_send hook of one deployment. Cheap to clone.
#[derive(Clone)]
pub struct BeforeSendHook {
    endpoint: Endpoint,
    fail_open: bool,
    client: WebhookClient,
}

impl BeforeSendHook {
    /// Fails, naming the key, when the config is invalid.
    pub fn new(config: &BeforeSendConfig, client: WebhookClient) -> Result<Self, String> {
        config.validate()?;
        let key = "webhooks.before_send";
        let endpoint = Endpoint::parse(&config.url, &config.secret, config.timeout_ms, key)?;
        Ok(BeforeSendHook {
            endpoint,
            fail_open: config.fail_open,
            client,
        })
    }

    /// Asks the hook about one message. `event_id` identifies this check
    /// (e.g. sender and client_msg_id) and travels as `X-Tidings-Event-Id`.
    pub async fn check<T: Serialize + ?Sized>(
        &self,
        event_id: &str,
        request: &T,
    ) -> BeforeSendOutcome {
        match self.ask(event_id, request).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(event_id, %error, fail_open = self.fail_open, "before_send webhook failed");
                if self.fail_open {
                    BeforeSendOutcome::FailedOpen { error }
                } else {
                    BeforeSendOutcome::FailedClosed { error }
                }
            }
        }
    }

    async fn ask<T: Serialize + ?Sized>(
        &self,
        event_id: &str,
        request: &T,
    ) -> Result<BeforeSendOutcome, WebhookError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| WebhookError::InvalidEvent(format!("encode before_send request: {e}")))?;
        let answer = self
            .client
            .post(
                &self.endpoint,
                EVENT_NAME,
                event_id,
                1,
                Bytes::from(body),
                MAX_ANSWER_BYTES,
            )
            .await?;
        if !answer.status.is_success() {
            return Err(WebhookError::Status(answer.status.as_u16()));
        }
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(BeforeSendOutcome::Allow);
        }
        let parsed: Answer = serde_json::from_slice(&answer.body)
            .map_err(|e| WebhookError::BadAnswer(e.to_string()))?;
        Ok(match parsed {
            Answer::Allow => BeforeSendOutcome::Allow,
            Answer::Reject { reason } => BeforeSendOutcome::Reject {
                reason: truncate(reason, MAX_REASON_BYTES),
            },
            Answer::Replace { body } => BeforeSendOutcome::Replace {
                body: body.into_bytes(),
            },
        })
    }
}

fn truncate(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short".into(), 512), "short");
        let long = "é".repeat(300); // 600 bytes
        let cut = truncate(long, MAX_REASON_BYTES);
        assert_eq!(cut.len(), 512);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate("aé".into(), 2), "a");
    }

    #[test]
    fn answers_parse() {
        let parse = |text: &str| serde_json::from_str::<Answer>(text);
        assert!(matches!(
            parse(r#"{"action":"allow","extra":1}"#),
            Ok(Answer::Allow)
        ));
        assert!(
            matches!(parse(r#"{"action":"reject"}"#), Ok(Answer::Reject { reason }) if reason.is_empty())
        );
        assert!(
            matches!(parse(r#"{"action":"replace","body":"x"}"#), Ok(Answer::Replace { body }) if body == "x")
        );
        assert!(parse(r#"{"action":"replace"}"#).is_err());
        assert!(parse(r#"{"action":"maybe"}"#).is_err());
    }
}
