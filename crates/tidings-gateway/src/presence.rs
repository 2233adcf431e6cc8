//! Presence (ephemeral): who is online, for the connections that watch.
//!
//! - A connection watches users explicitly (`PresenceSubscribe`), up to
//!   `gateway.presence_max_subscriptions`; nothing ever scans a group.
//! - The gateway that sees a device connect or disconnect publishes a
//!   notice for its user through the registry (after the registry write:
//!   a disconnect first records last-seen, then unregisters).
//! - One task per gateway ([`run`]) takes the notices of every gateway and
//!   the first reads of new watches, keeps those of users watched here,
//!   reads their presence from the registry in one batched call, and writes
//!   a `PresenceEvent` to each watcher whose state changed. One task means
//!   reads and writes of a user's presence never overtake each other here.
//!
//! A gateway that dies without unregistering leaves entries that expire
//! after `gateway.registry_ttl_secs`; nobody publishes that change, so its
//! users show online until a watcher subscribes again or another change of
//! theirs is published.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tidings_core::{Error, ErrorCode, UserId, now_ms};
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tidings_registry::{Presence, PresenceFeed, PresenceNotice};
use tokio::sync::mpsc;

use crate::session::{Conn, Identity, server_frame};
use crate::state::Gateway;

/// Batches of first reads waiting for the presence task.
pub(crate) const ASK_QUEUE: usize = 1024;
/// Wait before trying the registry again after a failure.
const RETRY_AFTER: Duration = Duration::from_millis(500);

impl Conn {
    pub(crate) async fn presence_subscribe(
        &self,
        identity: &Identity,
        subscribe: client::PresenceSubscribe,
    ) -> Result<Out, Error> {
        let users = self.presence_ids(subscribe.user_ids, "PresenceSubscribe")?;
        if users.is_empty() {
            return Err(Error::invalid(
                "PresenceSubscribe.user_ids is empty: name at least one user",
            ));
        }
        let config = &self.gateway.config;
        let cap = config.presence_max_subscriptions;
        let watched =
            self.gateway
                .presence
                .subscribe(identity.connection_id, &self.outbound, users, cap);
        let (new, watching) = watched.map_err(|over| {
            Error::new(
                ErrorCode::RateLimited,
                format!(
                    "a connection may watch at most {cap} users (gateway.presence_max_subscriptions); \
                     it watches {} and this frame adds {}: unsubscribe first",
                    over.watching, over.adding
                ),
            )
        })?;
        if !new.is_empty() {
            // The task sends their current state right behind the answer.
            let _ = self.gateway.presence_asks.send(new).await;
        }
        Ok(answer(watching))
    }

    pub(crate) async fn presence_unsubscribe(
        &self,
        identity: &Identity,
        unsubscribe: client::PresenceUnsubscribe,
    ) -> Result<Out, Error> {
        let users = self.presence_ids(unsubscribe.user_ids, "PresenceUnsubscribe")?;
        let watching = self
            .gateway
            .presence
            .unsubscribe(identity.connection_id, &users);
        Ok(answer(watching))
    }

    /// The frame's user ids, checked: at most the per-frame limit, each a
    /// valid user id.
    fn presence_ids(&self, ids: Vec<String>, frame: &str) -> Result<Vec<String>, Error> {
        let most = self.gateway.config.presence_max_ids_per_frame;
        if ids.len() > most {
            return Err(Error::invalid(format!(
                "{frame}.user_ids has {} ids; at most {most} per frame \
                 (gateway.presence_max_ids_per_frame)",
                ids.len()
            )));
        }
        for id in &ids {
            UserId::parse(id)
                .map_err(|e| Error::invalid(format!("{frame}.user_ids: {id:?}: {}", e.message)))?;
        }
        Ok(ids)
    }
}

fn answer(watching: usize) -> Out {
    Out::PresenceResult(client::PresenceResult {
        watching: u32::try_from(watching).unwrap_or(u32::MAX),
    })
}

