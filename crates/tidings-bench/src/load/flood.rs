//! A flooding connection: after `Hello` it writes frames from one source at
//! a fixed rate and reads every answer, so the end-to-end benchmark can
//! measure what one misbehaving client costs the others. Two sources
//! ([`Frames`]): garbage the server must refuse ([`super::garbage`]), or
//! valid sends to one conversation, each with a fresh `client_msg_id`, that
//! the server must take or rate-limit.
//!
//! The writer paces itself with a token bucket refilled every millisecond.
//! When the server stops reading (TCP backpressure) the bucket caps the
//! catch-up at a tenth of a second of frames, so the achieved rate reported
//! is what the server let through, not what was asked for. The flood never
//! fails a run: a server that closes the flooding connection is an outcome
//! to report.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tidings_proto::client::v1::{
    ClientFrame, ErrorCode, Ping, Send, ServerFrame, client_frame, server_frame::Frame as In,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use super::body::BODY_BYTES;
use super::connection::{self, WsStream};
use super::garbage::{GarbagePool, POOL, SEED};
use crate::latency::per_second;
use crate::wire::{self, Incoming};

/// How often the writer refills its bucket and sends what is due: at
/// 10,000 frames/s, bursts of about ten, few enough wake-ups to leave the
/// shared cores to the server and the measured clients.
const TICK: Duration = Duration::from_millis(1);

/// Request id of the ping that checks the connection after the flood.
const PING_REQUEST: u64 = u64::MAX - 1;

/// What a flood writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frames {
    /// Binary frames that are not valid requests: nine in ten random bytes
    /// (answered `MALFORMED_FRAME`), one in ten a `ClientFrame` of an
    /// unknown type (answered `UNKNOWN_FRAME`).
    Garbage,
    /// Valid `Send`s of a 64-byte text to `conversation_id`, the n-th with
    /// request id n and `client_msg_id` `<user>-<n>`: each one a new
    /// message, acked or answered `RATE_LIMITED`.
    Sends { conversation_id: String },
}

/// What the server answered and whether it kept the connection.
#[derive(Debug, Clone, Default)]
pub struct FloodOutcome {
    /// Offered rate, frames per second.
    pub rate: u64,
    /// Random-byte frames written.
    pub malformed_sent: u64,
    /// Valid frames of an unknown type written.
    pub unknown_sent: u64,
    /// Valid sends written.
    pub sends_sent: u64,
    /// From the first frame to the end of the flood.
    pub sending: Duration,
    /// The longest time one burst took to be written: how long the server's
    /// backpressure held the writer at most.
    pub longest_stall: Duration,
    /// `Error` answers with `MALFORMED_FRAME`.
    pub malformed_answers: u64,
    /// `Error` answers with `UNKNOWN_FRAME`.
    pub unknown_answers: u64,
    /// `SendAck`s.
    pub acked: u64,
    /// `Error` answers with `RATE_LIMITED`.
    pub limited: u64,
    /// Smallest and largest `retry_after_ms` of the `RATE_LIMITED` answers.
    pub retry_after_ms: Option<(u32, u32)>,
    /// `Error` answers with any other code.
    pub other_errors: u64,
    /// The message of the first of those.
    pub first_other_error: Option<String>,
    /// Pushes to the flooding connection (Tidings pushes a sender's own
    /// inbox entries to it).
    pub pushes: u64,
    /// Frames other than answers, pushes and the closing pong.
    pub other_frames: u64,
    /// The connection answered a ping after the flood and was never closed.
    pub kept: bool,
    /// How the connection ended, when it did: the server's close frame and
    /// last error, or the failure seen.
    pub ended: Option<String>,
}

impl FloodOutcome {
    pub fn sent(&self) -> u64 {
        self.malformed_sent + self.unknown_sent + self.sends_sent
    }

    /// Answers to flood frames: errors of any code, and acks.
    pub fn answers(&self) -> u64 {
        self.malformed_answers
            + self.unknown_answers
            + self.acked
            + self.limited
            + self.other_errors
    }

    /// Frames written per second of flooding.
    pub fn achieved_per_second(&self) -> f64 {
        per_second(self.sent(), self.sending)
    }

    /// Acks per second of flooding: what the server took.
    pub fn acked_per_second(&self) -> f64 {
        per_second(self.acked, self.sending)
    }

