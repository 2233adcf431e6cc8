//! Edits, recalls, deletes and reactions, as the store keeps them: every
//! event is a message of its own in the timeline, and also a row of the
//! event index under the conv seq of the message it names. History folds a
//! page's messages with their events from that index: one range read over
//! the page's own seqs, whatever the number of messages between a message
//! and its events (an edit a day later in a busy group is as cheap as one a
//! second later). Why an index and not a state row per message: rows keyed
//! by (target, event seq) are written once each, never read-modified, so a
//! retried append is idempotent, no write needs a lightweight transaction,
//! and concurrent events on one message never race.

use std::collections::HashMap;

use tidings_core::events::{MessageEvent, MessageFold};
use tidings_core::{Error, Message, Seq};
use tidings_proto::common::v1 as pb;
use tidings_storage::{MAX_COUNT, MessageStore};

/// The index rows of the events among `messages`: `(target seq, event)`.
/// The event kinds' bodies were validated by logic; one that does not parse
/// here was not written by the send path and is refused.
pub(crate) fn event_rows(messages: &[Message]) -> Result<Vec<(Seq, Message)>, Error> {
    let mut rows = Vec::new();
    for message in messages {
        if let Some(event) = MessageEvent::parse(&message.kind, &message.body)? {
            rows.push((event.target().conv_seq, message.clone()));
        }
    }
    Ok(rows)
}

/// Folds the events of every message of a page into it, as `reader` sees
/// it. Events past the first `MAX_COUNT` of a page are not read (a page of
/// messages with more events than that shows the earlier ones only).
pub(crate) async fn fold_page(
    store: &dyn MessageStore,
    conversation: &str,
    page: &mut [pb::Message],
    reader: &str,
) -> Result<(), Error> {
    let seqs = page.iter().map(|m| m.conv_seq);
    let (Some(first), Some(last)) = (seqs.clone().min(), seqs.max()) else {
        return Ok(());
    };
    let events = store
        .read_events(conversation, first, last, MAX_COUNT)
        .await?;
    if events.has_more {
        tracing::warn!(
            conversation_id = conversation,
            first,
            last,
            "history page has more events than one fold reads"
        );
    }
    let mut folds: HashMap<Seq, (String, MessageFold)> = HashMap::new();
    let ids: HashMap<Seq, &str> = page
        .iter()
        .map(|m| (m.conv_seq, m.message_id.as_str()))
        .collect();
    for (target, event) in events.items {
        let Some(id) = ids.get(&target) else {
            continue;
        };
        let Ok(Some(parsed)) = MessageEvent::parse(&event.kind, &event.body) else {
            continue;
        };
        // A seq names a message only with its id: an event can never apply
        // to another message that a seq might hold.
        if parsed.target().message_id.as_str() != *id {
            continue;
        }
        let (_, fold) = folds
            .entry(target)
            .or_insert_with(|| (id.to_string(), MessageFold::default()));
        fold.apply(event.sender_id.as_str(), event.created_at_ms, &parsed);
    }
    for message in page.iter_mut() {
        if let Some((_, fold)) = folds.get(&message.conv_seq) {
            fold.apply_to(message, reader);
        }
    }
    Ok(())
}
