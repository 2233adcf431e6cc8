//! The writing half of one connection: takes frames from its outbound queue
//! and writes them, one flush per burst, until the queue ends the
//! connection or the connection is given up.
//!
//! No write waits without bound: a burst that the client does not take
//! within `gateway.write_timeout_ms` gives the connection up, and the last
//! frames of a connection get [`CLOSE_GRACE`]. A client that stops reading
//! therefore costs at most its queue's bound, and only for that long.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tidings_core::Error;
use tidings_proto::client::v1::server_frame::Frame as Out;

use crate::outbound::{Ending, OutboundQueue, Queued};
use crate::session::server_frame;

pub(crate) type Sink = SplitSink<WebSocket, WsMessage>;

/// How long the last frames of a connection (its error and close frames)
/// may take to be written before the socket is dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// WebSocket close code of a connection given up for not keeping up
/// (1008, policy violation).
pub(crate) const CLOSE_TOO_SLOW: u16 = 1008;

/// Writes the queue to `sink` until the connection ends; returns the sink
/// so the caller decides when the socket goes.
pub(crate) async fn run(mut sink: Sink, mut queue: OutboundQueue, write_timeout: Duration) -> Sink {
    write_all(&mut sink, &mut queue, write_timeout).await;
    // Whatever is still queued will not be written: free it, and wake
    // answers waiting for room.
    queue.discard();
    sink
}

async fn write_all(sink: &mut Sink, queue: &mut OutboundQueue, write_timeout: Duration) {
    let mut abandoned = queue.abandoned();
    loop {
        let item = tokio::select! {
            biased;
            _ = abandoned.wait_for(|given_up| *given_up) => break,
            item = queue.frames.recv() => item,
        };
        // The frame keeps its share of the byte bound until it is written.
        let (message, bytes) = match item {
            Some(Queued::Frame(message, bytes)) => (message, bytes),
            Some(Queued::End(ending)) => return finish(sink, ending).await,
            // Every sender is gone: nothing more can be queued.
            None => return finish(sink, None).await,
        };
        let burst = write_burst(sink, message, queue);
        let outcome = tokio::select! {
            biased;
            _ = abandoned.wait_for(|given_up| *given_up) => break,
            outcome = tokio::time::timeout(write_timeout, burst) => outcome,
        };
        drop(bytes);
        match outcome {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(ending))) => return finish(sink, ending).await,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "websocket write failed");
                return;
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = write_timeout.as_millis() as u64,
                    "connection took no frame in time; closing it"
                );
                break;
            }
        }
    }
    give_up(sink, queue).await;
}

/// Writes `first` and whatever is queued behind it, then flushes once: one
/// write for a burst. Returns the connection's ending if the burst reached
/// it (`Some(None)`: a plain close).
async fn write_burst(
    sink: &mut Sink,
    first: WsMessage,
    queue: &mut OutboundQueue,
) -> Result<Option<Option<Ending>>, axum::Error> {
    sink.feed(first).await?;
    let mut ending = None;
    while let Ok(item) = queue.frames.try_recv() {
        match item {
            Queued::Frame(message, _bytes) => sink.feed(message).await?,
            Queued::End(end) => {
                ending = Some(end);
                break;
            }
        }
    }
    sink.flush().await?;
    Ok(ending)
}

/// Writes the ending's error and close frames (or a plain close), within
/// [`CLOSE_GRACE`].
pub(crate) async fn finish(sink: &mut Sink, ending: Option<Ending>) {
    let written = tokio::time::timeout(CLOSE_GRACE, async {
        match ending {
            Some(ending) => {
                if let Some(error) = ending.error {
                    sink.feed(WsMessage::Binary(error)).await?;
                }
                let close = CloseFrame {
                    code: ending.code,
                    reason: ending.reason.into(),
                };
                sink.send(WsMessage::Close(Some(close))).await
            }
            None => sink.close().await,
        }
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::debug!("the connection's last frames could not be written");
    }
}

/// Drops what the connection still had queued and tells it why it is
/// closed, if it takes two more small frames within [`CLOSE_GRACE`].
async fn give_up(sink: &mut Sink, queue: &mut OutboundQueue) {
    // The reader stops too, and answers waiting for room fail.
    queue.abandon();
    queue.discard();
    let error = Error::unavailable(
        "this connection fell too far behind the frames sent to it and is closed; \
         reconnect and pull",
    )
    .to_client_frame(false);
    let ending = Ending {
        error: Some(server_frame(Out::Error(error))),
        code: CLOSE_TOO_SLOW,
        reason: "too slow: reconnect and pull",
    };
    finish(sink, Some(ending)).await;
}
