//! The write half of the send path, over a batch of attempts: one Allocate,
//! one durable dedupe reservation, one store Append and one sync AppendInbox
//! (which also updates the members' conversation lists), one Commit. Then
//! the pushes, in inbox-seq order per user, and the dedupe records marked
//! committed in the background.
//!
//! The order is the guarantee (DESIGN §9): the reservation is durable before
//! any row is written, every row is written before the commit, and nothing
//! after the commit can fail the send. Every write is idempotent (rows at a
//! seq are overwritten with the same message), so a retry that finds the
//! reservation finishes that attempt's message at its seqs, or, if those
//! seqs were abandoned, removes what was written there and writes it anew.

use tidings_core::{Error, ErrorCode, Seq};
use tidings_proto::store::v1::{AppendRequest, MessageRef, RemoveRequest};
use tidings_proto::sync::v1::{AppendInboxRequest, InboxSeq, RemoveInboxRequest, UserEntry};
use tidings_sequence_client::CommitOutcome;
use tidings_storage::{DedupeKey, DedupeRecord, DedupeState};
use tidings_telemetry::metrics::names;
use tracing::Instrument;

use crate::attempt::Attempt;
use crate::failpoint::crash_point;
use crate::push_order::Expected;
use crate::service::LogicServer;

/// An attempt and how it ended.
pub(crate) type Settled = (Attempt, Result<(), Error>);

impl LogicServer {
    /// Writes and commits `fresh` attempts (seqs to allocate; reserved first
    /// when they have a key) and `resumed` ones (already at reserved seqs).
    pub(crate) async fn deliver(&self, fresh: Vec<Attempt>, resumed: Vec<Attempt>) -> Vec<Settled> {
        let mut fresh = fresh;
        let mut settled = Vec::new();
        // Seqs are expected by the push order in the order they were
        // allocated, so allocation and expectation happen under one lock.
        let allocation = self.allocation.lock().await;
        if let Err(e) = self.allocate(&mut fresh).await {
            settled.extend(fail_all(fresh, &e));
            fresh = Vec::new();
        }
        crash_point("send.after_allocate");
        let attempts: Vec<Attempt> = fresh.into_iter().chain(resumed).collect();
        // Expected before anything can commit, so pushes leave in seq order.
        let expected: Vec<Expected> = attempts
            .iter()
            .map(|a| self.backends.push.expect(a.inbox_seqs()))
            .collect();
        drop(allocation);
        if attempts.is_empty() {
            return settled;
        }

        let reserve: Vec<(DedupeKey, DedupeRecord)> = attempts
            .iter()
            .filter_map(|a| Some((a.key.clone()?, a.record(DedupeState::Reserved))))
            .collect();
        if !reserve.is_empty()
            && let Err(e) = self
                .backends
                .dedupe
                .put_dedupe_ordered(&reserve, self.dedupe_ttl())
                .await
        {
            self.abandon(&attempts).await;
            settled.extend(fail_all(attempts, &e.into()));
            return settled;
        }
        crash_point("send.after_reserve");

        if let Err(e) = self.write_rows(&attempts).await {
            self.abandon(&attempts).await;
            settled.extend(fail_all(attempts, &e));
            return settled;
        }

        let refs: Vec<(String, Seq)> = attempts.iter().flat_map(Attempt::refs).collect();
        let outcomes = match self.backends.sequence.commit(&refs).await {
            Ok(outcomes) if outcomes.len() == refs.len() => outcomes,
            Ok(_) => {
                let e = Error::internal("sequence answered a short commit batch");
                self.abandon(&attempts).await;
                settled.extend(fail_all(attempts, &e));
                return settled;
            }
            Err(e) => {
                // Nothing is known to be committed: a retry finds the
                // reservation and settles it.
                settled.extend(fail_all(attempts, &e));
                return settled;
            }
        };
        crash_point("send.after_commit");

        let mut outcomes = outcomes.into_iter();
        let mut committed = Vec::new();
        let mut refused = Vec::new();
        for (attempt, expected) in attempts.into_iter().zip(expected) {
            let mine: Vec<CommitOutcome> = outcomes.by_ref().take(attempt.key_count()).collect();
            if mine.iter().all(|o| *o == CommitOutcome::Committed) {
                expected.committed(attempt.entries());
                committed.push(attempt);
            } else {
                drop(expected);
                refused.push(attempt);
            }
        }
        if !refused.is_empty() {
            tracing::warn!(
                refused = refused.len(),
                "commit refused after the deadline; those sends fail"
            );
            self.undo(&refused).await;
            let e = Error::new(
                ErrorCode::Retry,
                "the message was not committed in time; resend with the same client_msg_id",
            );
            settled.extend(fail_all(refused, &e));
        }
        // Before the answer: an acknowledged message has its events.
        let events = self
            .webhooks
            .commit_events(committed.iter().map(|a| &a.message));
        self.webhooks.enqueue(events).await;
        self.after_commit(&committed);
        settled.extend(committed.into_iter().map(|a| (a, Ok(()))));
        settled
    }

