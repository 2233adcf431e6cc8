//! The outbox on fjall, in a data directory of its own (the layout is in
//! `codec`).
//!
//! One process owns the directory at a time (fjall locks it), which is what
//! lets leases live in memory: after a restart nobody else can be holding
//! one, so every pending event is due again at once.
//!
//! Only enqueue syncs the journal. Settling an event (delivered, retry, give
//! up) is written to the journal but not synced: if a crash loses it, the
//! event is delivered once more or retried one attempt early, which
//! at-least-once delivery with idempotency ids already allows, and a
//! dispatcher settling hundreds of events per second costs no fsyncs.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ::fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use async_trait::async_trait;

use super::codec::{decode_row, due_key, encode_row, split_due_key};
use super::{Outbox, OutboxEvent, PendingEvent, check_event_id};
use crate::WebhookError;
use crate::error::storage;

/// Keyspace names; part of the on-disk format.
const EVENTS: &str = "webhook_events";
const DUE: &str = "webhook_due";
const DEAD: &str = "webhook_dead";

/// The fjall outbox. Cheap to clone; clones share the directory.
#[derive(Clone)]
pub struct FjallOutbox {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    events: Keyspace,
    due: Keyspace,
    dead: Keyspace,
    /// Leases by id (until when, Unix ms). The same lock serialises every
    /// read-modify-write of `events` and `due`, so a due key always matches
    /// its row.
    leases: Mutex<HashMap<String, u64>>,
}

impl FjallOutbox {
    /// Opens (creating if needed) the outbox in `path`.
    ///
    /// Blocks while fjall recovers its journal: call it at start-up. Fails
    /// if another process holds the directory.
    pub fn open(path: &Path) -> Result<Self, WebhookError> {
        let db = Database::builder(path)
            .open()
            .map_err(|e| storage("open", e))?;
        let open = |name: &str| {
            db.keyspace(name, KeyspaceCreateOptions::default)
                .map_err(|e| storage("open keyspace", e))
        };
        let inner = Inner {
            events: open(EVENTS)?,
            due: open(DUE)?,
            dead: open(DEAD)?,
            leases: Mutex::new(HashMap::new()),
            db,
        };
        tracing::info!(path = %path.display(), "webhook outbox opened");
        Ok(FjallOutbox {
            inner: Arc::new(inner),
        })
    }

    /// Runs fjall calls on the blocking pool, off the async threads.
    async fn blocking<T, F>(&self, work: F) -> Result<T, WebhookError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, WebhookError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| WebhookError::Unavailable(format!("outbox task failed: {e}")))?
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        // The map holds only leases, which may be lost at any time.
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_row(&self, id: &str) -> Result<Option<super::codec::Row>, WebhookError> {
        let value = self
            .events
            .get(id.as_bytes())
            .map_err(|e| storage("read event", e))?;
        value.map(|row| decode_row(id.as_bytes(), &row)).transpose()
    }
}

#[async_trait]
impl Outbox for FjallOutbox {
    async fn enqueue(&self, events: Vec<OutboxEvent>) -> Result<(), WebhookError> {
        for event in &events {
            check_event_id(&event.id)?;
        }
        if events.is_empty() {
            return Ok(());
        }
        self.blocking(move |inner| {
            {
                let _leases = inner.lock();
                let mut batch = inner.db.batch();
                let mut seen = HashSet::new();
                for event in &events {
                    let known = inner
                        .events
                        .contains_key(event.id.as_bytes())
                        .map_err(|e| storage("read event", e))?;
                    if known || !seen.insert(event.id.as_str()) {
                        continue;
                    }
                    let due_at_ms = event.created_at_ms;
                    batch.insert(
                        &inner.events,
                        event.id.as_bytes(),
                        encode_row(event, 0, due_at_ms),
                    );
                    batch.insert(&inner.due, due_key(due_at_ms, &event.id), []);
                }
                batch.commit().map_err(|e| storage("commit events", e))?;
            }
            // Synced outside the lock so that concurrent enqueues share the
            // disk instead of queueing behind each other's fsync. The sync
            // also covers an already known id whose first enqueue has
            // committed but not synced yet, so "already pending" is never
            // reported before it is durable.
            inner
                .db
                .persist(PersistMode::SyncData)
                .map_err(|e| storage("sync", e))
        })
        .await
    }

