//! A device: a [`Connection`] plus the sync rules of [`DeviceState`], driven
//! from the wire (hello, pull until done, pushes with gap detection, acks).

use std::time::Duration;

use tidings_proto::client::v1::{HistoryResult, SendAck, Welcome, server_frame};
use tidings_proto::common::v1::{InboxEntry, Message};
use tokio::time::Instant;

use crate::connection::Connection;
use crate::conversation_sync::ConversationSync;
use crate::device_state::{DeviceState, PushOutcome};
use crate::error::{ClientError, Result};

/// While pushed entries wait above a gap, [`Device::next_push`] pulls again
/// this often even if no push arrives (the gap may close without a push, e.g.
/// when the missing seq is abandoned).
pub const DEFAULT_GAP_RETRY: Duration = Duration::from_millis(200);

/// What [`Device::pull_all`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullOutcome {
    /// Entries applied by this call, in order (pulled, then buffered pushes
    /// that became contiguous).
    pub applied: Vec<InboxEntry>,
    /// Some page said entries after the checkpoint expired from the inbox:
    /// recover them through history (roaming).
    pub truncated: bool,
    /// The inbox head reported by the last page.
    pub head: u64,
    /// Number of Pull requests sent.
    pub pages: usize,
}

/// One device of one user, connected to a gateway.
pub struct Device {
    connection: Connection,
    url: String,
    token: String,
    device_id: String,
    user_id: String,
    state: DeviceState,
    pull_limit: u32,
    gap_retry: Duration,
    truncated: bool,
    conversations: ConversationSync,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("Device")
            .field("url", &self.url)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("checkpoint", &self.state.checkpoint())
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Connects and sends `Hello` with `checkpoint`. The caller then calls
    /// [`Device::pull_all`] before relying on pushes.
    pub async fn connect(
        url: &str,
        token: &str,
        device_id: &str,
        checkpoint: u64,
    ) -> Result<(Device, Welcome)> {
        let connection = Connection::connect(url).await?;
        let welcome = connection.hello(token, device_id, checkpoint).await?;
        let device = Device {
            connection,
            url: url.to_string(),
            token: token.to_string(),
            device_id: device_id.to_string(),
            user_id: welcome.user_id.clone(),
            state: DeviceState::new(checkpoint),
            pull_limit: 0,
            gap_retry: DEFAULT_GAP_RETRY,
            truncated: false,
            conversations: ConversationSync::default(),
        };
        Ok((device, welcome))
    }

    /// Opens a new connection to the same gateway URL, keeping the device's
    /// state, and sends `Hello` with the current checkpoint. Call
    /// [`Device::pull_all`] next.
    pub async fn reconnect(&mut self) -> Result<Welcome> {
        let url = self.url.clone();
        self.reconnect_to(&url).await
    }

    /// Like [`Device::reconnect`], to another gateway.
    pub async fn reconnect_to(&mut self, url: &str) -> Result<Welcome> {
        let mut connection = Connection::connect(url).await?;
        connection.set_request_timeout(self.connection.request_timeout());
        let welcome = connection
            .hello(&self.token, &self.device_id, self.state.checkpoint())
            .await?;
        let old = std::mem::replace(&mut self.connection, connection);
        drop(old);
        self.url = url.to_string();
        self.user_id = welcome.user_id.clone();
        Ok(welcome)
    }

