//! Webhooks as the send path uses them (the delivery machinery is
//! `tidings-webhooks`):
//!
//! - `before_send`: every message a user sends (and every edit) is shown to
//!   the hook before it is written; the hook may let it through, refuse it,
//!   or replace its body. All sends of a batch are asked at once, so a batch
//!   waits for one round trip.
//! - `message_committed` and `membership_changed`: enqueued in the durable
//!   outbox right after the commit and before the answer, so an acknowledged
//!   message always has its event. A crash between the commit and the
//!   enqueue is repaired by the client's retry, which finds the message
//!   committed and enqueues again (the event id is the message id, so the
//!   outbox keeps one).
//! - `offline_push`: see `offline_push`.

use std::sync::Arc;

use base64::Engine as _;
use prost::Message as _;
use serde::Serialize;
use tidings_core::events::{EDIT_KIND, MessageEvent};
use tidings_core::ids::SYSTEM_SENDER_PREFIX;
use tidings_core::{Error, ErrorCode, Message};
use tidings_proto::common::v1 as common;
use tidings_webhooks::dispatcher::DispatchWaker;
use tidings_webhooks::{BeforeSendHook, BeforeSendOutcome, EventKind, Outbox, OutboxEvent};

use crate::groups::MEMBERS_KIND;
use crate::read_positions::READ_KIND;

/// The webhooks logic calls, as configured. The default calls none.
#[derive(Clone, Default)]
pub struct LogicWebhooks {
    pub(crate) before_send: Option<BeforeSendHook>,
    pub(crate) outbox: Option<Arc<dyn Outbox>>,
    pub(crate) waker: Option<DispatchWaker>,
    pub(crate) message_committed: bool,
    pub(crate) membership_changed: bool,
    pub(crate) offline_push: bool,
    /// Most recipients per offline_push request.
    pub(crate) max_recipients: usize,
}

impl LogicWebhooks {
    /// Webhooks as `config` sets them up: `outbox` (with the waker of the
    /// dispatcher draining it) is required when an asynchronous event is
    /// configured. Fails, naming the key, on an invalid config.
    pub fn new(
        config: &tidings_webhooks::WebhooksConfig,
        client: tidings_webhooks::WebhookClient,
        outbox: Option<(Arc<dyn Outbox>, DispatchWaker)>,
    ) -> Result<Self, String> {
        config.validate()?;
        let before_send = config
            .before_send
            .as_ref()
            .map(|hook| BeforeSendHook::new(hook, client))
            .transpose()?;
        let configured = |kind| config.delivery(kind).is_some();
        if config.has_async_events() && outbox.is_none() {
            return Err(
                "webhooks: asynchronous events are configured but no outbox is open".into(),
            );
        }
        let (outbox, waker) = outbox.unzip();
        Ok(LogicWebhooks {
            before_send,
            outbox,
            waker,
            message_committed: configured(EventKind::MessageCommitted),
            membership_changed: configured(EventKind::MembershipChanged),
            offline_push: configured(EventKind::OfflinePush),
            max_recipients: config.offline_push_max_recipients,
        })
    }

    /// Stores `events` in the outbox and wakes the dispatcher. A failure is
    /// retried in the background a few times: the send it follows has
    /// committed and must not fail for it.
    pub(crate) async fn enqueue(&self, events: Vec<OutboxEvent>) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        if events.is_empty() {
            return;
        }
        match outbox.enqueue(events.clone()).await {
            Ok(()) => self.wake(),
            Err(error) => {
                tracing::warn!(%error, events = events.len(), "webhook outbox enqueue failed; retrying in the background");
                let (outbox, waker) = (outbox.clone(), self.waker.clone());
                tokio::spawn(async move {
                    for attempt in 1..=5u32 {
                        tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                        match outbox.enqueue(events.clone()).await {
                            Ok(()) => {
                                if let Some(waker) = waker {
                                    waker.wake();
                                }
                                return;
                            }
                            Err(error) => {
                                tracing::warn!(%error, attempt, "webhook outbox enqueue failed again")
                            }
                        }
                    }
                    tracing::error!(
                        events = events.len(),
                        "webhook events lost: the outbox refused them"
                    );
                });
            }
        }
    }

    fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    /// The message_committed and membership_changed events of committed
    /// messages, as configured.
    pub(crate) fn commit_events<'a>(
        &self,
        messages: impl Iterator<Item = &'a Message>,
    ) -> Vec<OutboxEvent> {
        if !self.message_committed && !self.membership_changed {
            return Vec::new();
        }
        let now = tidings_webhooks::now_ms();
        let mut events = Vec::new();
        for message in messages {
            let event = match message.kind.as_str() {
                MEMBERS_KIND if self.membership_changed => membership_changed(message),
                MEMBERS_KIND | READ_KIND => None,
                _ if self.message_committed => Some((
                    format!("message_committed.{}", message.message_id),
                    EventKind::MessageCommitted,
                    serde_json::to_vec(&MessageCommitted {
                        event: "message_committed",
                        message: MessageJson::of(message),
                    }),
                )),
                _ => None,
            };
            let Some((id, kind, payload)) = event else {
                continue;
            };
            match payload {
                Ok(payload) => events.push(OutboxEvent {
                    id,
                    kind,
                    payload,
                    created_at_ms: now,
                }),
                Err(error) => tracing::error!(%error, "cannot encode a webhook event"),
            }
        }
        events
    }

    /// Asks before_send about `message` (a user's message or edit; other
    /// events and system senders are not asked) and applies its answer:
    /// `Ok` with the message to write (its body maybe replaced), or the
    /// error to answer the send with.
    pub(crate) async fn screen(
        &self,
        message: &mut Message,
        max_body_bytes: usize,
    ) -> Result<(), Error> {
        let Some(hook) = &self.before_send else {
            return Ok(());
        };
        if message.sender_id.as_str().starts_with(SYSTEM_SENDER_PREFIX) {
            return Ok(());
        }
        let (body, edit_of) = match MessageEvent::parse(&message.kind, &message.body) {
            Ok(None) => (message.body.clone(), None),
            Ok(Some(MessageEvent::Edit { target, body })) => {
                (body, Some(target.message_id.to_string()))
            }
            // Recalls, deletes and reactions carry no text to moderate.
            _ => return Ok(()),
        };
        let request = BeforeSend {
            event: "before_send",
            message_id: message.message_id.as_str(),
            conversation_id: message.conversation_id.to_string(),
            sender_id: message.sender_id.as_str(),
            sender_device: message.sender_device.as_str(),
            client_msg_id: &message.client_msg_id,
            kind: &message.kind,
            edit_of,
            body: Body::of(&body),
        };
        let event_id = format!("before_send.{}", message.message_id);
        match hook.check(&event_id, &request).await {
            BeforeSendOutcome::Allow | BeforeSendOutcome::FailedOpen { .. } => Ok(()),
            BeforeSendOutcome::Reject { reason } => Err(Error::new(
                ErrorCode::Rejected,
                if reason.is_empty() {
                    "the message was rejected".to_string()
                } else {
                    reason
                },
            )),
            BeforeSendOutcome::FailedClosed { error } => Err(Error::unavailable(format!(
                "the message could not be checked ({error}); retry later"
            ))),
            BeforeSendOutcome::Replace { body } => {
                if body.len() > max_body_bytes {
                    return Err(Error::internal(format!(
                        "before_send replaced the body with {} bytes, above the limit of {max_body_bytes}",
                        body.len()
                    )));
                }
                if message.kind == EDIT_KIND {
                    let mut edit = common::MessageEdit::decode(message.body.as_slice())
                        .map_err(|e| Error::internal(format!("edit body: {e}")))?;
                    edit.body = body;
                    message.body = edit.encode_to_vec();
                } else {
                    message.body = body;
                }
                Ok(())
            }
        }
    }
}

