//! Counts the rows the send path writes: a wrapper around the embedded store
//! that forwards every call of the message, inbox and conversation-list
//! tables and counts the rows each successful write appended or updated. The
//! other tables go to the same store unwrapped.
//!
//! The methods are written out as `#[async_trait]` expands them (a boxed
//! future borrowing the arguments), so the wrapper needs no macro.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings_core::{InboxEntry, Message, Seq};
use tidings_storage::embedded::EmbeddedStore;
use tidings_storage::{
    ConversationState, ConversationStore, InboxPage, InboxStore, MessageStore, Page, PageLimit,
    StorageError, Tables,
};

/// The future every storage trait method returns.
type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// Rows written so far (or between two snapshots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// Messages appended to store timelines.
    pub messages: u64,
    /// Entries appended to inboxes (sync timelines).
    pub inbox: u64,
    /// Conversation-list entries updated (one per member and message in
    /// write diffusion).
    pub conversation_list: u64,
}

impl RowCounts {
    /// Store-timeline messages plus inbox entries: the writes of DESIGN §1.
    pub fn timeline_writes(&self) -> u64 {
        self.messages + self.inbox
    }

    /// What was written between `earlier` and `self`.
    pub fn since(&self, earlier: RowCounts) -> RowCounts {
        RowCounts {
            messages: self.messages - earlier.messages,
            inbox: self.inbox - earlier.inbox,
            conversation_list: self.conversation_list - earlier.conversation_list,
        }
    }

    /// The sum of two counts.
    pub fn plus(&self, other: RowCounts) -> RowCounts {
        RowCounts {
            messages: self.messages + other.messages,
            inbox: self.inbox + other.inbox,
            conversation_list: self.conversation_list + other.conversation_list,
        }
    }
}

/// The embedded store with row counters on its timeline writes.
pub struct CountingStore {
    store: Arc<EmbeddedStore>,
    messages: AtomicU64,
    inbox: AtomicU64,
    conversation_list: AtomicU64,
}

impl CountingStore {
    pub fn new(store: Arc<EmbeddedStore>) -> Arc<Self> {
        Arc::new(CountingStore {
            store,
            messages: AtomicU64::new(0),
            inbox: AtomicU64::new(0),
            conversation_list: AtomicU64::new(0),
        })
    }

    /// The tables of the all-in-one: messages, inbox and conversation list
    /// through this counter, every other table straight to the store.
    pub fn tables(self: &Arc<Self>) -> Tables {
        Tables {
            messages: self.clone(),
            inbox: self.clone(),
            conversations: self.clone(),
            sections: self.store.clone(),
            dedupe: self.store.clone(),
            checkpoints: self.store.clone(),
            groups: self.store.clone(),
            push_tokens: self.store.clone(),
        }
    }

    /// Rows written since the store was opened.
    pub fn snapshot(&self) -> RowCounts {
        RowCounts {
            messages: self.messages.load(Ordering::Acquire),
            inbox: self.inbox.load(Ordering::Acquire),
            conversation_list: self.conversation_list.load(Ordering::Acquire),
        }
    }
}

impl MessageStore for CountingStore {
    fn append_messages<'life0, 'life1, 'async_trait>(
        &'life0 self,
        messages: &'life1 [Message],
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.store.append_messages(messages).await?;
            self.messages
                .fetch_add(messages.len() as u64, Ordering::AcqRel);
            Ok(())
        })
    }

    fn delete_messages<'life0, 'life1, 'async_trait>(
        &'life0 self,
        seqs: &'life1 [(String, Seq)],
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.delete_messages(seqs)
    }

    fn read_messages<'life0, 'life1, 'async_trait>(
        &'life0 self,
        conversation: &'life1 str,
        after: Seq,
        up_to: Option<Seq>,
        limit: PageLimit,
    ) -> Pending<'async_trait, Page<Message>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.read_messages(conversation, after, up_to, limit)
    }

    fn read_history<'life0, 'life1, 'async_trait>(
        &'life0 self,
        conversation: &'life1 str,
        before: Option<Seq>,
        limit: PageLimit,
    ) -> Pending<'async_trait, Page<Message>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.read_history(conversation, before, limit)
    }

    fn count_messages<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        conversation: &'life1 str,
        after: Seq,
        up_to: Seq,
        except_sender: &'life2 str,
        limit: usize,
    ) -> Pending<'async_trait, u64>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.store
            .count_messages(conversation, after, up_to, except_sender, limit)
    }

    fn append_events<'life0, 'life1, 'async_trait>(
        &'life0 self,
        events: &'life1 [(Seq, Message)],
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.append_events(events)
    }

    fn read_events<'life0, 'life1, 'async_trait>(
        &'life0 self,
        conversation: &'life1 str,
        first: Seq,
        last: Seq,
        limit: usize,
    ) -> Pending<'async_trait, Page<(Seq, Message)>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.read_events(conversation, first, last, limit)
    }
}

