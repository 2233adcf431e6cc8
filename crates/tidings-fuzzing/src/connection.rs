//! The connection state machine target: a [`Script`] played over a real
//! WebSocket against the process's all-in-one server, then checked (see
//! `oracle`), then a fresh connection that must still hello and send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tidings_proto::client::v1::{
    self as client, ClientFrame, ServerFrame, client_frame::Frame as In, server_frame::Frame as Out,
};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::{self, Harness};
use crate::oracle::{self, Received};
use crate::plan::{self, Outgoing};
use crate::script::{Ending, Script};

/// Longest wait for a connection to open.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for every answer of a script: far above any answer's
/// latency, so that only a request that is never answered reaches it.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Set (to anything) to print each script and what its connection received.
pub const TRACE_VAR: &str = "TIDINGS_FUZZ_TRACE";

/// Plays the script `bytes` stand for; panics on any broken promise.
pub fn run_bytes(bytes: &[u8]) {
    run(&Script::from_bytes(bytes));
}

/// Plays `script`; panics, naming the script, on any broken promise, on a
/// server panic, and when a fresh connection no longer works afterwards.
pub fn run(script: &Script) {
    let harness = harness::get();
    let result = harness.runtime.block_on(async {
        play(harness, script).await?;
        probe(harness).await
    });
    let panics = harness::server_panics();
    assert_eq!(
        panics, 0,
        "a server thread panicked ({panics} so far in this process); last script: {script:#?}"
    );
    if let Err(why) = result {
        panic!("{why}\nscript: {script:#?}");
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(harness: &Harness) -> Result<Socket, String> {
    // Without Nagle's algorithm, as the SDK connects: pipelined small frames
    // otherwise wait for the server's delayed acks.
    let connecting = tokio_tungstenite::connect_async_with_config(&harness.url, None, true);
    let (socket, _) = timeout(CONNECT_WAIT, connecting)
        .await
        .map_err(|_| format!("no connection to {} within {CONNECT_WAIT:?}", harness.url))?
        .map_err(|e| format!("cannot connect to {}: {e}", harness.url))?;
    Ok(socket)
}

async fn play(harness: &Harness, script: &Script) -> Result<(), String> {
    let plan = plan::plan(script, harness.limits);
    let socket = connect(harness).await?;
    let (mut sink, mut stream) = socket.split();
    let (done_tx, mut done_rx) = watch::channel(false);
    let expected_answers = plan
        .iter()
        .filter(|o| !matches!(o.expect, plan::Expect::Nothing))
        .count();

    // The client sends and reads at once, as a real one does: a client that
    // only sends would stall on the server's back-pressure.
    let sender = async {
        let mut sent = 0;
        for Outgoing { message, .. } in &plan {
            if sink.send(message.clone()).await.is_err() {
                break;
            }
            sent += 1;
        }
        if script.ending == Ending::Close {
            let _ = sink.send(WsMessage::Close(None)).await;
        }
        let _ = done_tx.send(true);
        (sent, sink)
    };
    let reader = async {
        let mut received = Received::default();
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            let done = *done_rx.borrow();
            if done {
                match script.ending {
                    Ending::Drop => break,
                    Ending::AwaitAnswers if received.answers() >= expected_answers => break,
                    Ending::AwaitAnswers | Ending::Close => {}
                }
            }
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(message)) => take(&mut received, message),
                    Some(Err(_)) | None => {
                        received.ended_by_server = script.ending != Ending::Close || !done;
                        break;
                    }
                },
                _ = done_rx.changed(), if !done => {}
                _ = tokio::time::sleep_until(deadline) => {
                    received.timed_out = true;
                    break;
                }
            }
        }
        received
    };
    let ((sent, mut sink), received) = tokio::join!(sender, reader);
    if script.ending == Ending::AwaitAnswers {
        let _ = sink.close().await;
    }
    // `Ending::Drop` leaves here, without a close frame.
    drop((sink, stream));
    if std::env::var_os(TRACE_VAR).is_some() {
        eprintln!(
            "script: {script:#?}\nsent {sent} of {}\nreceived: {received:#?}",
            plan.len()
        );
    }
    if script.ending == Ending::Close && received.timed_out {
        return Err(format!(
            "the server did not end the connection within {ANSWER_WAIT:?} of the client's close"
        ));
    }
    oracle::check(&plan, sent, script.ending, &received, harness.limits)
}

fn take(received: &mut Received, message: WsMessage) {
    match message {
        WsMessage::Binary(bytes) => match ServerFrame::decode(bytes) {
            Ok(frame) => received.frames.push(frame),
            Err(e) => received
                .not_frames
                .push(format!("a binary message that does not decode ({e})")),
        },
        WsMessage::Close(frame) => {
            received.close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
        }
        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
        WsMessage::Text(text) => received
            .not_frames
            .push(format!("a text message {:?}", text.as_str())),
    }
}

/// Distinct keys for the probes' sends, so each one stores a message.
static PROBES: AtomicU64 = AtomicU64::new(0);

/// A fresh connection still authenticates and sends: the server as a whole
/// survived the script, not just the next socket accept.
async fn probe(harness: &Harness) -> Result<(), String> {
    let mut socket = connect(harness).await?;
    let n = PROBES.fetch_add(1, Ordering::Relaxed);
    let requests = [
        In::Hello(client::Hello {
            token: "dev:fz-probe".into(),
            device_id: "probe".into(),
            ..Default::default()
        }),
        In::Send(client::Send {
            conversation_id: "dm:fz-probe:fz-probe".into(),
            client_msg_id: format!("probe-{}-{n}", std::process::id()),
            kind: "text".into(),
            body: b"still here".to_vec(),
        }),
    ];
    for (id, frame) in (1..).zip(requests) {
        let bytes = ClientFrame {
            request_id: id,
            frame: Some(frame),
        }
        .encode_to_vec();
        socket
            .send(WsMessage::Binary(bytes.into()))
            .await
            .map_err(|e| format!("probe: cannot send: {e}"))?;
        let answer = timeout(ANSWER_WAIT, next_answer(&mut socket, id))
            .await
            .map_err(|_| format!("probe: request {id} unanswered after {ANSWER_WAIT:?}"))??;
        match (id, answer) {
            (1, Out::Welcome(_)) | (2, Out::SendAck(_)) => {}
            (_, other) => return Err(format!("probe: request {id} got {other:?}")),
        }
    }
    let _ = socket.close(None).await;
    Ok(())
}

async fn next_answer(socket: &mut Socket, id: u64) -> Result<Out, String> {
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| format!("probe: connection failed: {e}"))?;
        let WsMessage::Binary(bytes) = message else {
            continue;
        };
        let frame = ServerFrame::decode(bytes).map_err(|e| format!("probe: {e}"))?;
        if frame.request_id == id {
            return frame
                .frame
                .ok_or_else(|| "probe: an empty answer".to_string());
        }
    }
    Err("probe: the connection ended".into())
}
