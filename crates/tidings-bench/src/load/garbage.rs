//! A flooding connection: after `Hello` it sends binary WebSocket frames that
//! are not valid requests at a fixed rate, and reads every answer, so the
//! end-to-end benchmark can measure what one misbehaving client costs the
//! others.
//!
//! Nine frames in ten are random bytes that do not decode as a `ClientFrame`
//! (the server answers `MALFORMED_FRAME`); the tenth is a well-formed
//! `ClientFrame` carrying only a field number no server knows (answered
//! `UNKNOWN_FRAME`), as a client built against a newer protocol would send.
//! The frames come from a pool built once from a fixed seed, so the flooder
//! spends its CPU on sending rather than on generating, and every run sends
//! the same bytes.
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
use prost::encoding::{WireType, encode_key, encode_varint};
use tidings_proto::client::v1::{
    ClientFrame, ErrorCode, Ping, ServerFrame, client_frame, server_frame::Frame as In,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use super::connection::{self, WsStream};
use crate::latency::per_second;
use crate::wire::{self, Incoming};

/// How often the writer refills its bucket and sends what is due: at
/// 10,000 frames/s, bursts of about ten, few enough wake-ups to leave the
/// shared cores to the server and the measured clients.
const TICK: Duration = Duration::from_millis(1);

/// Distinct frames in the pool the flood cycles through.
const POOL: usize = 1_000;

/// One frame in this many is a valid `ClientFrame` of an unknown type.
const UNKNOWN_EVERY: usize = 10;

/// A field number no `ClientFrame` of this protocol uses (its frame types
/// are 10 to 26): what a frame type added in a later version looks like to
/// this server.
const UNKNOWN_FIELD: u32 = 999;

/// Request id of the ping that checks the connection after the flood.
const PING_REQUEST: u64 = u64::MAX - 1;

/// Seed of the frame pool: the same garbage in every run.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// What the server answered and whether it kept the connection.
#[derive(Debug, Clone, Default)]
pub struct FloodOutcome {
    /// Offered rate, frames per second.
    pub rate: u64,
    /// Random-byte frames written.
    pub malformed_sent: u64,
    /// Valid frames of an unknown type written.
    pub unknown_sent: u64,
    /// From the first frame to the end of the flood.
    pub sending: Duration,
    /// The longest time one burst took to be written: how long the server's
    /// backpressure held the writer at most.
    pub longest_stall: Duration,
    /// `Error` answers with `MALFORMED_FRAME`.
    pub malformed_answers: u64,
    /// `Error` answers with `UNKNOWN_FRAME`.
    pub unknown_answers: u64,
    /// `Error` answers with any other code.
    pub other_errors: u64,
    /// Frames other than errors and the closing pong (pushes, say).
    pub other_frames: u64,
    /// The connection answered a ping after the flood and was never closed.
    pub kept: bool,
    /// How the connection ended, when it did: the server's close frame and
    /// last error, or the failure seen.
    pub ended: Option<String>,
}

impl FloodOutcome {
    pub fn sent(&self) -> u64 {
        self.malformed_sent + self.unknown_sent
    }

    /// Error answers to garbage frames.
    pub fn answers(&self) -> u64 {
        self.malformed_answers + self.unknown_answers + self.other_errors
    }

    /// Frames written per second of flooding.
    pub fn achieved_per_second(&self) -> f64 {
        per_second(self.sent(), self.sending)
    }

    /// Garbage frames that got no answer by the end.
    pub fn unanswered(&self) -> u64 {
        self.sent().saturating_sub(self.answers())
    }
}

/// An authenticated connection ready to flood.
pub struct Flooder {
    socket: WsStream,
}

impl Flooder {
    /// Connects and authenticates as `user` (unique on the server).
    pub async fn connect(url: &str, user: &str) -> anyhow::Result<Flooder> {
        let socket = connection::open(url, user).await?;
        Ok(Flooder { socket })
    }

    /// Starts flooding at `rate` frames per second (at least 1).
    pub fn start(self, rate: u64) -> Flood {
        let (sink, stream) = self.socket.split();
        let (stop_writer, writer_stopped) = oneshot::channel();
        let (stop_reader, reader_stopped) = oneshot::channel();
        let (ponged, pong) = oneshot::channel();
        Flood {
            rate,
            stop_writer,
            stop_reader,
            writer: tokio::spawn(write(sink, rate.max(1), writer_stopped)),
            reader: tokio::spawn(read(stream, ponged, reader_stopped)),
            pong,
        }
    }
}

/// A flood under way; dropping it stops both of its tasks.
pub struct Flood {
    rate: u64,
    stop_writer: oneshot::Sender<()>,
    stop_reader: oneshot::Sender<()>,
    writer: JoinHandle<WriterEnd>,
    reader: JoinHandle<ReaderEnd>,
    pong: oneshot::Receiver<()>,
}

impl Flood {
    /// Stops sending, then pings the server and waits up to `answer_wait`
    /// for the pong: the server answers garbage in the order it reads it,
    /// ahead of the ping, so once the pong is in so is every answer.
    pub async fn stop(self, answer_wait: Duration) -> anyhow::Result<FloodOutcome> {
        let _ = self.stop_writer.send(());
        let mut writer = self.writer.await.context("garbage writer")?;
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
        let _ = self.stop_reader.send(());
        let reader = self.reader.await.context("garbage reader")?;
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.sink.close()).await;

        let ended = reader.ended.or(writer.failed).or_else(|| {
            (!ponged).then(|| format!("no pong within {answer_wait:?} after the flood"))
        });
        Ok(FloodOutcome {
            rate: self.rate,
            malformed_sent: writer.sent.malformed,
            unknown_sent: writer.sent.unknown,
            sending: writer.sending,
            longest_stall: writer.longest_stall,
            malformed_answers: reader.malformed,
            unknown_answers: reader.unknown,
            other_errors: reader.other_errors,
            other_frames: reader.other_frames,
            kept: ponged && ended.is_none(),
            ended,
        })
    }
}

