//! Presence values and the feed of presence notices, shared by every
//! backend. A leaf module.

use tokio::sync::broadcast;

/// Whether a user is online, and when it was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Presence {
    /// At least one of its devices has a live registry entry.
    pub online: bool,
    /// When a device of the user last disconnected (unix ms); 0 when not
    /// recorded or expired.
    pub last_seen_ms: u64,
}

/// What a [`PresenceFeed`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceNotice {
    /// The presence of this user may have changed: read it again.
    Changed(String),
    /// Notices may have been lost: read every watched user again.
    Missed,
}

/// Notices waiting for a slow feed reader before it misses some.
pub(crate) const FEED_CAPACITY: usize = 4096;

/// Presence notices from every gateway (see
/// [`Registry::presence_feed`](crate::Registry::presence_feed)).
#[derive(Debug)]
pub struct PresenceFeed {
    notices: broadcast::Receiver<PresenceNotice>,
}

impl PresenceFeed {
    pub(crate) fn new(notices: broadcast::Receiver<PresenceNotice>) -> Self {
        Self { notices }
    }

    /// The next notice; `None` once the registry is gone.
    pub async fn next(&mut self) -> Option<PresenceNotice> {
        match self.notices.recv().await {
            Ok(notice) => Some(notice),
            // A reader that fell behind lost the oldest notices.
            Err(broadcast::error::RecvError::Lagged(_)) => Some(PresenceNotice::Missed),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next notice if one is waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<PresenceNotice> {
        match self.notices.try_recv() {
            Ok(notice) => Some(notice),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(PresenceNotice::Missed),
            Err(_) => None,
        }
    }
}