    /// One Allocate for every attempt, keys in attempt order: sends of one
    /// conversation in a batch get conv seqs in batch order.
    async fn allocate(&self, attempts: &mut [Attempt]) -> Result<(), Error> {
        if attempts.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = attempts.iter().flat_map(Attempt::keys).collect();
        let seqs = self.backends.sequence.allocate(&keys).await?;
        if seqs.len() != keys.len() {
            return Err(Error::internal("sequence service returned a short batch"));
        }
        let mut seqs = seqs.into_iter();
        for attempt in attempts {
            attempt.assign(&mut seqs);
        }
        Ok(())
    }

    /// Every row of every attempt: stale rows removed, then the store
    /// timeline and the inboxes (with the conversation lists) written
    /// together.
    async fn write_rows(&self, attempts: &[Attempt]) -> Result<(), Error> {
        self.remove_stale(attempts).await?;
        let messages = attempts.iter().map(|a| a.message.clone().into()).collect();
        let entries: Vec<UserEntry> = attempts
            .iter()
            .flat_map(|a| {
                a.entries().into_iter().map(|(user_id, entry)| UserEntry {
                    user_id,
                    entry: Some(entry.into()),
                    listed: true,
                })
            })
            .collect();
        let store = async {
            let result = self
                .backends
                .store
                .clone()
                .append(AppendRequest { messages })
                .await;
            crash_point("send.after_store");
            result
        };
        let inbox = async {
            if entries.is_empty() {
                return Ok(());
            }
            let result = self
                .backends
                .sync
                .clone()
                .append_inbox(AppendInboxRequest { entries })
                .await
                .map(|_| ());
            crash_point("send.after_inbox");
            result
        };
        let (store, inbox) = futures_util::join!(store, inbox);
        store?;
        inbox?;
        Ok(())
    }

    /// Removes rows that earlier tries left at abandoned seqs.
    pub(crate) async fn remove_stale(&self, attempts: &[Attempt]) -> Result<(), Error> {
        let messages: Vec<MessageRef> = attempts
            .iter()
            .flat_map(|a| {
                a.stale_conv_seqs.iter().map(|&conv_seq| MessageRef {
                    conversation_id: a.message.conversation_id.to_string(),
                    conv_seq,
                })
            })
            .collect();
        let seqs: Vec<InboxSeq> = attempts
            .iter()
            .flat_map(|a| {
                a.stale_inbox_seqs.iter().map(|(user, seq)| InboxSeq {
                    user_id: user.clone(),
                    seq: *seq,
                    message_id: String::new(),
                })
            })
            .collect();
        self.remove_rows(messages, seqs).await
    }

    async fn remove_rows(
        &self,
        messages: Vec<MessageRef>,
        seqs: Vec<InboxSeq>,
    ) -> Result<(), Error> {
        if !messages.is_empty() {
            self.backends
                .store
                .clone()
                .remove(RemoveRequest { messages })
                .await?;
        }
        if !seqs.is_empty() {
            self.backends
                .sync
                .clone()
                .remove_inbox(RemoveInboxRequest { seqs })
                .await?;
        }
        Ok(())
    }

