//! The send path: validate, dedupe, allocate, store then sync, commit, ack,
//! push. The order is the guarantee: an acknowledged message is in the store
//! timeline and in every member's inbox, and its seqs are committed.

use tidings_core::{
    ConversationId, DeviceId, Error, ErrorCode, InboxEntry, Message, Seq, TimelineKey, UserId,
    message_id_for, now_ms,
};
use tidings_proto::logic::v1 as pb;
use tidings_proto::store::v1::AppendRequest;
use tidings_proto::sync::v1::{AppendInboxRequest, UserEntry};
use tidings_storage::DedupeRecord;
use tidings_telemetry::metrics::names;
use tracing::Instrument;

use crate::membership::{Audience, Diffusion};
use crate::service::LogicServer;

const MAX_CLIENT_MSG_ID: usize = 64;
const MAX_KIND: usize = 64;

/// A validated send request.
struct Send {
    sender: UserId,
    device: DeviceId,
    conversation: ConversationId,
    client_msg_id: String,
    kind: String,
    body: Vec<u8>,
}

impl LogicServer {
    /// Checks the kind and body of a message, stored or ephemeral.
    pub(crate) fn validate_payload(&self, kind: &str, body: &[u8]) -> Result<(), Error> {
        if kind.len() > MAX_KIND {
            return Err(Error::invalid(format!(
                "kind must be at most {MAX_KIND} bytes"
            )));
        }
        if body.len() > self.config.max_body_bytes {
            return Err(Error::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "body is {} bytes; the limit is {}",
                    body.len(),
                    self.config.max_body_bytes
                ),
            ));
        }
        Ok(())
    }

    fn validate(&self, req: pb::SendRequest) -> Result<Send, Error> {
        let sender = UserId::parse(&req.sender_id)?;
        let device = DeviceId::parse(&req.sender_device)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        if req.client_msg_id.is_empty() || req.client_msg_id.len() > MAX_CLIENT_MSG_ID {
            return Err(Error::invalid(format!(
                "client_msg_id must be 1 to {MAX_CLIENT_MSG_ID} bytes, got {}",
                req.client_msg_id.len()
            )));
        }
        self.validate_payload(&req.kind, &req.body)?;
        Ok(Send {
            sender,
            device,
            conversation,
            client_msg_id: req.client_msg_id,
            kind: req.kind,
            body: req.body,
        })
    }

    pub(crate) async fn handle_send(
        &self,
        req: pb::SendRequest,
    ) -> Result<pb::SendResponse, Error> {
        let send = self.validate(req)?;
        let key = (send.sender.as_str().to_string(), send.client_msg_id.clone());
        if !self
            .in_flight
            .lock()
            .expect("in-flight lock")
            .insert(key.clone())
        {
            return Err(Error::new(
                ErrorCode::Retry,
                "a send with this client_msg_id is still in progress",
            ));
        }
        let result = self.send_once(&send).await;
        self.in_flight.lock().expect("in-flight lock").remove(&key);
        result
    }

    async fn send_once(&self, send: &Send) -> Result<pb::SendResponse, Error> {
        let dedupe = &self.backends.dedupe;
        if let Some(record) = dedupe
            .get_dedupe(send.sender.as_str(), &send.client_msg_id)
            .await?
        {
            if record.conversation_id != send.conversation.to_string() {
                return Err(Error::invalid(format!(
                    "client_msg_id {:?} was already used for conversation {}",
                    send.client_msg_id, record.conversation_id
                )));
            }
            return Ok(pb::SendResponse {
                message_id: record.message_id,
                conversation_id: record.conversation_id,
                conv_seq: record.conv_seq,
                created_at_ms: record.created_at_ms,
                duplicate: true,
            });
        }

        let audience = self.audience(&send.conversation, &send.sender).await?;
        let message = Message {
            message_id: message_id_for(&send.sender, &send.client_msg_id),
            conversation_id: send.conversation.to_string(),
            conv_seq: 0,
            sender_id: send.sender.to_string(),
            sender_device: send.device.to_string(),
            client_msg_id: send.client_msg_id.clone(),
            kind: send.kind.clone(),
            body: send.body.clone(),
            created_at_ms: now_ms(),
        };
        let message = self.deliver(&send.conversation, message, &audience).await?;
        let kind = match send.conversation {
            ConversationId::Direct(..) => "direct",
            ConversationId::Group(_) => "group",
        };
        metrics::counter!(names::LOGIC_MESSAGES, "kind" => kind).increment(1);

        dedupe
            .put_dedupe(
                send.sender.as_str(),
                &send.client_msg_id,
                &DedupeRecord {
                    conversation_id: message.conversation_id.clone(),
                    conv_seq: message.conv_seq,
                    message_id: message.message_id.clone(),
                    created_at_ms: message.created_at_ms,
                },
                self.dedupe_ttl(),
            )
            .await?;

        Ok(pb::SendResponse {
            message_id: message.message_id,
            conversation_id: message.conversation_id,
            conv_seq: message.conv_seq,
            created_at_ms: message.created_at_ms,
            duplicate: false,
        })
    }

    /// Stores `message` in its conversation's store timeline and, for write
    /// diffusion, in every member's inbox; commits the seqs; records it in the
    /// members' conversation lists; then pushes it. Returns the message with
    /// its conv seq. Shared by sends and membership events.
    pub(crate) async fn deliver(
        &self,
        conversation: &ConversationId,
        mut message: Message,
        audience: &Audience,
    ) -> Result<Message, Error> {
        let mut keys = vec![TimelineKey::conversation(conversation).to_string()];
        if audience.diffusion == Diffusion::Write {
            keys.extend(
                audience
                    .members
                    .iter()
                    .map(|m| TimelineKey::inbox(m).to_string()),
            );
        }
        let seqs = self.backends.sequence.allocate(&keys).await?;
        if seqs.len() != keys.len() {
            return Err(Error::internal("sequence service returned a short batch"));
        }
        let refs: Vec<(String, Seq)> = keys.iter().cloned().zip(seqs.iter().copied()).collect();
        message.conv_seq = seqs[0];
        let deliveries: Vec<(String, InboxEntry)> = audience
            .members
            .iter()
            .zip(&seqs[1..])
            .map(|(member, seq)| (member.to_string(), inbox_entry(&message, *seq)))
            .collect();

        if let Err(e) = self.write(&message, &deliveries).await {
            self.abandon(refs).await;
            return Err(e);
        }
        let committed = self.backends.sequence.commit(&refs).await?;
        if committed.len() != refs.len() || committed.iter().any(|ok| !ok) {
            let refused: Vec<(String, Seq)> = refs
                .into_iter()
                .zip(committed.iter().copied().chain(std::iter::repeat(false)))
                .filter(|(_, ok)| !ok)
                .map(|(r, _)| r)
                .collect();
            tracing::warn!(conversation_id = %conversation, refused = refused.len(), "commit refused after the deadline; send fails");
            self.abandon(refused).await;
            return Err(Error::new(
                ErrorCode::Retry,
                "the message was not committed in time; resend with the same client_msg_id",
            ));
        }

        if audience.diffusion == Diffusion::Write {
            let users: Vec<String> = audience.members.iter().map(|m| m.to_string()).collect();
            self.backends
                .conversations
                .touch_conversations(&users, &message)
                .await?;
        }

        let push = self.backends.push.clone();
        match audience.diffusion {
            Diffusion::Write => {
                metrics::histogram!(names::LOGIC_FANOUT, "diffusion" => "write")
                    .record(deliveries.len() as f64);
                // The push belongs to this request's trace.
                tokio::spawn(
                    async move {
                        push.push(deliveries).await;
                    }
                    .in_current_span(),
                );
            }
            Diffusion::Read => {
                let mut members: Vec<String> =
                    audience.members.iter().map(|m| m.to_string()).collect();
                let pushed = message.clone();
                let this = self.clone();
                let group = audience.push_group.clone();
                tokio::spawn(
                    async move {
                        if let Some(group) = group {
                            match this.group_members(&group).await {
                                Ok(listed) => {
                                    members.extend(listed.iter().map(|m| m.to_string()))
                                }
                                Err(e) => {
                                    tracing::warn!(group_id = %group, error = %e, "cannot list members to push; devices will pull");
                                    return;
                                }
                            }
                        }
                        metrics::histogram!(names::LOGIC_FANOUT, "diffusion" => "read")
                            .record(members.len() as f64);
                        push.push_conversation(pushed, members).await;
                    }
                    .in_current_span(),
                );
            }
        }
        Ok(message)
    }

    /// Store then sync: the store timeline first, then every inbox.
    async fn write(
        &self,
        message: &Message,
        deliveries: &[(String, InboxEntry)],
    ) -> Result<(), Error> {
        self.backends
            .store
            .clone()
            .append(AppendRequest {
                messages: vec![message.clone().into()],
            })
            .await?;
        if deliveries.is_empty() {
            return Ok(());
        }
        let entries = deliveries
            .iter()
            .map(|(user, entry)| UserEntry {
                user_id: user.clone(),
                entry: Some(entry.clone().into()),
            })
            .collect();
        self.backends
            .sync
            .clone()
            .append_inbox(AppendInboxRequest { entries })
            .await?;
        Ok(())
    }

    async fn abandon(&self, seqs: Vec<(String, Seq)>) {
        if seqs.is_empty() {
            return;
        }
        if let Err(e) = self.backends.sequence.abandon(&seqs).await {
            // The deadline abandons them anyway; this only lets heads move sooner.
            tracing::warn!(error = %e, "abandon failed; seqs will expire at their deadline");
        }
    }
}

fn inbox_entry(message: &Message, seq: Seq) -> InboxEntry {
    InboxEntry {
        seq,
        conversation_id: message.conversation_id.clone(),
        conv_seq: message.conv_seq,
        message: message.clone(),
    }
}
