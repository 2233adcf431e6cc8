//! What the storage rows call: the conversations and inboxes filled for the
//! reads, the timelines each append row writes, and one call of each
//! operation.
//!
//! Every row's appends go to timelines of their own (named after the row and
//! the task), starting at seq 1, so rows never overwrite one another. Reads
//! cycle through the filled timelines at positions spread over their depth,
//! and check that each call returned a full page.

use std::sync::Arc;
use std::time::Duration;

use tidings_core::{ConversationId, DeviceId, InboxEntry, Message, MessageId, Seq, UserId, now_ms};
use tidings_storage::{InboxStore, MessageStore, PageLimit};

use super::backends::Backend;
use super::{Scenario, StorageOp};
use crate::params::StorageParams;

/// Expiry of every inbox entry written: the sync service's default.
const INBOX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Messages or entries per call while filling the read timelines.
const FILL_CHUNK: u64 = 100;

/// How far a reader moves through a timeline between calls (a prime, so the
/// positions visited spread over the whole depth).
const READ_STEP: u64 = 7_919;

/// The stores of one backend and the data the rows use.
pub(crate) struct Workload {
    messages: Arc<dyn MessageStore>,
    inbox: Arc<dyn InboxStore>,
    data: Arc<DataSet>,
    /// Rows started so far: names the timelines of the next append row.
    rows_started: u64,
}

/// What every caller of a backend shares.
struct DataSet {
    /// Filled conversations (`read_messages`, `read_history`).
    conversations: Vec<String>,
    /// Filled inboxes (`read_inbox`).
    users: Vec<String>,
    /// Messages per filled conversation, entries per filled inbox.
    depth: u64,
    body: Vec<u8>,
}

impl Workload {
    /// Fills the read timelines of `backend` (untimed).
    pub(crate) async fn prepare(backend: &Backend, params: &StorageParams) -> anyhow::Result<Self> {
        let data = DataSet {
            conversations: (0..params.read_timelines)
                .map(|i| format!("g:bench-read-{i}"))
                .collect(),
            users: (0..params.read_timelines)
                .map(|i| format!("bench-reader-{i}"))
                .collect(),
            depth: params.read_depth,
            body: vec![b'x'; params.body_bytes],
        };
        for (conversation, user) in data.conversations.iter().zip(&data.users) {
            let mut first = 1;
            while first <= data.depth {
                let last = (first + FILL_CHUNK - 1).min(data.depth);
                let messages: Vec<Message> = (first..=last)
                    .map(|seq| data.message(conversation, "bench-writer", seq))
                    .collect();
                backend.messages.append_messages(&messages).await?;
                let entries: Vec<(String, InboxEntry)> = messages
                    .into_iter()
                    .map(|message| (user.clone(), entry(message.conv_seq, message)))
                    .collect();
                backend.inbox.append_inbox(&entries, INBOX_TTL).await?;
                first = last + 1;
            }
        }
        Ok(Workload {
            messages: backend.messages.clone(),
            inbox: backend.inbox.clone(),
            data: Arc::new(data),
            rows_started: 0,
        })
    }

    /// One caller per task of `scenario`, each on its own timelines (appends)
    /// or from its own position (reads).
    pub(crate) fn callers(&mut self, scenario: Scenario) -> Vec<Caller> {
        self.rows_started += 1;
        let row = self.rows_started;
        let span = self.data.depth.saturating_sub(scenario.op.items()) + 1;
        (0..scenario.tasks)
            .map(|task| Caller {
                op: scenario.op,
                messages: self.messages.clone(),
                inbox: self.inbox.clone(),
                data: self.data.clone(),
                writer: format!("bench-{row}-{task}"),
                timeline: task,
                position: task as u64 * span / scenario.tasks as u64,
                span,
                next_seq: 1,
            })
            .collect()
    }
}

/// One task of a row.
pub(crate) struct Caller {
    op: StorageOp,
    messages: Arc<dyn MessageStore>,
    inbox: Arc<dyn InboxStore>,
    data: Arc<DataSet>,
    /// Prefix of the timelines this caller appends to.
    writer: String,
    /// Index of the next filled timeline read.
    timeline: usize,
    /// Where the next read starts, below `span`.
    position: u64,
    /// Start positions that leave a full page above them.
    span: u64,
    /// Seq of the next append.
    next_seq: Seq,
}

