//! The send path over a batch: validate, claim the idempotency keys, look
//! every dedupe record up in one read, settle what earlier attempts left,
//! then write and commit the rest together (`deliver`). Answers go back one
//! per send, in request order.

use std::collections::HashMap;

use tidings_core::events::MessageEvent;
use tidings_core::ids::SYSTEM_SENDER_PREFIX;
use tidings_core::{
    ConversationId, DeviceId, Error, ErrorCode, Message, UserId, message_id_for, now_ms,
};
use tidings_proto::logic::v1 as pb;
use tidings_proto::store::v1::RangeRequest;
use tidings_proto::sync::v1::{HasEntriesRequest, InboxSeq};
use tidings_sequence_client::SeqStatus;
use tidings_storage::{DedupeKey, DedupeRecord, DedupeState};

use crate::attempt::{Attempt, ack_of};
use crate::audience::Audience;
use crate::failpoint::crash_point;
use crate::in_flight::Claimed;
use crate::service::LogicServer;

const MAX_CLIENT_MSG_ID: usize = 64;
const MAX_KIND: usize = 64;
/// Most sends in one batch.
pub const MAX_SEND_BATCH: usize = 1024;

/// A validated send request.
struct Send {
    sender: UserId,
    device: DeviceId,
    conversation: ConversationId,
    client_msg_id: String,
    kind: String,
    body: Vec<u8>,
    /// A system sender of the server API (`SendRequest.system_sender`).
    system: bool,
    /// An edit, recall, delete or reaction: checked against its target
    /// before a fresh send of it is stored.
    event: Option<MessageEvent>,
}

impl Send {
    fn key(&self) -> DedupeKey {
        DedupeKey {
            sender: self.sender.to_string(),
            client_msg_id: self.client_msg_id.clone(),
        }
    }

    /// The message this send stores (conv seq not allocated yet).
    fn message(self) -> Message {
        Message {
            message_id: message_id_for(&self.sender, &self.client_msg_id),
            conversation_id: self.conversation,
            conv_seq: 0,
            sender_id: self.sender,
            sender_device: self.device,
            client_msg_id: self.client_msg_id,
            kind: self.kind,
            body: self.body,
            created_at_ms: now_ms(),
        }
    }
}

