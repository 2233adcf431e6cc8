//! The graceful drain of a gateway (SIGTERM): stop accepting, tell every
//! client to reconnect elsewhere, let requests in flight finish until
//! `gateway.drain_timeout_ms` and answer the rest `unavailable`, remove the
//! registry entries (each connection's clean-up), then report done.
//!
//! The gateway's phase is one watch that every connection and every request
//! in flight looks at; the count of open connections is another, which the
//! drain waits on.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_core::Error;
use tokio::sync::watch;

use crate::state::Gateway;
use crate::writer::CLOSE_GRACE;

/// WebSocket close code of a drained connection (1012, service restart):
/// the client reconnects, to another gateway if there is one, and pulls.
pub(crate) const CLOSE_SERVICE_RESTART: u16 = 1012;

/// How long the drain waits past its deadline for connections to write
/// their last frames and clean up their registry entries.
const AFTER_DEADLINE: Duration = Duration::from_secs(1).saturating_add(CLOSE_GRACE);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Serving,
    /// No new connections or requests; those in flight may finish.
    Draining,
    /// The drain deadline passed: requests still in flight are answered
    /// `unavailable`.
    Deadline,
}

/// The phase and the open connections of one gateway.
pub(crate) struct DrainState {
    phase: watch::Sender<Phase>,
    open: watch::Sender<usize>,
}

impl Default for DrainState {
    fn default() -> Self {
        DrainState {
            phase: watch::channel(Phase::Serving).0,
            open: watch::channel(0).0,
        }
    }
}

/// Counts one open connection until dropped.
pub(crate) struct OpenConnection(Arc<Gateway>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.drain.open.send_modify(|open| *open -= 1);
    }
}

impl Gateway {
    /// Counts a new connection as open, unless the gateway is draining.
    pub(crate) fn open_connection(self: &Arc<Self>) -> Option<OpenConnection> {
        if self.is_draining() {
            return None;
        }
        self.drain.open.send_modify(|open| *open += 1);
        Some(OpenConnection(Arc::clone(self)))
    }

    pub(crate) fn is_draining(&self) -> bool {
        *self.drain.phase.borrow() != Phase::Serving
    }

    /// Resolves once the drain began: the WebSocket server stops accepting
    /// and every connection stops reading.
    pub fn stopped_accepting(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut phase = self.drain.phase.subscribe();
        async move {
            let _ = phase.wait_for(|phase| *phase != Phase::Serving).await;
        }
    }

    /// Runs a request's work until it finishes, or answers it `unavailable`
    /// once the drain deadline passed: no request outlives the drain.
    pub(crate) async fn before_deadline<T>(
        &self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let mut phase = self.drain.phase.subscribe();
        tokio::select! {
            biased;
            answer = work => answer,
            _ = phase.wait_for(|phase| *phase == Phase::Deadline) => Err(Error::unavailable(
                "the gateway shut down before this request finished; \
                 reconnect and send it again (a send with the same client_msg_id)",
            )),
        }
    }

    /// Drains the gateway and returns once every connection is closed, or
    /// at most `gateway.drain_timeout_ms` plus about 2 s after it began.
    /// The registry heartbeat must be stopped first, or it could write back
    /// entries the connections' clean-up removes.
    pub async fn drain(&self) {
        let started = Instant::now();
        let connections = *self.drain.open.borrow();
        tracing::info!(connections, "gateway draining");
        self.drain.phase.send_replace(Phase::Draining);
        let mut open = self.drain.open.subscribe();
        let deadline = self.config.drain_timeout();
        let closed = tokio::time::timeout(deadline, open.wait_for(|open| *open == 0))
            .await
            .is_ok();
        if !closed {
            self.drain.phase.send_replace(Phase::Deadline);
            let late = tokio::time::timeout(AFTER_DEADLINE, open.wait_for(|open| *open == 0));
            if late.await.is_err() {
                let left = *self.drain.open.borrow();
                tracing::warn!(
                    connections = left,
                    "drain deadline passed; dropping the rest"
                );
            }
        }
        tracing::info!(
            connections,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "gateway drained"
        );
    }
}