impl InboxStore for CountingStore {
    fn append_inbox<'life0, 'life1, 'async_trait>(
        &'life0 self,
        entries: &'life1 [(String, InboxEntry)],
        ttl: Duration,
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.store.append_inbox(entries, ttl).await?;
            self.inbox.fetch_add(entries.len() as u64, Ordering::AcqRel);
            Ok(())
        })
    }

    fn delete_inbox<'life0, 'life1, 'async_trait>(
        &'life0 self,
        seqs: &'life1 [(String, Seq)],
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.delete_inbox(seqs)
    }

    fn read_inbox<'life0, 'life1, 'async_trait>(
        &'life0 self,
        user: &'life1 str,
        after: Seq,
        up_to: Seq,
        limit: PageLimit,
    ) -> Pending<'async_trait, InboxPage>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.read_inbox(user, after, up_to, limit)
    }
}

impl ConversationStore for CountingStore {
    fn touch_conversations<'life0, 'life1, 'async_trait>(
        &'life0 self,
        touches: &'life1 [(String, Message)],
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.store.touch_conversations(touches).await?;
            self.conversation_list
                .fetch_add(touches.len() as u64, Ordering::AcqRel);
            Ok(())
        })
    }

    fn set_read<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        user: &'life1 str,
        conversation: &'life2 str,
        read_seq: Seq,
    ) -> Pending<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.store.set_read(user, conversation, read_seq)
    }

    fn get_conversation<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        user: &'life1 str,
        conversation: &'life2 str,
    ) -> Pending<'async_trait, Option<ConversationState>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.store.get_conversation(user, conversation)
    }

    fn list_conversations<'life0, 'life1, 'async_trait>(
        &'life0 self,
        user: &'life1 str,
    ) -> Pending<'async_trait, Vec<ConversationState>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.store.list_conversations(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(conv_seq: Seq) -> Message {
        Message {
            message_id: tidings_core::MessageId::parse(&format!("m{conv_seq}")).unwrap(),
            conversation_id: tidings_core::ConversationId::parse("g:counted").unwrap(),
            conv_seq,
            sender_id: tidings_core::UserId::parse("alice").unwrap(),
            sender_device: tidings_core::DeviceId::parse("d").unwrap(),
            client_msg_id: format!("c{conv_seq}"),
            kind: "text".into(),
            body: b"hi".to_vec(),
            created_at_ms: 1,
        }
    }

    #[tokio::test]
    async fn counts_the_rows_it_forwards() {
        let dir = tempfile::tempdir().unwrap();
        let counting = CountingStore::new(EmbeddedStore::open(dir.path()).unwrap());
        let tables = counting.tables();
        let before = counting.snapshot();
        tables
            .messages
            .append_messages(&[message(1), message(2)])
            .await
            .unwrap();
        let entry = |seq| InboxEntry {
            seq,
            conversation_id: tidings_core::ConversationId::parse("g:counted").unwrap(),
            conv_seq: 1,
            message: message(1),
        };
        let entries = vec![
            ("alice".to_string(), entry(1)),
            ("bob".to_string(), entry(1)),
        ];
        tables
            .inbox
            .append_inbox(&entries, Duration::from_secs(60))
            .await
            .unwrap();
        tables
            .conversations
            .touch_conversations(&[
                ("alice".to_string(), message(1)),
                ("bob".to_string(), message(1)),
            ])
            .await
            .unwrap();
        let written = counting.snapshot().since(before);
        assert_eq!(
            written,
            RowCounts {
                messages: 2,
                inbox: 2,
                conversation_list: 2
            }
        );
        assert_eq!(written.timeline_writes(), 4);
        let page = tables
            .messages
            .read_messages("g:counted", 0, None, PageLimit::entries(10))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2, "reads reach the same store");
    }
}
