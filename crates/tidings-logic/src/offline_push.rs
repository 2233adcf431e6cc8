//! The offline_push webhook: for each recipient of a committed message who
//! had no device online when the push looked it up, one request carrying the
//! user, the user's registered push tokens, the sender, a preview and the
//! user's badge (its total unread count, the sum the conversation list
//! shows on every device).
//!
//! The push router hands offline recipients here after its registry look-up
//! (one look-up serves pushes and offline pushes). One task gathers what
//! arrived while it was busy, so a burst costs one token read and one badge
//! per user rather than per message, then enqueues the requests in the
//! durable outbox. A message to many offline users (a large group) becomes
//! requests of at most `webhooks.offline_push_max_recipients` recipients.
//!
//! Not pushed: the sender's own messages, and the server's own kinds
//! (`tidings.*`: read positions, membership changes, edits, recalls and
//! reactions), which change what a device shows but are not news.
//!
//! A crash after the commit and before the outbox holds the request loses
//! that offline push (the message itself is safe; devices find it when they
//! connect). Once enqueued, a request survives crashes until delivered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt as _;
use serde::Serialize;
use tidings_core::{Message, UserId};
use tidings_storage::PushToken;
use tidings_webhooks::{EventKind, OutboxEvent};
use tokio::sync::mpsc;

use crate::push::Offline;
use crate::service::LogicServer;
use crate::webhooks::MessageJson;

/// Batches of offline recipients queued for the task; past it they are
/// dropped (counted).
const QUEUE_BATCHES: usize = 1024;
/// Most recipients gathered into one round.
const MAX_GATHER: usize = 8192;
/// Badges computed at once.
const BADGE_READS: usize = 16;
/// Longest preview, in characters.
const PREVIEW_CHARS: usize = 100;

impl LogicServer {
    /// Starts the offline push task when the webhook is configured; must be
    /// called inside a tokio runtime.
    pub(crate) fn start_offline_push(&self) {
        if !self.webhooks.offline_push {
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
        self.backends.push.report_offline(tx);
        tokio::spawn(self.clone().offline_push(rx));
    }

    async fn offline_push(self, mut queue: mpsc::Receiver<Offline>) {
        while let Some(mut batch) = queue.recv().await {
            while batch.len() < MAX_GATHER {
                match queue.try_recv() {
                    Ok(more) => batch.extend(more),
                    Err(_) => break,
                }
            }
            let events = self.offline_events(batch).await;
            self.webhooks.enqueue(events).await;
        }
    }

    /// The requests for one gathered batch.
    async fn offline_events(&self, batch: Offline) -> Vec<OutboxEvent> {
        // Recipients by message, in message order of arrival.
        let mut by_message: Vec<(Arc<Message>, Vec<String>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (user, message) in batch {
            if user == message.sender_id.as_str() || message.kind.starts_with("tidings.") {
                continue;
            }
            let at = *index
                .entry(message.message_id.to_string())
                .or_insert_with(|| {
                    by_message.push((message.clone(), Vec::new()));
                    by_message.len() - 1
                });
            by_message[at].1.push(user);
        }
        if by_message.is_empty() {
            return Vec::new();
        }
        let mut users: Vec<String> = by_message.iter().flat_map(|(_, u)| u.clone()).collect();
        users.sort();
        users.dedup();
        let tokens = match self.backends.push_tokens.push_tokens(&users).await {
            Ok(tokens) if tokens.len() == users.len() => tokens,
            Ok(_) | Err(_) => {
                tracing::warn!(
                    users = users.len(),
                    "cannot read push tokens; offline pushes carry none"
                );
                vec![Vec::new(); users.len()]
            }
        };
        let badges = self.badges(&users).await;
        let recipients: BTreeMap<String, Recipient> = users
            .into_iter()
            .zip(tokens.into_iter().zip(badges))
            .map(|(user_id, (tokens, badge))| {
                let recipient = Recipient {
                    user_id: user_id.clone(),
                    badge,
                    push_tokens: tokens.into_iter().map(TokenJson::from).collect(),
                };
                (user_id, recipient)
            })
            .collect();
        let now = tidings_webhooks::now_ms();
        let mut events = Vec::new();
        for (message, mut users) in by_message {
            users.sort();
            users.dedup();
            for chunk in users.chunks(self.webhooks.max_recipients.max(1)) {
                let payload = OfflinePush {
                    event: "offline_push",
                    message: MessageJson::of(&message),
                    preview: preview(&message.body),
                    recipients: chunk.iter().filter_map(|u| recipients.get(u)).collect(),
                };
                match serde_json::to_vec(&payload) {
                    Ok(payload) => events.push(OutboxEvent {
                        // The first recipient names the chunk: the same
                        // message pushed to the same users gets the same id.
                        id: format!("offline_push.{}.{}", message.message_id, chunk[0]),
                        kind: EventKind::OfflinePush,
                        payload,
                        created_at_ms: now,
                    }),
                    Err(error) => tracing::error!(%error, "cannot encode an offline push"),
                }
            }
        }
        events
    }

    /// Each user's badge; `None` where it could not be computed (the
    /// request then carries no badge rather than a wrong one).
    async fn badges(&self, users: &[String]) -> Vec<Option<u64>> {
        futures_util::stream::iter(users.iter().cloned())
            .map(|user| async move {
                let user = UserId::parse(&user).ok()?;
                match self.badge(&user).await {
                    Ok(badge) => Some(badge),
                    Err(error) => {
                        tracing::warn!(user_id = %user, %error, "cannot compute a badge");
                        None
                    }
                }
            })
            .buffered(BADGE_READS)
            .collect()
            .await
    }
}

/// The start of a text body; empty for binary bodies.
fn preview(body: &[u8]) -> String {
    std::str::from_utf8(body)
        .map(|text| text.chars().take(PREVIEW_CHARS).collect())
        .unwrap_or_default()
}

#[derive(Serialize)]
struct OfflinePush<'a> {
    event: &'static str,
    message: MessageJson<'a>,
    /// The first characters of a text body (empty for binary bodies).
    preview: String,
    recipients: Vec<&'a Recipient>,
}

#[derive(Serialize)]
struct Recipient {
    user_id: String,
    /// Total unread messages across the user's conversations.
    #[serde(skip_serializing_if = "Option::is_none")]
    badge: Option<u64>,
    push_tokens: Vec<TokenJson>,
}

#[derive(Serialize)]
struct TokenJson {
    device_id: String,
    platform: String,
    token: String,
    updated_at_ms: i64,
}

impl From<PushToken> for TokenJson {
    fn from(token: PushToken) -> Self {
        TokenJson {
            device_id: token.device_id,
            platform: token.platform,
            token: token.token,
            updated_at_ms: token.updated_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_cut_at_characters_and_empty_for_binary() {
        assert_eq!(preview(b"hello"), "hello");
        let long = "é".repeat(300);
        assert_eq!(preview(long.as_bytes()).chars().count(), PREVIEW_CHARS);
        assert_eq!(preview(&[0xff, 0xfe]), "");
    }
}