    /// Flood frames that got no answer by the end.
    pub fn unanswered(&self) -> u64 {
        self.sent().saturating_sub(self.answers())
    }
}

/// An authenticated connection ready to flood.
pub struct Flooder {
    socket: WsStream,
    user: String,
}

impl Flooder {
    /// Connects and authenticates as `user` (unique on the server).
    pub async fn connect(url: &str, user: &str) -> anyhow::Result<Flooder> {
        let socket = connection::open(url, user).await?;
        Ok(Flooder {
            socket,
            user: user.to_string(),
        })
    }

    /// Starts flooding `frames` at `rate` frames per second (at least 1).
    pub fn start(self, frames: Frames, rate: u64) -> Flood {
        let source = match frames {
            Frames::Garbage => Source::Garbage {
                pool: GarbagePool::new(POOL, SEED),
                next: 0,
            },
            Frames::Sends { conversation_id } => Source::Sends {
                conversation_id,
                prefix: self.user,
                next: 0,
            },
        };
        let (sink, stream) = self.socket.split();
        let (stop_writer, writer_stopped) = oneshot::channel();
        let (stop_reader, reader_stopped) = oneshot::channel();
        let (ponged, pong) = oneshot::channel();
        Flood {
            rate,
            stop_writer,
            stop_reader,
            writer: tokio::spawn(write(sink, source, rate.max(1), writer_stopped)),
            reader: tokio::spawn(read(stream, ponged, reader_stopped)),
            pong,
        }
    }
}

/// A flood under way; dropping it stops both of its tasks.
pub struct Flood {
    rate: u64,
    stop_writer: oneshot::Sender<()>,
    stop_reader: oneshot::Sender<(u64, Instant)>,
    writer: JoinHandle<WriterEnd>,
    reader: JoinHandle<ReaderEnd>,
    pong: oneshot::Receiver<()>,
}

impl Flood {
    /// Stops sending, pings the server, and waits up to `answer_wait` for
    /// the pong and for an answer to every frame written. Garbage is
    /// answered in the order it was read, ahead of the ping; sends may be
    /// acked after it.
    pub async fn stop(self, answer_wait: Duration) -> anyhow::Result<FloodOutcome> {
        let _ = self.stop_writer.send(());
        let mut writer = self.writer.await.context("flood writer")?;
        let deadline = Instant::now() + answer_wait;
        let ping = wire::client_message(
            PING_REQUEST,
            client_frame::Frame::Ping(Ping {
                nonce: PING_REQUEST,
            }),
        );
        let pinged = writer.failed.is_none()
            && matches!(
                tokio::time::timeout_at(deadline, writer.sink.send(ping)).await,
                Ok(Ok(()))
            );
        let ponged = pinged
            && matches!(
                tokio::time::timeout_at(deadline, self.pong).await,
                Ok(Ok(()))
            );
        let _ = self.stop_reader.send((writer.sent.total(), deadline));
        let reader = self.reader.await.context("flood reader")?;
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.sink.close()).await;

        let ended = reader.ended.or(writer.failed).or_else(|| {
            (!ponged).then(|| format!("no pong within {answer_wait:?} after the flood"))
        });
        let a = reader.answers;
        Ok(FloodOutcome {
            rate: self.rate,
            malformed_sent: writer.sent.malformed,
            unknown_sent: writer.sent.unknown,
            sends_sent: writer.sent.sends,
            sending: writer.sending,
            longest_stall: writer.longest_stall,
            malformed_answers: a.malformed,
            unknown_answers: a.unknown,
            acked: a.acked,
            limited: a.limited,
            retry_after_ms: a.retry_after_ms,
            other_errors: a.other_errors,
            first_other_error: a.first_other_error,
            pushes: a.pushes,
            other_frames: a.other_frames,
            kept: ponged && ended.is_none(),
            ended,
        })
    }
}

/// Where the writer takes its frames from.
enum Source {
    Garbage {
        pool: GarbagePool,
        next: usize,
    },
    Sends {
        conversation_id: String,
        prefix: String,
        next: u64,
    },
}

