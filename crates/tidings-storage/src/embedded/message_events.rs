//! The event index: `message_events` keyed `conversation ++ 0x00 ++
//! target_seq ++ event_seq` (both big-endian), the value the event as a
//! `tidings.common.v1.Message`. Byte order is fold order, so the events of a
//! history page's messages are one range scan.

use std::collections::BTreeMap;

use prost::Message as _;
use tidings_core::{Message, Seq};
use tidings_proto::common::v1 as pb;

use super::codec::{decode, message_from_row, numbered_key};
use super::{EmbeddedStore, backend, read_page};
use crate::{MAX_COUNT, Page, StorageError};

const TABLE: &str = "message_events";

fn event_key(conversation: &str, target: Seq, event: Seq) -> Result<Vec<u8>, StorageError> {
    let mut key = numbered_key(conversation, target)?;
    key.extend_from_slice(&event.to_be_bytes());
    Ok(key)
}

fn target_of(key: &[u8]) -> Result<Seq, StorageError> {
    let target = key
        .len()
        .checked_sub(16)
        .and_then(|at| key.get(at..at + 8))
        .ok_or_else(|| super::codec::corrupt(TABLE, "short key"))?;
    Ok(Seq::from_be_bytes(target.try_into().expect("8 bytes")))
}

impl EmbeddedStore {
    pub(super) async fn append_event_rows(
        &self,
        events: &[(Seq, Message)],
    ) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        // Keyed, so an event repeated within one call is written once.
        let rows = events
            .iter()
            .map(|(target, event)| {
                let key = event_key(&event.conversation_id.to_string(), *target, event.conv_seq)?;
                Ok((key, pb::Message::from(event.clone()).encode_to_vec()))
            })
            .collect::<Result<BTreeMap<_, _>, StorageError>>()?;
        self.write(move |tables| {
            let mut batch = tables.db.batch();
            for (key, value) in rows {
                batch.insert(&tables.message_events, key, value);
            }
            batch
                .commit()
                .map_err(|e| backend("commit message events", e))
        })
        .await
    }

    pub(super) async fn read_event_rows(
        &self,
        conversation: &str,
        first: Seq,
        last: Seq,
        limit: usize,
    ) -> Result<Page<(Seq, Message)>, StorageError> {
        if first > last {
            return Ok(Page {
                items: Vec::new(),
                has_more: false,
            });
        }
        let start = event_key(conversation, first, 0)?;
        let end = event_key(conversation, last, Seq::MAX)?;
        let limit = limit.min(MAX_COUNT);
        self.blocking(move |tables| {
            let rows = tables.message_events.range(start..=end);
            let (items, has_more) = read_page(rows, limit, |key, value| {
                let event = message_from_row(TABLE, decode::<pb::Message>(TABLE, value)?)?;
                Ok(Some((target_of(key)?, event)))
            })?;
            Ok(Page { items, has_more })
        })
        .await
    }
}
