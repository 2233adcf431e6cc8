//! Read positions and unread counts. A `ReadAck` moves the user's read
//! position in a conversation forward only, never past the conversation's
//! visible head, and tells the user's other devices through an inbox entry
//! of kind `tidings.read`. Unread counts are counts of messages from others
//! after the read position, made by the store, so the gaps that restarts and
//! abandoned seqs leave in conv seqs change nothing (DESIGN §9).

use prost::Message as _;
use tidings_core::{
    ConversationId, DeviceId, Error, ErrorCode, InboxEntry, Message, MessageId, Seq, TimelineKey,
    UserId, now_ms,
};
use tidings_proto::common::v1::ReadPosition;
use tidings_proto::logic::v1 as pb;
use tidings_proto::store::v1::{CountRange, CountRequest};
use tidings_proto::sync::v1::{AppendInboxRequest, ReadPositionRequest, SetReadRequest, UserEntry};
use tidings_sequence_client::CommitOutcome;
use tidings_storage::MAX_PAGE;

use crate::service::LogicServer;

/// Kind of the inbox entries that carry a read position to a user's other
/// devices.
pub const READ_KIND: &str = "tidings.read";

/// The message id of the read entry that moves a read position in
/// `conversation` from `from` to `to`.
///
/// Positions only move forward, so a move from `from` happens once: a new
/// move always gets a new id, while a retry of a move whose entry was
/// written but not recorded gets the same id, and devices, which drop an id
/// they have applied, apply it once. The id always means the same position,
/// so dropping a repeat never loses one. The user is implicit: the entry
/// lives in the user's own inbox.
pub(crate) fn read_entry_id(conversation: &ConversationId, from: Seq, to: Seq) -> String {
    format!("read:{conversation}:{from}:{to}")
}

impl LogicServer {
    /// Moves the read position to the acknowledged one, clamped to the
    /// conversation's head, if that is ahead of the recorded one; answers
    /// the recorded position afterwards in every case.
    ///
    /// The other devices are told first and the position is recorded after:
    /// an ack that fails half-way is retried by the client, finds the old
    /// position still recorded and announces the same move under the same
    /// id. Recording first would leave a retry nothing to move, and the other
    /// devices would never hear of the position.
    pub(crate) async fn handle_read_ack(
        &self,
        req: pb::ReadAckRequest,
    ) -> Result<pb::ReadAckResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let device = DeviceId::parse(&req.device_id)?;
        let conversation = ConversationId::parse(&req.conversation_id)?;
        self.check_member(&conversation, &user).await?;
        // Nothing above the head exists to have been read; a position there
        // would also hide the next messages from the unread count.
        let target = req
            .read_seq
            .min(self.conversation_head(&conversation).await?);
        let recorded = self
            .backends
            .sync
            .clone()
            .read_position(ReadPositionRequest {
                user_id: user.to_string(),
                conversation_id: conversation.to_string(),
            })
            .await?
            .into_inner()
            .read_seq;
        if target <= recorded {
            // A repeated or backward ack moves nothing and tells no device.
            return Ok(pb::ReadAckResponse { read_seq: recorded });
        }
        self.announce_read(&user, &device, &conversation, recorded, target)
            .await?;
        let read_seq = self
            .backends
            .sync
            .clone()
            .set_read(SetReadRequest {
                user_id: user.to_string(),
                conversation_id: conversation.to_string(),
                read_seq: target,
            })
            .await?
            .into_inner()
            .read_seq;
        Ok(pb::ReadAckResponse { read_seq })
    }

    /// Writes and commits the read entry of the move `from` -> `to` in the
    /// user's own inbox, then pushes it to the user's devices.
    async fn announce_read(
        &self,
        user: &UserId,
        device: &DeviceId,
        conversation: &ConversationId,
        from: Seq,
        to: Seq,
    ) -> Result<(), Error> {
        let key = TimelineKey::inbox(user).to_string();
        let allocation = self.allocation.lock().await;
        let seq = self
            .backends
            .sequence
            .allocate(std::slice::from_ref(&key))
            .await?[0];
        let expected = self.backends.push.expect(vec![(user.to_string(), seq)]);
        drop(allocation);
        let position = ReadPosition {
            conversation_id: conversation.to_string(),
            read_seq: to,
        };
        let entry = InboxEntry {
            seq,
            conversation_id: conversation.clone(),
            conv_seq: 0,
            message: Message {
                message_id: MessageId::parse(&read_entry_id(conversation, from, to))?,
                conversation_id: conversation.clone(),
                conv_seq: 0,
                sender_id: user.clone(),
                sender_device: device.clone(),
                client_msg_id: String::new(),
                kind: READ_KIND.into(),
                body: position.encode_to_vec(),
                created_at_ms: now_ms(),
            },
        };
        let write = self
            .backends
            .sync
            .clone()
            .append_inbox(AppendInboxRequest {
                entries: vec![UserEntry {
                    user_id: user.to_string(),
                    entry: Some(entry.clone().into()),
                    listed: false,
                }],
            })
            .await;
        if let Err(status) = write {
            let _ = self.backends.sequence.abandon(&[(key, seq)]).await;
            return Err(status.into());
        }
        let committed = self.backends.sequence.commit(&[(key, seq)]).await?;
        // Refused, the entry may still show at its abandoned seq; the retry
        // writes the same id, so devices apply the move once either way.
        if committed.first() != Some(&CommitOutcome::Committed) {
            return Err(Error::new(
                ErrorCode::Retry,
                "the read position was not committed in time; send it again",
            ));
        }
        expected.committed(vec![(user.to_string(), entry)]);
        Ok(())
    }

    /// For each summary, the messages not sent by `user` with
    /// `read_seq < conv_seq <= last_conv_seq`, counted by the store in one
    /// call per `MAX_PAGE` conversations (none for those read to the end).
    pub(crate) async fn unread_counts(
        &self,
        user: &UserId,
        summaries: &[pb::ConversationSummary],
    ) -> Result<Vec<u64>, Error> {
        let mut counts = vec![0; summaries.len()];
        let behind: Vec<usize> = (0..summaries.len())
            .filter(|&i| summaries[i].last_conv_seq > summaries[i].read_seq)
            .collect();
        for chunk in behind.chunks(MAX_PAGE) {
            let ranges = chunk
                .iter()
                .map(|&i| CountRange {
                    conversation_id: summaries[i].conversation_id.clone(),
                    after: summaries[i].read_seq,
                    up_to: summaries[i].last_conv_seq,
                    except_sender: user.to_string(),
                })
                .collect();
            let answered = self
                .backends
                .store
                .clone()
                .count(CountRequest { ranges })
                .await?
                .into_inner()
                .counts;
            if answered.len() != chunk.len() {
                return Err(Error::internal("store answered a short count batch"));
            }
            for (&i, count) in chunk.iter().zip(answered) {
                counts[i] = count;
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_entry_ids_differ_per_move_and_fit_a_message_id() {
        let dm = ConversationId::parse("dm:alice:bob").unwrap();
        assert_eq!(read_entry_id(&dm, 3, 7), "read:dm:alice:bob:3:7");
        assert_ne!(read_entry_id(&dm, 3, 7), read_entry_id(&dm, 7, 9));
        assert_ne!(read_entry_id(&dm, 3, 7), read_entry_id(&dm, 3, 9));
        // The longest conversation id and positions still make a valid id.
        let long = "a".repeat(64);
        let widest = ConversationId::parse(&format!("dm:{long}:{long}")).unwrap();
        MessageId::parse(&read_entry_id(&widest, Seq::MAX - 1, Seq::MAX)).unwrap();
    }
}