    /// A refused commit: lets heads pass the seqs at once and removes what
    /// was written there (best effort: a retry removes it too, from the
    /// reservation).
    pub(crate) async fn undo(&self, attempts: &[Attempt]) {
        self.abandon(attempts).await;
        let messages = attempts
            .iter()
            .map(|a| MessageRef {
                conversation_id: a.message.conversation_id.to_string(),
                conv_seq: a.message.conv_seq,
            })
            .collect();
        let seqs = attempts
            .iter()
            .flat_map(|a| {
                a.inbox_seqs().into_iter().map(|(user_id, seq)| InboxSeq {
                    user_id,
                    seq,
                    message_id: String::new(),
                })
            })
            .collect();
        if let Err(e) = self.remove_rows(messages, seqs).await {
            tracing::warn!(error = %e, "cannot remove rows at abandoned seqs; a retry removes them");
        }
    }

    async fn abandon(&self, attempts: &[Attempt]) {
        let refs: Vec<(String, Seq)> = attempts
            .iter()
            .flat_map(Attempt::refs)
            .filter(|(_, seq)| *seq != 0)
            .collect();
        if refs.is_empty() {
            return;
        }
        if let Err(e) = self.backends.sequence.abandon(&refs).await {
            // The deadline abandons them anyway; this only lets heads move sooner.
            tracing::warn!(error = %e, "abandon failed; seqs will expire at their deadline");
        }
    }

    /// What follows a commit, none of which can fail the send: records marked
    /// committed (in the background, and not waited for: a retry that finds
    /// only the reservation learns the same from the allocator),
    /// read-diffusion pushes, metrics.
    fn after_commit(&self, committed: &[Attempt]) {
        let marks: Vec<(DedupeKey, DedupeRecord)> = committed
            .iter()
            .filter_map(|a| Some((a.key.clone()?, a.record(DedupeState::Committed))))
            .collect();
        if !marks.is_empty() {
            let dedupe = self.backends.dedupe.clone();
            let ttl = self.dedupe_ttl();
            let mark = async move {
                if let Err(e) = dedupe.put_dedupe_ordered(&marks, ttl).await {
                    tracing::warn!(error = %e, "cannot mark sends committed; retries settle them");
                }
                crash_point("send.after_mark");
            };
            // The embedded store finishes an ordered write at once: no task
            // for it. A remote backend's write goes on in the background.
            let mut mark = Box::pin(mark);
            if futures_util::FutureExt::now_or_never(&mut mark).is_none() {
                tokio::spawn(mark);
            }
        }
        for attempt in committed {
            let kind = if attempt.conversation.group().is_some() {
                "group"
            } else {
                "direct"
            };
            metrics::counter!(names::LOGIC_MESSAGES, "kind" => kind).increment(1);
            if !attempt.inbox.is_empty() {
                metrics::histogram!(names::LOGIC_FANOUT, "diffusion" => "write")
                    .record(attempt.inbox.len() as f64);
                continue;
            }
            self.push_read_diffusion(attempt);
        }
    }

    /// Pushes a read-diffusion message to its listed recipients and, for a
    /// large group, to every member (listed after the ack).
    fn push_read_diffusion(&self, attempt: &Attempt) {
        let mut members: Vec<String> = attempt.push_members.iter().map(|m| m.to_string()).collect();
        let message = attempt.message.clone();
        let group = attempt.push_group.clone();
        let this = self.clone();
        tokio::spawn(
            async move {
                if let Some(group) = group {
                    match this.group_members(&group).await {
                        Ok(listed) => members.extend(listed.iter().map(|m| m.to_string())),
                        Err(e) => {
                            tracing::warn!(group_id = %group, error = %e, "cannot list members to push; devices will pull");
                            return;
                        }
                    }
                }
                metrics::histogram!(names::LOGIC_FANOUT, "diffusion" => "read")
                    .record(members.len() as f64);
                this.backends.push.push_conversation(message, members).await;
            }
            .in_current_span(),
        );
    }
}

fn fail_all(attempts: Vec<Attempt>, e: &Error) -> Vec<Settled> {
    attempts.into_iter().map(|a| (a, Err(e.clone()))).collect()
}