fn membership_changed(
    message: &Message,
) -> Option<(String, EventKind, serde_json::Result<Vec<u8>>)> {
    let change =
        tidings_proto::common::v1::MembershipEvent::decode(message.body.as_slice()).ok()?;
    let action = match common::membership_event::Action::try_from(change.action) {
        Ok(common::membership_event::Action::Added) => "added",
        Ok(common::membership_event::Action::Removed) => "removed",
        Ok(common::membership_event::Action::Created) => "created",
        _ => "unknown",
    };
    let group_id = message
        .conversation_id
        .group()
        .map(|g| g.to_string())
        .unwrap_or_default();
    let payload = serde_json::to_vec(&MembershipChanged {
        event: "membership_changed",
        group_id,
        action,
        actor: change.actor,
        user_ids: change.user_ids,
        conversation_id: message.conversation_id.to_string(),
        conv_seq: message.conv_seq,
        message_id: message.message_id.as_str(),
        at_ms: message.created_at_ms,
    });
    Some((
        format!("membership_changed.{}", message.message_id),
        EventKind::MembershipChanged,
        payload,
    ))
}

/// A body in JSON: text when it is UTF-8, base64 otherwise.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Body {
    Text { body: String },
    Binary { body_base64: String },
}

impl Body {
    pub(crate) fn of(bytes: &[u8]) -> Body {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text {
                body: text.to_string(),
            },
            Err(_) => Body::Binary {
                body_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            },
        }
    }
}

#[derive(Serialize)]
struct BeforeSend<'a> {
    event: &'static str,
    message_id: &'a str,
    conversation_id: String,
    sender_id: &'a str,
    sender_device: &'a str,
    client_msg_id: &'a str,
    kind: &'a str,
    /// For an edit: the message it edits; `body` is the new text.
    #[serde(skip_serializing_if = "Option::is_none")]
    edit_of: Option<String>,
    #[serde(flatten)]
    body: Body,
}

#[derive(Serialize)]
struct MessageCommitted<'a> {
    event: &'static str,
    message: MessageJson<'a>,
}

/// A committed message as webhooks carry it.
#[derive(Serialize)]
pub(crate) struct MessageJson<'a> {
    message_id: &'a str,
    conversation_id: String,
    conv_seq: u64,
    sender_id: &'a str,
    sender_device: &'a str,
    client_msg_id: &'a str,
    kind: &'a str,
    created_at_ms: i64,
    #[serde(flatten)]
    body: Body,
}

impl<'a> MessageJson<'a> {
    pub(crate) fn of(message: &'a Message) -> Self {
        MessageJson {
            message_id: message.message_id.as_str(),
            conversation_id: message.conversation_id.to_string(),
            conv_seq: message.conv_seq,
            sender_id: message.sender_id.as_str(),
            sender_device: message.sender_device.as_str(),
            client_msg_id: &message.client_msg_id,
            kind: &message.kind,
            created_at_ms: message.created_at_ms,
            body: Body::of(&message.body),
        }
    }
}

#[derive(Serialize)]
struct MembershipChanged<'a> {
    event: &'static str,
    group_id: String,
    /// `created`, `added` or `removed` (a member leaving is removed by
    /// itself: `actor` is in `user_ids`).
    action: &'static str,
    actor: String,
    user_ids: Vec<String>,
    conversation_id: String,
    conv_seq: u64,
    message_id: &'a str,
    at_ms: i64,
}
