//! One connection's outbound queue: the frames waiting for its writer,
//! bounded by count (`gateway.outbound_queue`) and by bytes
//! (`gateway.outbound_queue_bytes`), and the way to give up on a connection
//! that does not keep up. A leaf module: the hub, the session and the writer
//! build on it.
//!
//! Pushes never wait: one that finds the queue full gives the connection up
//! (its frames are dropped, it is told why if a frame can still be written,
//! and it is closed; the device reconnects and pulls). Answers to the
//! connection's own requests wait for room instead, which holds their
//! in-flight places and so stops the reader: a client that sends but never
//! reads is slowed down by TCP, and its queue stays bounded either way.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::Message as WsMessage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// The queue holds as many frames or bytes as it may.
    Full,
    /// The connection is closing or closed.
    Closed,
}

/// How the server ends a connection, written after every frame queued
/// before it.
#[derive(Debug, Clone)]
pub(crate) struct Ending {
    /// An `Error` frame telling the client why (`connection_kept` false).
    pub(crate) error: Option<Bytes>,
    /// The WebSocket close code and reason.
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

/// What the writer takes from the queue.
pub(crate) enum Queued {
    /// A frame, holding its share of the byte bound until it is written.
    Frame(WsMessage, OwnedSemaphorePermit),
    /// The last item: end the connection like this (`None`: a plain close,
    /// the peer left or asked for it).
    End(Option<Ending>),
}

/// The sending side, cloned into the hub's handles and the session.
#[derive(Debug, Clone)]
pub struct Outbound {
    frames: mpsc::Sender<Queued>,
    /// One permit per byte queued and not yet handed to the socket.
    bytes: Arc<Semaphore>,
    byte_limit: usize,
    abandoned: Arc<watch::Sender<bool>>,
}

/// The writer's side.
pub(crate) struct OutboundQueue {
    pub(crate) frames: mpsc::Receiver<Queued>,
    bytes: Arc<Semaphore>,
    abandoned: Arc<watch::Sender<bool>>,
}

impl OutboundQueue {
    /// Gives the connection up (see [`Outbound::abandon`]).
    pub(crate) fn abandon(&self) {
        self.abandoned.send_replace(true);
    }

    /// Watches whether the connection was given up.
    pub(crate) fn abandoned(&self) -> watch::Receiver<bool> {
        self.abandoned.subscribe()
    }

    /// Drops everything queued and wakes every waiting sender: nothing more
    /// will be written from this queue.
    pub(crate) fn discard(&mut self) {
        self.bytes.close();
        self.frames.close();
        while self.frames.try_recv().is_ok() {}
    }
}

impl Outbound {
    pub(crate) fn new(frame_limit: usize, byte_limit: usize) -> (Outbound, OutboundQueue) {
        let (frames, receiver) = mpsc::channel(frame_limit.max(1));
        let bytes = Arc::new(Semaphore::new(byte_limit));
        let abandoned = Arc::new(watch::channel(false).0);
        let outbound = Outbound {
            frames,
            bytes: Arc::clone(&bytes),
            byte_limit,
            abandoned: Arc::clone(&abandoned),
        };
        let queue = OutboundQueue {
            frames: receiver,
            bytes,
            abandoned,
        };
        (outbound, queue)
    }

    /// The permits a frame of `len` bytes holds: a frame larger than the
    /// whole bound takes all of it, so it still goes out, alone.
    fn permits(&self, len: usize) -> u32 {
        len.min(self.byte_limit).try_into().unwrap_or(u32::MAX)
    }

    /// Queues a push without waiting.
    pub fn try_push(&self, frame: Bytes) -> Result<(), QueueError> {
        let permit = match Arc::clone(&self.bytes).try_acquire_many_owned(self.permits(frame.len()))
        {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::NoPermits) => return Err(QueueError::Full),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(QueueError::Closed),
        };
        self.frames
            .try_send(Queued::Frame(WsMessage::Binary(frame), permit))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => QueueError::Full,
                mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
            })
    }

    /// Queues an answer, waiting for room.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), QueueError> {
        let permit = Arc::clone(&self.bytes)
            .acquire_many_owned(self.permits(frame.len()))
            .await
            .map_err(|_| QueueError::Closed)?;
        self.frames
            .send(Queued::Frame(WsMessage::Binary(frame), permit))
            .await
            .map_err(|_| QueueError::Closed)
    }

    /// Queues the end of the connection behind every frame queued so far.
    pub(crate) async fn end(&self, ending: Option<Ending>) -> Result<(), QueueError> {
        self.frames
            .send(Queued::End(ending))
            .await
            .map_err(|_| QueueError::Closed)
    }

    /// Ends the connection behind every frame queued so far, without
    /// waiting (a disconnect asked through the server API). A queue too full
    /// to take the ending gives the connection up instead, which closes it
    /// as well: either way the device reconnects and pulls.
    pub(crate) fn end_now(&self, ending: Ending) {
        if self.frames.try_send(Queued::End(Some(ending))).is_err() {
            self.abandon();
        }
    }

    /// Gives the connection up because it does not keep up: its queued
    /// frames are dropped, the writer tells it why if it still can, and the
    /// connection closes. Safe to call from any thread, any number of times.
    pub fn abandon(&self) {
        self.abandoned.send_replace(true);
    }

    pub fn is_abandoned(&self) -> bool {
        *self.abandoned.borrow()
    }

    /// Resolves once the connection was given up.
    pub(crate) async fn abandoned(&self) {
        let mut abandoned = self.abandoned.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = abandoned.wait_for(|given_up| *given_up).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    #[test]
    fn pushes_stop_at_the_frame_or_the_byte_bound() {
        let (outbound, mut queue) = Outbound::new(3, 10_000);
        assert_eq!(outbound.try_push(bytes(6_000)), Ok(()));
        assert_eq!(outbound.try_push(bytes(6_000)), Err(QueueError::Full));
        assert_eq!(outbound.try_push(bytes(100)), Ok(()));
        assert_eq!(outbound.try_push(bytes(100)), Ok(()));
        assert_eq!(outbound.try_push(bytes(1)), Err(QueueError::Full), "frames");
        // Writing a frame hands its bytes back.
        drop(queue.frames.try_recv().unwrap());
        assert_eq!(outbound.try_push(bytes(6_000)), Ok(()));
    }

    #[test]
    fn a_frame_larger_than_the_bound_goes_out_alone() {
        let (outbound, mut queue) = Outbound::new(8, 4096);
        assert_eq!(outbound.try_push(bytes(100_000)), Ok(()));
        assert_eq!(outbound.try_push(bytes(1)), Err(QueueError::Full));
        drop(queue.frames.try_recv().unwrap());
        assert_eq!(outbound.try_push(bytes(1)), Ok(()));
    }

    #[tokio::test]
    async fn discarding_frees_the_queue_and_wakes_waiting_answers() {
        let (outbound, mut queue) = Outbound::new(8, 4096);
        outbound.try_push(bytes(4096)).unwrap();
        let waiting = tokio::spawn({
            let outbound = outbound.clone();
            async move { outbound.send(bytes(10)).await }
        });
        tokio::task::yield_now().await;
        assert!(!outbound.is_abandoned());
        outbound.abandon();
        assert!(outbound.is_abandoned());
        outbound.abandoned().await;
        queue.discard();
        assert_eq!(waiting.await.unwrap(), Err(QueueError::Closed));
        assert_eq!(outbound.try_push(bytes(1)), Err(QueueError::Closed));
    }
}