impl Caller {
    /// One call of the row's operation.
    pub(crate) async fn call(&mut self) -> anyhow::Result<()> {
        match self.op {
            StorageOp::AppendMessage => {
                let seq = self.take_seq();
                let conversation = format!("g:{}", self.writer);
                let message = self.data.message(&conversation, &self.writer, seq);
                self.messages.append_messages(&[message]).await?;
            }
            StorageOp::AppendInbox => {
                // One 1:1 send: the same message in the sender's and the
                // receiver's inbox, at the same seq in each here.
                let seq = self.take_seq();
                let conversation = format!("g:{}-dm", self.writer);
                let message = self.data.message(&conversation, &self.writer, seq);
                let entries = [
                    (
                        format!("{}-sender", self.writer),
                        entry(seq, message.clone()),
                    ),
                    (format!("{}-receiver", self.writer), entry(seq, message)),
                ];
                self.inbox.append_inbox(&entries, INBOX_TTL).await?;
            }
            StorageOp::ReadMessages => {
                let (conversation, after) = self.next_read(|d| &d.conversations);
                let count = self.op.items();
                let page = self
                    .messages
                    .read_messages(
                        &conversation,
                        after,
                        Some(after + count),
                        PageLimit::entries(count as usize),
                    )
                    .await?;
                expect_page(self.op, page.items.len(), &conversation, after)?;
            }
            StorageOp::ReadInbox => {
                let (user, after) = self.next_read(|d| &d.users);
                let count = self.op.items();
                let page = self
                    .inbox
                    .read_inbox(
                        &user,
                        after,
                        after + count,
                        PageLimit::entries(count as usize),
                    )
                    .await?;
                expect_page(self.op, page.entries.len(), &user, after)?;
            }
            StorageOp::ReadHistory => {
                // Pages end at `position + 1`: the newest is `before - 1`.
                let (conversation, position) = self.next_read(|d| &d.conversations);
                let count = self.op.items();
                let before = position + count + 1;
                let page = self
                    .messages
                    .read_history(
                        &conversation,
                        Some(before),
                        PageLimit::entries(count as usize),
                    )
                    .await?;
                expect_page(self.op, page.items.len(), &conversation, before)?;
            }
        }
        Ok(())
    }

    fn take_seq(&mut self) -> Seq {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The timeline and start position of the next read, then moves on.
    fn next_read(&mut self, timelines: impl Fn(&DataSet) -> &Vec<String>) -> (String, u64) {
        let names = timelines(&self.data);
        let name = names[self.timeline % names.len()].clone();
        let position = self.position;
        self.timeline += 1;
        self.position = (self.position + READ_STEP) % self.span;
        (name, position)
    }
}

impl DataSet {
    fn message(&self, conversation: &str, sender: &str, seq: Seq) -> Message {
        let id = format!("{conversation}-{seq}");
        // Only valid ids reach the tables, as in the services.
        Message {
            message_id: MessageId::parse(&id).expect("bench message id"),
            conversation_id: ConversationId::parse(conversation).expect("bench conversation id"),
            conv_seq: seq,
            sender_id: UserId::parse(sender).expect("bench user id"),
            sender_device: DeviceId::parse("bench").expect("bench device id"),
            client_msg_id: id,
            kind: "text".to_string(),
            body: self.body.clone(),
            created_at_ms: now_ms(),
        }
    }
}

fn entry(seq: Seq, message: Message) -> InboxEntry {
    InboxEntry {
        seq,
        conversation_id: message.conversation_id.clone(),
        conv_seq: message.conv_seq,
        message,
    }
}

/// A read of a filled timeline must return a full page.
fn expect_page(op: StorageOp, got: usize, timeline: &str, from: u64) -> anyhow::Result<()> {
    let wanted = op.items();
    anyhow::ensure!(
        got as u64 == wanted,
        "{} of {timeline} at {from} returned {got} items, not {wanted}",
        op.method()
    );
    Ok(())
}
