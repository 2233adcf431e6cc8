//! The tables of `traits`, instrumented.

use std::time::Duration;

use async_trait::async_trait;
use tidings_core::{InboxEntry, Message, Seq};

use super::Instrumented;
use crate::{
    CheckpointStore, DedupeKey, DedupeRecord, DedupeStore, DeviceCheckpoint, InboxPage, InboxStore,
    MessageStore, Page, PageLimit, SectionState, SectionStore, StorageError,
};

#[async_trait]
impl MessageStore for Instrumented<dyn MessageStore> {
    async fn append_messages(&self, messages: &[Message]) -> Result<(), StorageError> {
        self.timed("append_messages", self.inner.append_messages(messages))
            .await
    }

    async fn delete_messages(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError> {
        self.timed("delete_messages", self.inner.delete_messages(seqs))
            .await
    }

    async fn read_messages(
        &self,
        conversation: &str,
        after: Seq,
        up_to: Option<Seq>,
        limit: PageLimit,
    ) -> Result<Page<Message>, StorageError> {
        let call = self.inner.read_messages(conversation, after, up_to, limit);
        self.timed("read_messages", call).await
    }

    async fn read_history(
        &self,
        conversation: &str,
        before: Option<Seq>,
        limit: PageLimit,
    ) -> Result<Page<Message>, StorageError> {
        let call = self.inner.read_history(conversation, before, limit);
        self.timed("read_history", call).await
    }

    async fn count_messages(
        &self,
        conversation: &str,
        after: Seq,
        up_to: Seq,
        except_sender: &str,
        limit: usize,
    ) -> Result<u64, StorageError> {
        let call = self
            .inner
            .count_messages(conversation, after, up_to, except_sender, limit);
        self.timed("count_messages", call).await
    }

    async fn append_events(&self, events: &[(Seq, Message)]) -> Result<(), StorageError> {
        self.timed("append_events", self.inner.append_events(events))
            .await
    }

    async fn read_events(
        &self,
        conversation: &str,
        first: Seq,
        last: Seq,
        limit: usize,
    ) -> Result<Page<(Seq, Message)>, StorageError> {
        let call = self.inner.read_events(conversation, first, last, limit);
        self.timed("read_events", call).await
    }
}

#[async_trait]
impl InboxStore for Instrumented<dyn InboxStore> {
    async fn append_inbox(
        &self,
        entries: &[(String, InboxEntry)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        self.timed("append_inbox", self.inner.append_inbox(entries, ttl))
            .await
    }

    async fn delete_inbox(&self, seqs: &[(String, Seq)]) -> Result<(), StorageError> {
        self.timed("delete_inbox", self.inner.delete_inbox(seqs))
            .await
    }

    async fn read_inbox(
        &self,
        user: &str,
        after: Seq,
        up_to: Seq,
        limit: PageLimit,
    ) -> Result<InboxPage, StorageError> {
        let call = self.inner.read_inbox(user, after, up_to, limit);
        self.timed("read_inbox", call).await
    }
}

#[async_trait]
impl SectionStore for Instrumented<dyn SectionStore> {
    async fn claim_section(
        &self,
        section: u32,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<SectionState, StorageError> {
        let call = self.inner.claim_section(section, owner, now_ms, lease_ms);
        self.timed("claim_section", call).await
    }

    async fn renew_lease(
        &self,
        section: u32,
        epoch: u64,
        lease_until_ms: i64,
    ) -> Result<(), StorageError> {
        let call = self.inner.renew_lease(section, epoch, lease_until_ms);
        self.timed("renew_lease", call).await
    }

    async fn advance_max_seq(
        &self,
        section: u32,
        epoch: u64,
        max_seq: Seq,
    ) -> Result<(), StorageError> {
        let call = self.inner.advance_max_seq(section, epoch, max_seq);
        self.timed("advance_max_seq", call).await
    }

    async fn release_section(&self, section: u32, epoch: u64) -> Result<(), StorageError> {
        let call = self.inner.release_section(section, epoch);
        self.timed("release_section", call).await
    }

    async fn load_section(&self, section: u32) -> Result<Option<SectionState>, StorageError> {
        self.timed("load_section", self.inner.load_section(section))
            .await
    }

    async fn list_sections(&self) -> Result<Vec<(u32, SectionState)>, StorageError> {
        self.timed("list_sections", self.inner.list_sections())
            .await
    }
}

#[async_trait]
impl DedupeStore for Instrumented<dyn DedupeStore> {
    async fn get_dedupe(
        &self,
        keys: &[DedupeKey],
    ) -> Result<Vec<Option<DedupeRecord>>, StorageError> {
        self.timed("get_dedupe", self.inner.get_dedupe(keys)).await
    }

    async fn put_dedupe(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        self.timed("put_dedupe", self.inner.put_dedupe(records, ttl))
            .await
    }

    async fn put_dedupe_ordered(
        &self,
        records: &[(DedupeKey, DedupeRecord)],
        ttl: Duration,
    ) -> Result<(), StorageError> {
        self.timed(
            "put_dedupe_ordered",
            self.inner.put_dedupe_ordered(records, ttl),
        )
        .await
    }
}

#[async_trait]
impl CheckpointStore for Instrumented<dyn CheckpointStore> {
    async fn put_checkpoint(
        &self,
        user: &str,
        device: &str,
        checkpoint: Seq,
        updated_at_ms: i64,
    ) -> Result<(), StorageError> {
        let call = self
            .inner
            .put_checkpoint(user, device, checkpoint, updated_at_ms);
        self.timed("put_checkpoint", call).await
    }

    async fn list_checkpoints(&self, user: &str) -> Result<Vec<DeviceCheckpoint>, StorageError> {
        self.timed("list_checkpoints", self.inner.list_checkpoints(user))
            .await
    }
}