type Answer = Result<pb::SendResponse, Error>;

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
        let event = MessageEvent::parse(&req.kind, &req.body)?;
        // A second wall behind the server API's own check: a system sender
        // is always in the reserved `system.` namespace.
        if req.system_sender && !sender.as_str().starts_with(SYSTEM_SENDER_PREFIX) {
            return Err(Error::invalid(format!(
                "a system sender's id must start with {SYSTEM_SENDER_PREFIX:?}"
            )));
        }
        Ok(Send {
            sender,
            device,
            conversation,
            client_msg_id: req.client_msg_id,
            kind: req.kind,
            body: req.body,
            system: req.system_sender,
            event,
        })
    }

    /// Claims each send's key; a key already held here answers `retry`.
    fn claim(
        &self,
        sends: Vec<(usize, Send)>,
        answers: &mut [Option<Answer>],
    ) -> (Vec<(usize, Send)>, Claimed) {
        let mut claimed = Claimed::new(&self.in_flight);
        let mut admitted = Vec::with_capacity(sends.len());
        for (index, send) in sends {
            if self.in_flight.claim(&send.key(), &mut claimed) {
                admitted.push((index, send));
            } else {
                answers[index] = Some(Err(Error::new(
                    ErrorCode::Retry,
                    "a send with this client_msg_id is still in progress",
                )));
            }
        }
        (admitted, claimed)
    }

    pub(crate) async fn handle_send(&self, req: pb::SendRequest) -> Answer {
        self.handle_send_batch(vec![req])
            .await
            .pop()
            .unwrap_or_else(|| Err(Error::internal("empty answer to a send")))
    }

    /// Answers every send, in request order.
    pub(crate) async fn handle_send_batch(&self, requests: Vec<pb::SendRequest>) -> Vec<Answer> {
        let mut answers: Vec<Option<Answer>> = (0..requests.len()).map(|_| None).collect();
        if requests.len() > MAX_SEND_BATCH {
            let e = Error::invalid(format!(
                "at most {MAX_SEND_BATCH} sends per batch, got {}",
                requests.len()
            ));
            return requests.iter().map(|_| Err(e.clone())).collect();
        }
        let mut sends = Vec::with_capacity(requests.len());
        for (index, request) in requests.into_iter().enumerate() {
            match self.validate(request) {
                Ok(send) => sends.push((index, send)),
                Err(e) => answers[index] = Some(Err(e)),
            }
        }
        let (sends, _claimed) = self.claim(sends, &mut answers);
        self.send_claimed(sends, &mut answers).await;
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(Error::internal("send left unanswered"))))
            .collect()
    }

    async fn send_claimed(&self, sends: Vec<(usize, Send)>, answers: &mut [Option<Answer>]) {
        if sends.is_empty() {
            return;
        }
        let keys: Vec<DedupeKey> = sends.iter().map(|(_, s)| s.key()).collect();
        let records = match self.backends.dedupe.get_dedupe(&keys).await {
            Ok(records) if records.len() == keys.len() => records,
            Ok(_) => {
                let e = Error::internal("dedupe store answered a short batch");
                return fail(answers, sends.iter().map(|(i, _)| *i), &e);
            }
            Err(e) => return fail(answers, sends.iter().map(|(i, _)| *i), &e.into()),
        };
        crash_point("send.after_lookup");

        let mut fresh = Vec::new();
        let mut reserved = Vec::new();
        let mut audiences = AudienceCache::default();
        for ((index, send), (key, record)) in sends.into_iter().zip(keys.into_iter().zip(records)) {
            match record {
                Some(record) if record.conversation_id != send.conversation.to_string() => {
                    answers[index] = Some(Err(Error::invalid(format!(
                        "client_msg_id {:?} was already used for conversation {}",
                        send.client_msg_id, record.conversation_id
                    ))));
                }
                Some(record) if record.state == DedupeState::Committed => {
                    answers[index] = Some(Ok(ack_of(&record, true)));
                }
                Some(record) => {
                    let conversation = send.conversation.clone();
                    match Attempt::from_record(index, key, conversation, send.message(), &record) {
                        Ok(attempt) => reserved.push(attempt),
                        Err(e) => answers[index] = Some(Err(e)),
                    }
                }
                None => {
                    let conversation = send.conversation.clone();
                    let audience = audiences
                        .of(self, &conversation, &send.sender, send.system)
                        .await;
                    let checked = match (audience, &send.event) {
                        (Ok(audience), Some(event)) => self
                            .check_event(&conversation, &send.sender, send.system, event)
                            .await
                            .map(|()| audience),
                        (audience, _) => audience,
                    };
                    match checked {
                        Ok(audience) => fresh.push(Attempt::new(
                            index,
                            Some(key),
                            conversation,
                            send.message(),
                            audience,
                        )),
                        Err(e) => answers[index] = Some(Err(e)),
                    }
                }
            }
        }

        let resumed = self.settle_reserved(reserved, &mut fresh, answers).await;
        // Screened after settling: a message found committed is answered as
        // it was, whatever the hook would say now. A resumed attempt is
        // screened again because its body comes from this retry.
        let (fresh, resumed) = self.screen(fresh, resumed, answers).await;
        for (attempt, result) in self.deliver(fresh, resumed).await {
            let duplicate = false;
            answers[attempt.index] = Some(result.map(|()| attempt.ack(duplicate)));
        }
    }

    /// Settles attempts that an earlier try reserved, as the allocator (and,
    /// where it cannot tell, the stored rows) says:
    /// * committed: answered with the reserved seqs;
    /// * abandoned: moved to `fresh` to be written at new seqs, the old ones
    ///   marked stale so their rows are removed;
    /// * still pending (the earlier try may still be running, or died before
    ///   committing): returned, to be written again at the same seqs and
    ///   committed;
    /// * unknown (allocated before the allocator restarted): committed if
    ///   every row is there, which only a completed write leaves; otherwise
    ///   written anew like an abandoned one.
    async fn settle_reserved(
        &self,
        reserved: Vec<Attempt>,
        fresh: &mut Vec<Attempt>,
        answers: &mut [Option<Answer>],
    ) -> Vec<Attempt> {
        if reserved.is_empty() {
            return Vec::new();
        }
        let refs: Vec<(String, u64)> = reserved.iter().flat_map(Attempt::refs).collect();
        let statuses = match self.backends.sequence.check(&refs).await {
            Ok(statuses) if statuses.len() == refs.len() => statuses,
            Ok(_) => {
                let e = Error::internal("sequence answered a short check batch");
                fail(answers, reserved.iter().map(|a| a.index), &e);
                return Vec::new();
            }
            Err(e) => {
                fail(answers, reserved.iter().map(|a| a.index), &e);
                return Vec::new();
            }
        };
        let mut statuses = statuses.into_iter();
        let mut resumed = Vec::new();
        let mut found_committed = Vec::new();
        for attempt in reserved {
            let mine: Vec<SeqStatus> = statuses.by_ref().take(attempt.key_count()).collect();
            let verdict = if mine.contains(&SeqStatus::Abandoned) {
                SeqStatus::Abandoned
            } else if mine.contains(&SeqStatus::Unknown) {
                match self.rows_present(&attempt).await {
                    Ok(true) => SeqStatus::Committed,
                    Ok(false) => SeqStatus::Abandoned,
                    Err(e) => {
                        answers[attempt.index] = Some(Err(e));
                        continue;
                    }
                }
            } else if mine.contains(&SeqStatus::Pending) {
                SeqStatus::Pending
            } else {
                SeqStatus::Committed
            };
            match verdict {
                SeqStatus::Committed => {
                    answers[attempt.index] = Some(Ok(attempt.ack(true)));
                    self.mark_committed(&attempt);
                    found_committed.push(attempt);
                }
                SeqStatus::Pending => resumed.push(attempt),
                _ => fresh.push(attempt),
            }
        }
        // The try that committed them may have died before their events were
        // enqueued (the outbox keeps one event per message id).
        let events = self
            .webhooks
            .commit_events(found_committed.iter().map(|a| &a.message));
        self.webhooks.enqueue(events).await;
        resumed
    }

    /// Runs before_send on every attempt of the batch at once (one round
    /// trip) and keeps those it lets through, bodies maybe replaced; the
    /// others are answered with its refusal, and what earlier tries of them
    /// left is removed.
    async fn screen(
        &self,
        fresh: Vec<Attempt>,
        resumed: Vec<Attempt>,
        answers: &mut [Option<Answer>],
    ) -> (Vec<Attempt>, Vec<Attempt>) {
        if self.webhooks.before_send.is_none() || (fresh.is_empty() && resumed.is_empty()) {
            return (fresh, resumed);
        }
        let max_body = self.config.max_body_bytes;
        let tagged = fresh
            .into_iter()
            .map(|a| (false, a))
            .chain(resumed.into_iter().map(|a| (true, a)));
        let checks = tagged.map(|(was_resumed, mut attempt)| async move {
            let verdict = self.webhooks.screen(&mut attempt.message, max_body).await;
            (was_resumed, attempt, verdict)
        });
        let (mut fresh, mut resumed) = (Vec::new(), Vec::new());
        let (mut refused_fresh, mut refused_resumed) = (Vec::new(), Vec::new());
        for (was_resumed, attempt, verdict) in futures_util::future::join_all(checks).await {
            let (passed, refused) = if was_resumed {
                (&mut resumed, &mut refused_resumed)
            } else {
                (&mut fresh, &mut refused_fresh)
            };
            match verdict {
                Ok(()) => passed.push(attempt),
                Err(e) => {
                    answers[attempt.index] = Some(Err(e));
                    refused.push(attempt);
                }
            }
        }
        if !refused_resumed.is_empty() {
            // Reserved and maybe written, never committed: let heads pass.
            self.undo(&refused_resumed).await;
        }
        // Rows earlier tries left at abandoned seqs (none: no call).
        if let Err(e) = self.remove_stale(&refused_fresh).await {
            tracing::warn!(error = %e, "cannot remove rows at abandoned seqs; a retry removes them");
        }
        (fresh, resumed)
    }

    /// Whether the store timeline and every inbox hold the attempt's message
    /// at its seqs.
    async fn rows_present(&self, attempt: &Attempt) -> Result<bool, Error> {
        let seq = attempt.message.conv_seq;
        let page = self
            .backends
            .store
            .clone()
            .range(RangeRequest {
                conversation_id: attempt.message.conversation_id.to_string(),
                after: seq.saturating_sub(1),
                up_to: seq,
                limit: 1,
                max_bytes: 0,
            })
            .await?
            .into_inner();
        let stored = page.messages.first().is_some_and(|m| {
            m.conv_seq == seq && m.message_id == attempt.message.message_id.as_str()
        });
        if !stored || attempt.inbox.is_empty() {
            return Ok(stored);
        }
        let seqs = attempt
            .inbox_seqs()
            .into_iter()
            .map(|(user_id, seq)| InboxSeq {
                user_id,
                seq,
                message_id: attempt.message.message_id.to_string(),
            })
            .collect();
        let present = self
            .backends
            .sync
            .clone()
            .has_entries(HasEntriesRequest { seqs })
            .await?
            .into_inner()
            .present;
        Ok(present.len() == attempt.inbox.len() && present.into_iter().all(|p| p))
    }

    /// Records in the background that an attempt found committed is.
    fn mark_committed(&self, attempt: &Attempt) {
        let Some(key) = attempt.key.clone() else {
            return;
        };
        let record: DedupeRecord = attempt.record(DedupeState::Committed);
        let dedupe = self.backends.dedupe.clone();
        let ttl = self.dedupe_ttl();
        tokio::spawn(async move {
            if let Err(e) = dedupe.put_dedupe(&[(key, record)], ttl).await {
                tracing::warn!(error = %e, "cannot mark a send committed; retries settle it");
            }
        });
    }
}

/// Audiences looked up once per conversation and sender within a batch.
#[derive(Default)]
struct AudienceCache(HashMap<(ConversationId, UserId, bool), Audience>);

impl AudienceCache {
    async fn of(
        &mut self,
        logic: &LogicServer,
        conversation: &ConversationId,
        sender: &UserId,
        system: bool,
    ) -> Result<Audience, Error> {
        let key = (conversation.clone(), sender.clone(), system);
        if let Some(audience) = self.0.get(&key) {
            return Ok(audience.clone());
        }
        let audience = logic.audience(conversation, sender, system).await?;
        self.0.insert(key, audience.clone());
        Ok(audience)
    }
}

fn fail(answers: &mut [Option<Answer>], indexes: impl Iterator<Item = usize>, e: &Error) {
    for index in indexes {
        answers[index] = Some(Err(e.clone()));
    }
}