    /// Sends a message. Retrying with the same `client_msg_id` is safe: the
    /// server stores it once and answers with the original ack.
    pub async fn send(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
        kind: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<SendAck> {
        self.connection
            .send_message(conversation_id, client_msg_id, kind, body.into())
            .await
    }

    /// Pulls after the checkpoint until `has_more` is false, applying each page,
    /// then the buffered pushes that became contiguous, then acks the checkpoint.
    pub async fn pull_all(&mut self) -> Result<PullOutcome> {
        let mut outcome = PullOutcome::default();
        let mut heads;
        loop {
            let before = self.state.checkpoint();
            let page = self.connection.pull(before, self.pull_limit).await?;
            outcome.pages += 1;
            outcome.head = page.head;
            let has_more = page.has_more;
            if page.truncated {
                outcome.truncated = true;
                self.truncated = true;
                tracing::warn!(
                    user_id = %self.user_id,
                    checkpoint = before,
                    "inbox entries after the checkpoint expired; recover them through history"
                );
            }
            heads = page.conversation_heads.clone();
            let applied = self.state.apply_page(page);
            self.follow(&applied).await?;
            outcome.applied.extend(applied);
            if !has_more {
                break;
            }
            if self.state.checkpoint() == before {
                return Err(ClientError::Protocol(format!(
                    "pull after {before} said has_more but returned nothing newer"
                )));
            }
        }
        // Large groups (read diffusion): pull each conversation whose head
        // is above this device's cursor in it.
        for head in heads {
            if head.head > self.conversations.cursor(&head.conversation_id) {
                self.pull_conversation(&head.conversation_id).await?;
            }
        }
        self.ack().await?;
        Ok(outcome)
    }

    /// Records applied inbox entries in the conversation timeline, filling
    /// any gap in a group conversation from its store timeline first.
    async fn follow(&mut self, entries: &[InboxEntry]) -> Result<()> {
        for entry in entries {
            let Some(message) = &entry.message else {
                continue;
            };
            if self.conversations.has_gap_before(message) {
                self.pull_conversation(&message.conversation_id).await?;
            }
            self.conversations.apply(message);
        }
        Ok(())
    }

    /// Pulls a conversation's store timeline from this device's cursor up to
    /// its visible head, applying every message.
    pub async fn pull_conversation(&mut self, conversation_id: &str) -> Result<Vec<Message>> {
        let mut applied = Vec::new();
        loop {
            let after = self.conversations.cursor(conversation_id);
            let page = self
                .connection
                .pull_conversation(conversation_id, after, self.pull_limit)
                .await?;
            for message in &page.messages {
                if self.conversations.apply(message) {
                    applied.push(message.clone());
                }
            }
            if !page.has_more || page.messages.is_empty() {
                return Ok(applied);
            }
        }
    }

    /// Every message this device has applied, from its inbox and from
    /// conversation pulls, in the order applied (read positions excluded).
    pub fn messages(&self) -> &[Message] {
        self.conversations.messages()
    }

    /// The messages of one conversation, in the order applied.
    pub fn messages_of(&self, conversation_id: &str) -> Vec<&Message> {
        self.conversations.messages_of(conversation_id)
    }

    /// The messages of one conversation as this device's user sees them now:
    /// edits, recalls, deletes and reactions applied (see
    /// [`ConversationSync::current_of`]).
    pub fn current_messages_of(&self, conversation_id: &str) -> Vec<Message> {
        self.conversations
            .current_of(conversation_id, &self.user_id)
    }

    /// This device's cursor in a conversation (highest conv seq applied).
    pub fn conversation_cursor(&self, conversation_id: &str) -> u64 {
        self.conversations.cursor(conversation_id)
    }

    /// The user's read position in a conversation, from the `tidings.read`
    /// entries this device applied (the highest; 0 if none).
    pub fn read_position(&self, conversation_id: &str) -> u64 {
        self.conversations.read_position(conversation_id)
    }

    /// Applies one pushed entry (see [`DeviceState::handle_push`]); does no I/O.
    /// On [`PushOutcome::NeedsPull`] the caller must call [`Device::pull_all`].
    pub fn handle_push(&mut self, entry: InboxEntry) -> PushOutcome {
        self.state.handle_push(entry)
    }

    /// Waits up to `timeout` for the next push and handles it, pulling when it
    /// reveals a gap (and every gap-retry interval while a gap stays open).
    /// Returns the entries applied as a result, possibly none (a stale or
    /// duplicate push). Fails with `Timeout` if no push came and nothing was
    /// applied, and with `Server` if the server pushed an error frame.
    pub async fn next_push(&mut self, timeout: Duration) -> Result<Vec<InboxEntry>> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait = if self.state.has_gap() {
                remaining.min(self.gap_retry)
            } else {
                remaining
            };
            let frame = match self.connection.next_push(wait).await {
                Ok(frame) => frame,
                Err(ClientError::Timeout { .. }) => {
                    if self.state.has_gap() {
                        let applied = self.pull_all().await?.applied;
                        if !applied.is_empty() {
                            return Ok(applied);
                        }
                    }
                    if Instant::now() >= deadline {
                        return Err(ClientError::Timeout {
                            request_id: 0,
                            timeout,
                        });
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let entry = match frame.frame {
                Some(server_frame::Frame::Push(push)) => push.entry,
                Some(server_frame::Frame::ConversationPush(push)) => {
                    // A large group's message: apply it if it is next in its
                    // conversation, else pull the conversation.
                    if let Some(message) = push.message {
                        let cursor = self.conversations.cursor(&message.conversation_id);
                        if message.conv_seq == cursor + 1 || cursor == 0 {
                            self.conversations.apply(&message);
                        } else if message.conv_seq > cursor {
                            self.pull_conversation(&message.conversation_id).await?;
                        }
                    }
                    return Ok(Vec::new());
                }
                Some(server_frame::Frame::Error(error)) => {
                    return Err(ClientError::from_error_frame(&error));
                }
                other => {
                    tracing::warn!(frame = ?other, "ignoring unexpected server-initiated frame");
                    continue;
                }
            };
            let Some(entry) = entry else {
                tracing::warn!("ignoring push without an entry");
                continue;
            };
            let mut applied = match self.state.handle_push(entry) {
                PushOutcome::Applied(applied) => applied,
                PushOutcome::Stale | PushOutcome::NeedsPull => Vec::new(),
            };
            self.follow(&applied).await?;
            if self.state.has_gap() {
                applied.extend(self.pull_all().await?.applied);
            }
            return Ok(applied);
        }
    }

    /// One page of a conversation's history, newest first (`before` 0: from the newest).
    pub async fn history(
        &self,
        conversation_id: &str,
        before: u64,
        limit: u32,
    ) -> Result<HistoryResult> {
        self.connection
            .history(conversation_id, before, limit)
            .await
    }

    /// Records the current checkpoint server-side; returns what the server recorded.
    pub async fn ack(&self) -> Result<u64> {
        self.connection.ack(self.state.checkpoint()).await
    }

    /// Closes the connection; the state stays usable for [`Device::reconnect`].
    pub async fn close(&self) -> Result<()> {
        self.connection.close().await
    }

    pub fn checkpoint(&self) -> u64 {
        self.state.checkpoint()
    }

    /// Every applied entry, in order: what a UI would show.
    pub fn applied(&self) -> &[InboxEntry] {
        self.state.applied()
    }

    /// The user id the server derived from the token.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub fn state(&self) -> &DeviceState {
        &self.state
    }

    /// Whether any pull so far reported expired entries.
    pub fn was_truncated(&self) -> bool {
        self.truncated
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }

    /// Page size of pulls; 0 (the default) lets the server choose.
    pub fn set_pull_limit(&mut self, limit: u32) {
        self.pull_limit = limit;
    }

    /// How often [`Device::next_push`] re-pulls while a gap stays open.
    pub fn set_gap_retry(&mut self, interval: Duration) {
        self.gap_retry = interval;
    }
}
