//! Presence on Redis: last-seen strings beside each user's devices, and one
//! pub/sub channel for the notices of every gateway.
//!
//! - `<key_prefix>{u:<user>}:last_seen`: the unix ms of the user's last
//!   disconnect, with a `PX` of the caller's ttl. It shares the user's hash
//!   tag, so a user's devices and last-seen are read in one slot, and a
//!   presence read pipelines like a look-up.
//! - `<key_prefix>presence`: the pub/sub channel; each message is a user id.
//!   Every gateway listens on one dedicated connection (on a cluster, any
//!   node: classic pub/sub reaches every node). A lost connection is
//!   reported to the feeds as a missed notice, then re-established.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::Script;
use tokio::sync::broadcast;

use crate::presence::FEED_CAPACITY;
use crate::{PresenceNotice, RegistryError};

/// `KEYS[1]` the last-seen string; `ARGV` moment (unix ms), ttl in ms.
/// An earlier moment never replaces a later one still kept.
pub(super) const RECORD_LAST_SEEN_LUA: &str = r#"
local old = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if old > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

pub(super) fn record_last_seen_script() -> Script {
    Script::new(RECORD_LAST_SEEN_LUA)
}

/// Wait between attempts to re-establish the listening connection.
const RELISTEN_AFTER: Duration = Duration::from_millis(500);

/// Subscribes to `channel` at `url` and starts forwarding its messages to
/// the returned sender's receivers. Returns once the subscription is in
/// place, so a feed taken afterwards gets every notice published later.
pub(super) async fn listen(
    url: String,
    channel: String,
) -> Result<Arc<broadcast::Sender<PresenceNotice>>, RegistryError> {
    let stream = subscribe(&url, &channel).await?;
    let sender = Arc::new(broadcast::channel(FEED_CAPACITY).0);
    tokio::spawn(forward(stream, url, channel, Arc::downgrade(&sender)));
    Ok(sender)
}

async fn subscribe(url: &str, channel: &str) -> Result<redis::aio::PubSubStream, RegistryError> {
    let client = redis::Client::open(url).map_err(super::backend)?;
    let mut pubsub = client.get_async_pubsub().await.map_err(super::backend)?;
    pubsub.subscribe(channel).await.map_err(super::backend)?;
    Ok(pubsub.into_on_message())
}

/// Forwards notices until the registry (the last strong sender) is gone;
/// re-subscribes after a broken connection.
async fn forward(
    mut stream: redis::aio::PubSubStream,
    url: String,
    channel: String,
    sender: Weak<broadcast::Sender<PresenceNotice>>,
) {
    loop {
        while let Some(message) = stream.next().await {
            let Some(sender) = sender.upgrade() else {
                return;
            };
            match message.get_payload::<String>() {
                Ok(user) => {
                    let _ = sender.send(PresenceNotice::Changed(user));
                }
                Err(e) => tracing::warn!(error = %e, "unreadable presence notice"),
            }
        }
        tracing::warn!("presence channel connection lost; listening again");
        loop {
            let Some(live) = sender.upgrade() else {
                return;
            };
            // Whatever was published while the connection was down is lost.
            let _ = live.send(PresenceNotice::Missed);
            drop(live);
            tokio::time::sleep(RELISTEN_AFTER).await;
            match subscribe(&url, &channel).await {
                Ok(again) => {
                    stream = again;
                    // And whatever was published before the subscription took.
                    if let Some(live) = sender.upgrade() {
                        let _ = live.send(PresenceNotice::Missed);
                    }
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "presence channel still unreachable"),
            }
        }
    }
}
