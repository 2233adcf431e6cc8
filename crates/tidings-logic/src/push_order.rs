//! Pushes to one user leave in inbox-seq order (DESIGN §9), so a device under
//! load applies each push as `checkpoint + 1` instead of seeing a gap and
//! pulling.
//!
//! Concurrent batches commit in any order, so a later inbox seq may be ready
//! before an earlier one. Every inbox seq this instance allocates is expected
//! here at allocation; a committed entry waits until every earlier expected
//! seq of its user is either pushed or given up, and is then released, in
//! order, to the push dispatcher. Seqs another logic instance allocates are
//! not known here: across instances order is best effort and devices pull.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tidings_core::{InboxEntry, Seq};

/// Receives released entries, in release order.
pub(crate) trait Release: Send + Sync {
    fn release(&self, entries: Vec<(String, InboxEntry)>);
}

#[derive(Debug)]
enum Slot {
    /// Allocated, not committed yet.
    Waiting,
    /// Committed; pushed once every earlier slot is settled.
    Ready(Box<InboxEntry>),
}

/// Holds committed entries back until earlier seqs of the same user settle.
pub(crate) struct PushOrder {
    users: Mutex<HashMap<String, BTreeMap<Seq, Slot>>>,
    out: Arc<dyn Release>,
}

impl PushOrder {
    pub(crate) fn new(out: Arc<dyn Release>) -> Arc<Self> {
        Arc::new(PushOrder {
            users: Mutex::default(),
            out,
        })
    }

    /// Expects `(user, seq)` pairs just allocated. The returned guard gives
    /// up whatever is still expected when dropped, so an attempt that fails
    /// or is cancelled never holds a user's later pushes back.
    pub(crate) fn expect(self: &Arc<Self>, seqs: Vec<(String, Seq)>) -> Expected {
        {
            let mut users = self.users.lock().expect("push order lock");
            for (user, seq) in &seqs {
                users
                    .entry(user.clone())
                    .or_default()
                    .insert(*seq, Slot::Waiting);
            }
        }
        Expected {
            order: Arc::clone(self),
            seqs,
        }
    }

    /// Settles slots: `ready` entries become pushable, `(user, seq)` in
    /// `given_up` are forgotten; then releases what is now in order.
    fn settle(&self, ready: Vec<(String, InboxEntry)>, given_up: &[(String, Seq)]) {
        let mut users = self.users.lock().expect("push order lock");
        let mut touched: Vec<String> = Vec::new();
        for (user, seq) in given_up {
            if let Some(slots) = users.get_mut(user) {
                slots.remove(seq);
                touched.push(user.clone());
            }
        }
        for (user, entry) in ready {
            // A slot given up earlier (its guard dropped) is not revived.
            if let Some(slot) = users.get_mut(&user).and_then(|s| s.get_mut(&entry.seq)) {
                *slot = Slot::Ready(Box::new(entry));
                touched.push(user);
            }
        }
        touched.sort();
        touched.dedup();
        let mut released = Vec::new();
        for user in touched {
            let Some(slots) = users.get_mut(&user) else {
                continue;
            };
            while let Some(entry) = slots.first_entry() {
                if matches!(entry.get(), Slot::Waiting) {
                    break;
                }
                if let Slot::Ready(ready) = entry.remove() {
                    released.push((user.clone(), *ready));
                }
            }
            if slots.is_empty() {
                users.remove(&user);
            }
        }
        if !released.is_empty() {
            // Still under the lock: releases reach the dispatcher in the
            // order they were decided.
            self.out.release(released);
        }
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.users
            .lock()
            .unwrap()
            .values()
            .map(|slots| slots.len())
            .sum()
    }
}

/// Seqs expected by one attempt; settled by [`Expected::committed`] or, when
/// dropped unsettled, given up.
pub(crate) struct Expected {
    order: Arc<PushOrder>,
    seqs: Vec<(String, Seq)>,
}

impl Expected {
    /// The attempt committed: push `entries` (a subset of what was expected)
    /// in order; give up the rest.
    pub(crate) fn committed(mut self, entries: Vec<(String, InboxEntry)>) {
        let seqs = std::mem::take(&mut self.seqs);
        let given_up: Vec<(String, Seq)> = seqs
            .into_iter()
            .filter(|(user, seq)| !entries.iter().any(|(u, e)| u == user && e.seq == *seq))
            .collect();
        self.order.settle(entries, &given_up);
    }
}

impl Drop for Expected {
    fn drop(&mut self) {
        if !self.seqs.is_empty() {
            let seqs = std::mem::take(&mut self.seqs);
            self.order.settle(Vec::new(), &seqs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_core::{ConversationId, DeviceId, Message, MessageId, UserId};

    #[derive(Default)]
    struct Collect(Mutex<Vec<(String, Seq)>>);

    impl Release for Collect {
        fn release(&self, entries: Vec<(String, InboxEntry)>) {
            let mut out = self.0.lock().unwrap();
            out.extend(entries.into_iter().map(|(u, e)| (u, e.seq)));
        }
    }

    fn entry(seq: Seq) -> InboxEntry {
        let conversation = ConversationId::parse("dm:a:b").unwrap();
        InboxEntry {
            seq,
            conversation_id: conversation.clone(),
            conv_seq: seq,
            message: Message {
                message_id: MessageId::parse(&format!("m{seq}")).unwrap(),
                conversation_id: conversation,
                conv_seq: seq,
                sender_id: UserId::parse("a").unwrap(),
                sender_device: DeviceId::parse("d").unwrap(),
                client_msg_id: format!("c{seq}"),
                kind: "text".into(),
                body: Vec::new(),
                created_at_ms: 0,
            },
        }
    }

    fn setup() -> (Arc<Collect>, Arc<PushOrder>) {
        let out = Arc::new(Collect::default());
        let order = PushOrder::new(out.clone());
        (out, order)
    }

    #[test]
    fn a_later_commit_waits_for_the_earlier_seq() {
        let (out, order) = setup();
        let first = order.expect(vec![("bob".into(), 10)]);
        let second = order.expect(vec![("bob".into(), 11)]);
        second.committed(vec![("bob".into(), entry(11))]);
        assert!(out.0.lock().unwrap().is_empty(), "11 must wait for 10");
        first.committed(vec![("bob".into(), entry(10))]);
        assert_eq!(
            *out.0.lock().unwrap(),
            vec![("bob".to_string(), 10), ("bob".to_string(), 11)]
        );
        assert_eq!(order.waiting(), 0);
    }

    #[test]
    fn a_failed_or_dropped_attempt_releases_what_follows() {
        let (out, order) = setup();
        let failed = order.expect(vec![("bob".into(), 1), ("carol".into(), 5)]);
        let next = order.expect(vec![("bob".into(), 2)]);
        next.committed(vec![("bob".into(), entry(2))]);
        assert!(out.0.lock().unwrap().is_empty());
        drop(failed);
        assert_eq!(*out.0.lock().unwrap(), vec![("bob".to_string(), 2)]);
        assert_eq!(order.waiting(), 0);
    }

    #[test]
    fn users_do_not_wait_for_each_other() {
        let (out, order) = setup();
        let _bob = order.expect(vec![("bob".into(), 1)]);
        let carol = order.expect(vec![("carol".into(), 1)]);
        carol.committed(vec![("carol".into(), entry(1))]);
        assert_eq!(*out.0.lock().unwrap(), vec![("carol".to_string(), 1)]);
    }
}