impl Gateway {
    /// After a device of `user` registered here: tells every gateway.
    pub(crate) fn publish_connected(self: &Arc<Self>, user: &str) {
        let gateway = Arc::clone(self);
        let user = user.to_string();
        tokio::spawn(async move { gateway.publish(&user).await });
    }

    /// Records `user`'s last-seen moment; call before unregistering its
    /// device, so whoever reads it offline reads it with the moment.
    pub(crate) async fn record_disconnect(&self, user: &str) {
        let at_ms = u64::try_from(now_ms()).unwrap_or(0);
        let ttl = self.config.presence_last_seen_ttl();
        let registry = &self.backends.registry;
        if let Err(e) = registry.record_last_seen(user, at_ms, ttl).await {
            tracing::warn!(user_id = %user, error = %e, "recording last seen failed");
        }
    }

    /// Tells every gateway that `user`'s presence may have changed.
    pub(crate) async fn publish(&self, user: &str) {
        if let Err(e) = self.backends.registry.publish_presence(user).await {
            tracing::warn!(user_id = %user, error = %e, "presence notice failed; watchers see it late");
        }
    }
}

/// The presence task of one gateway: ends with the gateway.
pub(crate) async fn run(gateway: Weak<Gateway>, mut asks: mpsc::Receiver<Vec<String>>) {
    let mut feed: Option<PresenceFeed> = None;
    let mut pending: HashSet<String> = HashSet::new();
    loop {
        if feed.is_none() {
            let Some(live) = gateway.upgrade() else {
                return;
            };
            match live.backends.registry.presence_feed().await {
                Ok(taken) => {
                    feed = Some(taken);
                    // Whatever changed before the feed was there is unknown.
                    pending.extend(live.presence.all_watched());
                }
                Err(e) => tracing::warn!(error = %e, "presence feed unavailable; retrying"),
            }
        }
        if pending.is_empty() {
            tokio::select! {
                asked = asks.recv() => match asked {
                    Some(users) => pending.extend(users),
                    None => return,
                },
                notice = next_notice(&mut feed) => match notice {
                    Some(notice) => take(notice, &mut pending, &gateway),
                    None => feed = None,
                },
            }
        }
        while let Ok(users) = asks.try_recv() {
            pending.extend(users);
        }
        if let Some(taken) = feed.as_mut() {
            while let Some(notice) = taken.try_next() {
                take(notice, &mut pending, &gateway);
            }
        }
        let Some(live) = gateway.upgrade() else {
            return;
        };
        let users = live.presence.watched_among(pending.drain());
        if users.is_empty() {
            continue;
        }
        match live.backends.registry.presence(&users).await {
            Ok(found) => {
                for (user, presence) in users.iter().zip(found) {
                    live.presence
                        .deliver(user, presence, &event_frame(user, presence));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, users = users.len(), "presence read failed; retrying");
                pending.extend(users);
                drop(live);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// The feed's next notice; without a feed, a retry tick.
async fn next_notice(feed: &mut Option<PresenceFeed>) -> Option<PresenceNotice> {
    match feed.as_mut() {
        Some(feed) => feed.next().await,
        None => {
            tokio::time::sleep(RETRY_AFTER).await;
            None
        }
    }
}

fn take(notice: PresenceNotice, pending: &mut HashSet<String>, gateway: &Weak<Gateway>) {
    match notice {
        PresenceNotice::Changed(user) => {
            pending.insert(user);
        }
        PresenceNotice::Missed => {
            if let Some(live) = gateway.upgrade() {
                pending.extend(live.presence.all_watched());
            }
        }
    }
}

fn event_frame(user: &str, presence: Presence) -> axum::body::Bytes {
    server_frame(Out::PresenceEvent(client::PresenceEvent {
        user_id: user.to_string(),
        online: presence.online,
        last_seen_ms: if presence.online {
            0
        } else {
            i64::try_from(presence.last_seen_ms).unwrap_or(i64::MAX)
        },
    }))
}