/// Garbage frames written, by kind.
#[derive(Default)]
struct Sent {
    malformed: u64,
    unknown: u64,
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
    rate: u64,
    mut stopped: oneshot::Receiver<()>,
) -> WriterEnd {
    let pool = GarbagePool::new(POOL, SEED);
    let max_credit = (rate as f64 / 10.0).max(1.0);
    let mut sent = Sent::default();
    let mut next = 0_usize;
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
            written = send_burst(&mut sink, &pool, &mut next, burst as u64, &mut sent) => written,
        };
        longest_stall = longest_stall.max(now.elapsed());
        if let Err(e) = written {
            failed = Some(format!("sending garbage failed: {e}"));
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

/// Writes `burst` frames of the pool from `next` on, with one flush.
async fn send_burst(
    sink: &mut SplitSink<WsStream, WsMessage>,
    pool: &GarbagePool,
    next: &mut usize,
    burst: u64,
    sent: &mut Sent,
) -> Result<(), tungstenite::Error> {
    for _ in 0..burst {
        let (frame, unknown) = pool.frame(*next);
        *next = next.wrapping_add(1);
        sink.feed(WsMessage::Binary(frame)).await?;
        if unknown {
            sent.unknown += 1;
        } else {
            sent.malformed += 1;
        }
    }
    sink.flush().await
}

/// What the flooding connection received.
#[derive(Default)]
struct ReaderEnd {
    malformed: u64,
    unknown: u64,
    other_errors: u64,
    other_frames: u64,
    ended: Option<String>,
}

/// Counts every answer until `stopped`, or until the server ends the
/// connection; signals `ponged` when the closing ping is answered.
async fn read(
    mut stream: SplitStream<WsStream>,
    ponged: oneshot::Sender<()>,
    mut stopped: oneshot::Receiver<()>,
) -> ReaderEnd {
    let mut end = ReaderEnd::default();
    let mut ponged = Some(ponged);
    // The error the server sends before it closes a connection says why.
    let mut last_word = None;
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut stopped => break,
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
            Some(In::Error(error)) => {
                match ErrorCode::try_from(error.code) {
                    Ok(ErrorCode::MalformedFrame) => end.malformed += 1,
                    Ok(ErrorCode::UnknownFrame) => end.unknown += 1,
                    _ => end.other_errors += 1,
                }
                if !error.connection_kept {
                    last_word = Some(error.message);
                }
            }
            Some(In::Pong(_)) if frame.request_id == PING_REQUEST => {
                if let Some(ponged) = ponged.take() {
                    let _ = ponged.send(());
                }
            }
            _ => end.other_frames += 1,
        }
    }
    end
}

/// The frames a flood cycles through, each with whether it is a valid frame
/// of an unknown type.
struct GarbagePool {
    frames: Vec<(Bytes, bool)>,
}

impl GarbagePool {
    fn new(size: usize, seed: u64) -> GarbagePool {
        let mut random = XorShift(seed | 1);
        let frames = (0..size.max(1))
            .map(|i| {
                if i % UNKNOWN_EVERY == UNKNOWN_EVERY - 1 {
                    (unknown_frame(i as u64 + 1, &mut random), true)
                } else {
                    (malformed_frame(&mut random), false)
                }
            })
            .collect();
        GarbagePool { frames }
    }

    fn frame(&self, index: usize) -> (Bytes, bool) {
        let (frame, unknown) = &self.frames[index % self.frames.len()];
        (frame.clone(), *unknown)
    }
}

/// 16 to 255 random bytes that do not decode as a `ClientFrame`; most
/// random bytes do not, the few that do are drawn again.
fn malformed_frame(random: &mut XorShift) -> Bytes {
    loop {
        let len = 16 + (random.next() % 240) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
        if ClientFrame::decode(bytes.as_slice()).is_err() {
            return bytes.into();
        }
    }
}

/// A `ClientFrame` with `request_id` and only [`UNKNOWN_FIELD`], holding a
/// few random bytes.
fn unknown_frame(request_id: u64, random: &mut XorShift) -> Bytes {
    let mut bytes = ClientFrame {
        request_id,
        frame: None,
    }
    .encode_to_vec();
    let payload: Vec<u8> = (0..8 + random.next() % 56)
        .map(|_| random.next() as u8)
        .collect();
    encode_key(UNKNOWN_FIELD, WireType::LengthDelimited, &mut bytes);
    encode_varint(payload.len() as u64, &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes.into()
}

/// xorshift64: reproducible garbage without a dependency for it.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_undecodable_bytes_and_frames_of_an_unknown_type() {
        let pool = GarbagePool::new(100, SEED);
        let mut unknown = 0;
        for i in 0..100 {
            let (bytes, is_unknown) = pool.frame(i);
            let decoded = ClientFrame::decode(bytes.as_ref());
            if is_unknown {
                unknown += 1;
                let frame = decoded.expect("a valid ClientFrame");
                assert_eq!(frame.frame, None, "no frame type this server knows");
                assert_eq!(frame.request_id, i as u64 + 1);
            } else {
                assert!(decoded.is_err(), "frame {i} decodes");
            }
        }
        assert_eq!(unknown, 100 / UNKNOWN_EVERY);
        let again = GarbagePool::new(100, SEED);
        assert_eq!(pool.frame(7), again.frame(7), "same seed, same garbage");
    }
}
