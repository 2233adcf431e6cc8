//! One message on its way through the send path: its seqs, its recipients,
//! and what an earlier try of it left behind.

use tidings_core::{
    ConversationId, GroupId, InboxEntry, Message, MessageId, Seq, TimelineKey, UserId,
};
use tidings_proto::logic::v1 as pb;
use tidings_storage::{DedupeKey, DedupeRecord, DedupeState};

use crate::audience::{Audience, Diffusion};

/// A message being written at allocated seqs.
pub(crate) struct Attempt {
    /// Position of its send in the batch (answers go back in order).
    pub index: usize,
    /// The send's idempotency key; `None` for server-made messages
    /// (membership events), which nobody retries.
    pub key: Option<DedupeKey>,
    pub conversation: ConversationId,
    /// The message, with its conv seq once allocated.
    pub message: Message,
    /// Write diffusion: every recipient's inbox seq (0 until allocated).
    pub inbox: Vec<(UserId, Seq)>,
    /// Read diffusion: recipients to push to besides `push_group`'s members.
    pub push_members: Vec<UserId>,
    /// Read diffusion: push to every member of this group after the commit.
    pub push_group: Option<GroupId>,
    /// Seqs of earlier tries that were abandoned: rows there are removed.
    pub stale_conv_seqs: Vec<Seq>,
    pub stale_inbox_seqs: Vec<(String, Seq)>,
}

impl Attempt {
    /// A new attempt (seqs not allocated yet) for `message` to `audience`.
    pub fn new(
        index: usize,
        key: Option<DedupeKey>,
        conversation: ConversationId,
        message: Message,
        audience: Audience,
    ) -> Self {
        let (inbox, push_members) = match audience.diffusion {
            Diffusion::Write => (
                audience.members.into_iter().map(|m| (m, 0)).collect(),
                Vec::new(),
            ),
            Diffusion::Read => (Vec::new(), audience.members),
        };
        Attempt {
            index,
            key,
            conversation,
            message,
            inbox,
            push_members,
            push_group: audience.push_group,
            stale_conv_seqs: Vec::new(),
            stale_inbox_seqs: Vec::new(),
        }
    }

    /// The attempt a dedupe record describes, at the record's seqs.
    pub fn from_record(
        index: usize,
        key: DedupeKey,
        conversation: ConversationId,
        message: Message,
        record: &DedupeRecord,
    ) -> Result<Self, tidings_core::Error> {
        let inbox = record
            .inbox_seqs
            .iter()
            .map(|(user, seq)| Ok((UserId::parse(user)?, *seq)))
            .collect::<Result<Vec<_>, tidings_core::Error>>()?;
        // A group message with no inbox seqs went by read diffusion.
        let push_group = match (&conversation, inbox.is_empty()) {
            (ConversationId::Group(group), true) => Some(group.clone()),
            _ => None,
        };
        let mut message = message;
        message.message_id = MessageId::parse(&record.message_id)?;
        message.created_at_ms = record.created_at_ms;
        message.conv_seq = record.conv_seq;
        Ok(Attempt {
            index,
            key: Some(key),
            conversation,
            message,
            inbox,
            push_members: Vec::new(),
            push_group,
            stale_conv_seqs: record.stale_conv_seqs.clone(),
            stale_inbox_seqs: record.stale_inbox_seqs.clone(),
        })
    }

    /// The timeline keys to allocate, conversation first then each inbox:
    /// the order of [`Attempt::assign`] and [`Attempt::refs`].
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(TimelineKey::conversation(&self.conversation).to_string()).chain(
            self.inbox
                .iter()
                .map(|(user, _)| TimelineKey::inbox(user).to_string()),
        )
    }

    pub fn key_count(&self) -> usize {
        1 + self.inbox.len()
    }

    /// Takes this attempt's seqs (as many as [`Attempt::key_count`]) off the
    /// front of `seqs`; the seqs it had before become stale.
    pub fn assign(&mut self, seqs: &mut impl Iterator<Item = Seq>) {
        if self.message.conv_seq != 0 {
            self.stale_conv_seqs.push(self.message.conv_seq);
        }
        self.message.conv_seq = seqs.next().unwrap_or(0);
        for (user, seq) in &mut self.inbox {
            if *seq != 0 {
                self.stale_inbox_seqs.push((user.to_string(), *seq));
            }
            *seq = seqs.next().unwrap_or(0);
        }
    }

    /// Every `(key, seq)` of this attempt, for commit and abandon.
    pub fn refs(&self) -> Vec<(String, Seq)> {
        let seqs = std::iter::once(self.message.conv_seq).chain(self.inbox.iter().map(|(_, s)| *s));
        self.keys().zip(seqs).collect()
    }

    /// `(user, inbox seq)` of every recipient.
    pub fn inbox_seqs(&self) -> Vec<(String, Seq)> {
        self.inbox
            .iter()
            .map(|(user, seq)| (user.to_string(), *seq))
            .collect()
    }

    /// The inbox entry of each recipient.
    pub fn entries(&self) -> Vec<(String, InboxEntry)> {
        self.inbox
            .iter()
            .map(|(user, seq)| {
                (
                    user.to_string(),
                    InboxEntry {
                        seq: *seq,
                        conversation_id: self.message.conversation_id.clone(),
                        conv_seq: self.message.conv_seq,
                        message: self.message.clone(),
                    },
                )
            })
            .collect()
    }

    /// The dedupe record of this attempt in `state`.
    pub fn record(&self, state: DedupeState) -> DedupeRecord {
        DedupeRecord {
            conversation_id: self.message.conversation_id.to_string(),
            message_id: self.message.message_id.to_string(),
            created_at_ms: self.message.created_at_ms,
            conv_seq: self.message.conv_seq,
            inbox_seqs: self.inbox_seqs(),
            state,
            stale_conv_seqs: self.stale_conv_seqs.clone(),
            stale_inbox_seqs: self.stale_inbox_seqs.clone(),
        }
    }

    /// The answer to the send.
    pub fn ack(&self, duplicate: bool) -> pb::SendResponse {
        ack_of(&self.record(DedupeState::Committed), duplicate)
    }
}

/// The answer to a send that `record` describes.
pub(crate) fn ack_of(record: &DedupeRecord, duplicate: bool) -> pb::SendResponse {
    pb::SendResponse {
        message_id: record.message_id.clone(),
        conversation_id: record.conversation_id.clone(),
        conv_seq: record.conv_seq,
        created_at_ms: record.created_at_ms,
        duplicate,
    }
}