impl Source {
    /// The next frame, counted in `sent`.
    // `.into()`: the generated body field is `Vec<u8>` today and may become
    // `Bytes`; this compiles with either.
    #[allow(clippy::useless_conversion)]
    fn next(&mut self, sent: &mut Sent) -> Bytes {
        match self {
            Source::Garbage { pool, next } => {
                let (frame, unknown) = pool.frame(*next);
                *next = next.wrapping_add(1);
                if unknown {
                    sent.unknown += 1;
                } else {
                    sent.malformed += 1;
                }
                frame
            }
            Source::Sends {
                conversation_id,
                prefix,
                next,
            } => {
                *next += 1;
                sent.sends += 1;
                let frame = ClientFrame {
                    request_id: *next,
                    frame: Some(client_frame::Frame::Send(Send {
                        conversation_id: conversation_id.clone(),
                        client_msg_id: format!("{prefix}-{next}"),
                        kind: "text".to_string(),
                        body: vec![b'f'; BODY_BYTES].into(),
                    })),
                };
                frame.encode_to_vec().into()
            }
        }
    }
}

/// Frames written, by kind.
#[derive(Default)]
struct Sent {
    malformed: u64,
    unknown: u64,
    sends: u64,
}

impl Sent {
    fn total(&self) -> u64 {
        self.malformed + self.unknown + self.sends
    }
}

struct WriterEnd {
    sink: SplitSink<WsStream, WsMessage>,
    sent: Sent,
    sending: Duration,
    longest_stall: Duration,
    failed: Option<String>,
}

/// Sends the frames due every [`TICK`] until `stopped`; returns the sink so
/// the connection stays open for the closing ping.
async fn write(
    mut sink: SplitSink<WsStream, WsMessage>,
    mut source: Source,
    rate: u64,
    mut stopped: oneshot::Receiver<()>,
) -> WriterEnd {
    let max_credit = (rate as f64 / 10.0).max(1.0);
    let mut sent = Sent::default();
    let mut longest_stall = Duration::ZERO;
    let mut failed = None;
    let started = Instant::now();
    let mut refilled = started;
    // Starts full so the first tick sends at once.
    let mut credit = 1.0_f64;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        credit = (credit + rate as f64 * (now - refilled).as_secs_f64()).min(max_credit);
        refilled = now;
        let burst = credit.floor();
        if burst < 1.0 {
            continue;
        }
        credit -= burst;
        let written = tokio::select! {
            biased;
            _ = &mut stopped => break,
            written = send_burst(&mut sink, &mut source, burst as u64, &mut sent) => written,
        };
        longest_stall = longest_stall.max(now.elapsed());
        if let Err(e) = written {
            failed = Some(format!("sending the flood failed: {e}"));
            break;
        }
    }
    WriterEnd {
        sink,
        sent,
        sending: started.elapsed(),
        longest_stall,
        failed,
    }
}

/// Writes `burst` frames of `source`, with one flush.
async fn send_burst(
    sink: &mut SplitSink<WsStream, WsMessage>,
    source: &mut Source,
    burst: u64,
    sent: &mut Sent,
) -> Result<(), tungstenite::Error> {
    for _ in 0..burst {
        let frame = source.next(sent);
        sink.feed(WsMessage::Binary(frame)).await?;
    }
    sink.flush().await
}

/// Answers counted by the reader.
#[derive(Default)]
struct Answers {
    malformed: u64,
    unknown: u64,
    acked: u64,
    limited: u64,
    retry_after_ms: Option<(u32, u32)>,
    other_errors: u64,
    first_other_error: Option<String>,
    pushes: u64,
    other_frames: u64,
}

impl Answers {
    fn total(&self) -> u64 {
        self.malformed + self.unknown + self.acked + self.limited + self.other_errors
    }

    fn count(&mut self, frame: Option<In>) {
        match frame {
            Some(In::Error(error)) => match ErrorCode::try_from(error.code) {
                Ok(ErrorCode::MalformedFrame) => self.malformed += 1,
                Ok(ErrorCode::UnknownFrame) => self.unknown += 1,
                Ok(ErrorCode::RateLimited) => {
                    self.limited += 1;
                    let ms = error.retry_after_ms;
                    self.retry_after_ms = Some(match self.retry_after_ms {
                        Some((low, high)) => (low.min(ms), high.max(ms)),
                        None => (ms, ms),
                    });
                }
                _ => {
                    self.other_errors += 1;
                    self.first_other_error.get_or_insert(error.message);
                }
            },
            Some(In::SendAck(_)) => self.acked += 1,
            Some(In::Push(_)) => self.pushes += 1,
            _ => self.other_frames += 1,
        }
    }
}