    async fn lease(
        &self,
        now_ms: u64,
        limit: usize,
        lease_for: Duration,
    ) -> Result<Vec<PendingEvent>, WebhookError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now_ms.saturating_add(lease_for.as_millis() as u64);
        self.blocking(move |inner| {
            let mut leases = inner.lock();
            let mut leased = Vec::new();
            for entry in inner.due.iter() {
                let key = entry.key().map_err(|e| storage("scan due", e))?;
                let (due_at_ms, id) = split_due_key(&key)?;
                if due_at_ms > now_ms || leased.len() == limit {
                    break;
                }
                let id = String::from_utf8_lossy(id).into_owned();
                if leases.get(&id).is_some_and(|held| *held > now_ms) {
                    continue;
                }
                let Some(row) = inner.read_row(&id)? else {
                    continue;
                };
                leases.insert(id, until);
                leased.push(row.pending);
            }
            Ok(leased)
        })
        .await
    }

    async fn delivered(&self, ids: &[String]) -> Result<(), WebhookError> {
        let ids = ids.to_vec();
        self.blocking(move |inner| {
            let mut leases = inner.lock();
            let mut batch = inner.db.batch();
            for id in &ids {
                leases.remove(id);
                if let Some(row) = inner.read_row(id)? {
                    batch.remove(&inner.events, id.as_bytes());
                    batch.remove(&inner.due, due_key(row.due_at_ms, id));
                }
            }
            batch.commit().map_err(|e| storage("commit delivered", e))
        })
        .await
    }

    async fn retry_at(&self, id: &str, due_at_ms: u64) -> Result<(), WebhookError> {
        let id = id.to_owned();
        self.blocking(move |inner| {
            let mut leases = inner.lock();
            leases.remove(&id);
            let Some(row) = inner.read_row(&id)? else {
                return Ok(());
            };
            let failed = row.pending.failed_attempts.saturating_add(1);
            let mut batch = inner.db.batch();
            batch.remove(&inner.due, due_key(row.due_at_ms, &id));
            batch.insert(&inner.due, due_key(due_at_ms, &id), []);
            batch.insert(
                &inner.events,
                id.as_bytes(),
                encode_row(&row.pending.event, failed, due_at_ms),
            );
            batch.commit().map_err(|e| storage("commit retry", e))
        })
        .await
    }

    async fn give_up(&self, id: &str) -> Result<(), WebhookError> {
        let id = id.to_owned();
        self.blocking(move |inner| {
            let mut leases = inner.lock();
            leases.remove(&id);
            let Some(row) = inner.read_row(&id)? else {
                return Ok(());
            };
            let failed = row.pending.failed_attempts.saturating_add(1);
            let mut batch = inner.db.batch();
            batch.remove(&inner.events, id.as_bytes());
            batch.remove(&inner.due, due_key(row.due_at_ms, &id));
            batch.insert(
                &inner.dead,
                id.as_bytes(),
                encode_row(&row.pending.event, failed, row.due_at_ms),
            );
            batch.commit().map_err(|e| storage("commit give up", e))
        })
        .await
    }

    async fn pending_count(&self) -> Result<usize, WebhookError> {
        self.blocking(|inner| inner.events.len().map_err(|e| storage("count events", e)))
            .await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<PendingEvent>, WebhookError> {
        self.blocking(move |inner| {
            inner
                .dead
                .iter()
                .take(limit)
                .map(|entry| {
                    let (id, row) = entry.into_inner().map_err(|e| storage("scan dead", e))?;
                    Ok(decode_row(&id, &row)?.pending)
                })
                .collect()
        })
        .await
    }
}
