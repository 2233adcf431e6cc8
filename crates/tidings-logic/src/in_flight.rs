//! Idempotency keys being processed by this logic instance.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tidings_storage::DedupeKey;

/// Idempotency keys being processed by this instance: a concurrent resend of
/// one is told to retry instead of racing the first attempt. Keys are held by
/// a [`Claimed`] guard, so a send that fails, returns or is cancelled (its
/// caller went away) never keeps its key.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashSet<DedupeKey>>);

impl InFlight {
    /// Claims `key` for `claimed`; `false` if this instance already holds it.
    pub(crate) fn claim(self: &Arc<Self>, key: &DedupeKey, claimed: &mut Claimed) -> bool {
        let mut held = self.0.lock().expect("in-flight lock");
        if !held.insert(key.clone()) {
            return false;
        }
        claimed.keys.push(key.clone());
        true
    }
}

pub(crate) struct Claimed {
    in_flight: Arc<InFlight>,
    keys: Vec<DedupeKey>,
}

impl Claimed {
    /// Nothing claimed yet, from `in_flight`.
    pub(crate) fn new(in_flight: &Arc<InFlight>) -> Self {
        Claimed {
            in_flight: Arc::clone(in_flight),
            keys: Vec::new(),
        }
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let mut held = self.in_flight.0.lock().expect("in-flight lock");
        for key in &self.keys {
            held.remove(key);
        }
    }
}