/// What the flooding connection received.
#[derive(Default)]
struct ReaderEnd {
    answers: Answers,
    ended: Option<String>,
}

/// Counts every answer until the server ends the connection, or, once
/// `stopped` says how many frames were written and until when to wait,
/// until that many are answered or the wait is over; signals `ponged` when
/// the closing ping is answered.
async fn read(
    mut stream: SplitStream<WsStream>,
    ponged: oneshot::Sender<()>,
    mut stopped: oneshot::Receiver<(u64, Instant)>,
) -> ReaderEnd {
    let mut end = ReaderEnd::default();
    let mut ponged = Some(ponged);
    // The error the server sends before it closes a connection says why.
    let mut last_word = None;
    let mut expected = None;
    let wait = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(wait);
    loop {
        if expected.is_some_and(|n| end.answers.total() >= n) {
            break;
        }
        let message = tokio::select! {
            biased;
            stop = &mut stopped, if expected.is_none() => match stop {
                Ok((written, deadline)) => {
                    expected = Some(written);
                    wait.as_mut().reset(deadline);
                    continue;
                }
                Err(_) => break,
            },
            _ = &mut wait, if expected.is_some() => break,
            message = stream.next() => message,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                end.ended = Some(format!("connection failed: {e}"));
                break;
            }
            None => {
                end.ended = Some("the connection ended without a close frame".to_string());
                break;
            }
        };
        if let WsMessage::Close(close) = &message {
            let close = close.as_ref().map_or("no code".to_string(), |f| {
                format!("{} {}", u16::from(f.code), f.reason)
            });
            end.ended = Some(match &last_word {
                Some(why) => format!("closed by the server ({close}): {why}"),
                None => format!("closed by the server ({close})"),
            });
            break;
        }
        let Incoming::Frame(frame) = wire::decode::<ServerFrame>(&message) else {
            continue;
        };
        match frame.frame {
            Some(In::Pong(_)) if frame.request_id == PING_REQUEST => {
                if let Some(ponged) = ponged.take() {
                    let _ = ponged.send(());
                }
            }
            Some(In::Error(error)) if !error.connection_kept => {
                last_word = Some(error.message.clone());
                end.answers.count(Some(In::Error(error)));
            }
            other => end.answers.count(other),
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_proto::client::v1::{Error, SendAck};

    #[test]
    fn send_frames_are_valid_sends_with_fresh_ids() {
        let mut source = Source::Sends {
            conversation_id: "dm:a:b".to_string(),
            prefix: "a".to_string(),
            next: 0,
        };
        let mut sent = Sent::default();
        let ids: Vec<(u64, String)> = (0..3)
            .map(|_| {
                let frame = ClientFrame::decode(source.next(&mut sent).as_ref()).expect("valid");
                let Some(client_frame::Frame::Send(send)) = frame.frame else {
                    panic!("a send");
                };
                assert_eq!(send.conversation_id, "dm:a:b");
                assert_eq!(send.body.len(), BODY_BYTES);
                (frame.request_id, send.client_msg_id)
            })
            .collect();
        assert_eq!(
            ids,
            [(1, "a-1".into()), (2, "a-2".into()), (3, "a-3".into())]
        );
        assert_eq!((sent.sends, sent.total()), (3, 3));
    }

    #[test]
    fn answers_are_counted_by_kind_with_the_retry_range() {
        let mut answers = Answers::default();
        let error = |code: ErrorCode, retry_after_ms| {
            Some(In::Error(Error {
                code: code as i32,
                retry_after_ms,
                connection_kept: true,
                ..Error::default()
            }))
        };
        answers.count(Some(In::SendAck(SendAck::default())));
        answers.count(error(ErrorCode::RateLimited, 3));
        answers.count(error(ErrorCode::RateLimited, 1));
        answers.count(error(ErrorCode::MalformedFrame, 0));
        answers.count(error(ErrorCode::Internal, 0));
        answers.count(None);
        assert_eq!((answers.acked, answers.limited), (1, 2));
        assert_eq!(answers.retry_after_ms, Some((1, 3)));
        assert_eq!((answers.malformed, answers.other_errors), (1, 1));
        assert_eq!((answers.other_frames, answers.total()), (1, 5));
    }
}
