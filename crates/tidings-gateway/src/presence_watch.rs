//! Who watches whose presence on this gateway: user -> watching
//! connections, and connection -> watched users (for the per-connection cap
//! and clean-up). A leaf of the gateway's state; `presence` keeps it fed.
//!
//! Each watcher remembers the last state it was sent, so a notice that
//! changes nothing for it (another device of an online user connected) is
//! not sent, and a new watcher always gets the current state once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use axum::body::Bytes;
use tidings_registry::Presence;

use crate::outbound::Outbound;

struct Watcher {
    outbound: Outbound,
    /// The `online` last sent to this connection; `None` before the first.
    sent: Option<bool>,
}

#[derive(Default)]
struct Watchers {
    by_user: HashMap<String, HashMap<u64, Watcher>>,
    by_connection: HashMap<u64, HashSet<String>>,
}

/// A subscribe that would pass the cap: how many users are watched now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OverCap {
    pub(crate) watching: usize,
    pub(crate) adding: usize,
}

#[derive(Default)]
pub(crate) struct PresenceWatch {
    watchers: Mutex<Watchers>,
}

impl PresenceWatch {
    /// Adds watches of `users` for `connection`, all or none: refused when
    /// the connection would watch more than `cap`. Returns the users newly
    /// watched and how many the connection watches now.
    pub(crate) fn subscribe(
        &self,
        connection: u64,
        outbound: &Outbound,
        users: Vec<String>,
        cap: usize,
    ) -> Result<(Vec<String>, usize), OverCap> {
        let mut watchers = self.watchers.lock().expect("presence watch lock");
        let watched = watchers.by_connection.entry(connection).or_default();
        let mut new: Vec<String> = users.into_iter().filter(|u| !watched.contains(u)).collect();
        new.sort();
        new.dedup();
        if watched.len() + new.len() > cap {
            let watching = watched.len();
            if watching == 0 {
                watchers.by_connection.remove(&connection);
            }
            return Err(OverCap {
                watching,
                adding: new.len(),
            });
        }
        watched.extend(new.iter().cloned());
        let watching = watched.len();
        for user in &new {
            watchers.by_user.entry(user.clone()).or_default().insert(
                connection,
                Watcher {
                    outbound: outbound.clone(),
                    sent: None,
                },
            );
        }
        Ok((new, watching))
    }

    /// Drops the watches of `users` (every watch when empty) for
    /// `connection`; returns how many it still holds.
    pub(crate) fn unsubscribe(&self, connection: u64, users: &[String]) -> usize {
        let mut watchers = self.watchers.lock().expect("presence watch lock");
        let Some(watched) = watchers.by_connection.get_mut(&connection) else {
            return 0;
        };
        let dropped: Vec<String> = if users.is_empty() {
            watched.drain().collect()
        } else {
            users
                .iter()
                .filter(|u| watched.remove(*u))
                .cloned()
                .collect()
        };
        let watching = watched.len();
        if watching == 0 {
            watchers.by_connection.remove(&connection);
        }
        for user in dropped {
            if let Some(of_user) = watchers.by_user.get_mut(&user) {
                of_user.remove(&connection);
                if of_user.is_empty() {
                    watchers.by_user.remove(&user);
                }
            }
        }
        watching
    }

    /// Which of `users` someone here watches.
    pub(crate) fn watched_among(&self, users: impl IntoIterator<Item = String>) -> Vec<String> {
        let watchers = self.watchers.lock().expect("presence watch lock");
        users
            .into_iter()
            .filter(|u| watchers.by_user.contains_key(u))
            .collect()
    }

    /// Every user someone here watches.
    pub(crate) fn all_watched(&self) -> Vec<String> {
        let watchers = self.watchers.lock().expect("presence watch lock");
        watchers.by_user.keys().cloned().collect()
    }

    /// Queues `frame` (the event for `presence`) on each watcher of `user`
    /// that was not sent this state yet. Never waits: a full queue misses
    /// the event and is tried again at the next notice.
    pub(crate) fn deliver(&self, user: &str, presence: Presence, frame: &Bytes) -> u32 {
        let mut watchers = self.watchers.lock().expect("presence watch lock");
        let Some(of_user) = watchers.by_user.get_mut(user) else {
            return 0;
        };
        let mut delivered = 0;
        for watcher in of_user.values_mut() {
            if watcher.sent == Some(presence.online) {
                continue;
            }
            if watcher.outbound.try_push(frame.clone()).is_ok() {
                watcher.sent = Some(presence.online);
                delivered += 1;
            }
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn the_cap_refuses_a_whole_frame_and_keeps_what_was_watched() {
        let watch = PresenceWatch::default();
        let (outbound, _queue) = Outbound::new(8, 1 << 20);
        let (new, watching) = watch
            .subscribe(1, &outbound, users(&["a", "b", "b"]), 3)
            .unwrap();
        assert_eq!((new, watching), (users(&["a", "b"]), 2));
        assert_eq!(
            watch.subscribe(1, &outbound, users(&["a", "c", "d"]), 3),
            Err(OverCap {
                watching: 2,
                adding: 2
            })
        );
        assert_eq!(
            watch.subscribe(1, &outbound, users(&["a", "c"]), 3),
            Ok((users(&["c"]), 3))
        );
        assert_eq!(watch.unsubscribe(1, &users(&["a", "zed"])), 2);
        assert_eq!(
            watch.watched_among(users(&["a", "b", "c"])),
            users(&["b", "c"])
        );
        assert_eq!(watch.unsubscribe(1, &[]), 0);
        assert!(watch.all_watched().is_empty());
    }

    #[test]
    fn a_watcher_gets_each_state_once() {
        let watch = PresenceWatch::default();
        let (outbound, _queue) = Outbound::new(8, 1 << 20);
        watch.subscribe(1, &outbound, users(&["a"]), 10).unwrap();
        let online = Presence {
            online: true,
            last_seen_ms: 0,
        };
        let frame = Bytes::from_static(b"x");
        assert_eq!(watch.deliver("a", online, &frame), 1, "the current state");
        assert_eq!(watch.deliver("a", online, &frame), 0, "no change");
        let offline = Presence {
            online: false,
            last_seen_ms: 7,
        };
        assert_eq!(watch.deliver("a", offline, &frame), 1);
        assert_eq!(watch.deliver("nobody", offline, &frame), 0);
    }
}
