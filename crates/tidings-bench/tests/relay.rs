//! The relay over real sockets: the protocol subset a client sees (hello,
//! send, push, ping, the errors), and the load generator driving it in both
//! loop shapes with every message counted. Never how fast.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tidings_bench::load::body::Stamp;
use tidings_bench::load::{Live, LoadSpec, Pairs, Shape, WsStream, connection};
use tidings_bench::relay;
use tidings_bench::wire::{self, Incoming};
use tidings_proto::client::v1::{
    ErrorCode, Ping, Send, ServerFrame, client_frame::Frame as Out, server_frame::Frame as In,
};

async fn start_relay() -> String {
    let (addr, _task) = relay::spawn(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("relay binds");
    format!("ws://{addr}/ws")
}

/// The next frame on `socket`, within 5 s.
async fn next_frame(socket: &mut WsStream) -> ServerFrame {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("connection open")
            .expect("frame read");
        if let Incoming::Frame(frame) = wire::decode::<ServerFrame>(&message) {
            return frame;
        }
    }
}

// `.into()`: the generated body field is `Vec<u8>` today and may become
// `Bytes`; this compiles with either.
#[allow(clippy::useless_conversion)]
fn send(conversation: &str, client_msg_id: &str, body: &[u8]) -> Out {
    Out::Send(Send {
        conversation_id: conversation.to_string(),
        client_msg_id: client_msg_id.to_string(),
        kind: "text".to_string(),
        body: body.to_vec().into(),
    })
}

#[tokio::test]
async fn relay_acks_the_sender_and_pushes_to_every_connection_of_the_other_member() {
    let url = start_relay().await;
    let mut alice = connection::open(&url, "alice").await.expect("alice");
    let mut bob = connection::open(&url, "bob").await.expect("bob");
    let mut bob_phone = connection::open(&url, "bob").await.expect("bob again");
    let conversation = wire::dm("bob", "alice");

    alice
        .send(wire::client_message(7, Out::Ping(Ping { nonce: 42 })))
        .await
        .unwrap();
    let pong = next_frame(&mut alice).await;
    assert_eq!(pong.request_id, 7);
    assert_eq!(
        pong.frame,
        Some(In::Pong(tidings_proto::client::v1::Pong { nonce: 42 }))
    );

    for (request_id, body) in [(11_u64, &b"first"[..]), (12, &b"second"[..])] {
        alice
            .send(wire::client_message(
                request_id,
                send(&conversation, &format!("m{request_id}"), body),
            ))
            .await
            .unwrap();
        let ack = next_frame(&mut alice).await;
        assert_eq!(ack.request_id, request_id);
        let Some(In::SendAck(ack)) = ack.frame else {
            panic!("a send ack, got {ack:?}");
        };
        assert_eq!(ack.conversation_id, conversation);
        for device in [&mut bob, &mut bob_phone] {
            let push = next_frame(device).await;
            assert_eq!(push.request_id, 0);
            let Some(In::Push(push)) = push.frame else {
                panic!("a push, got {push:?}");
            };
            let entry = push.entry.expect("an inbox entry");
            assert_eq!(entry.seq, request_id - 10, "per-user inbox seq");
            assert_eq!(entry.conv_seq, ack.conv_seq);
            let message = entry.message.expect("the message");
            assert_eq!(message.message_id, ack.message_id);
            assert_eq!(message.sender_id, "alice");
            assert_eq!(message.client_msg_id, format!("m{request_id}"));
            assert_eq!(&message.body[..], body);
        }
    }

    alice
        .send(wire::client_message(
            20,
            send("dm:carol:dave", "x", b"not mine"),
        ))
        .await
        .unwrap();
    let refused = next_frame(&mut alice).await;
    assert_eq!(refused.request_id, 20);
    let Some(In::Error(error)) = refused.frame else {
        panic!("an error, got {refused:?}");
    };
    assert_eq!(error.code, ErrorCode::NotMember as i32);
    assert!(error.connection_kept);
}

#[tokio::test]
async fn relay_refuses_frames_before_hello() {
    let url = start_relay().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connects");
    socket
        .send(wire::client_message(3, Out::Ping(Ping { nonce: 1 })))
        .await
        .unwrap();
    let refused = next_frame(&mut socket).await;
    assert_eq!(refused.request_id, 3);
    let Some(In::Error(error)) = refused.frame else {
        panic!("an error, got {refused:?}");
    };
    assert_eq!(error.code, ErrorCode::Unauthenticated as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_counts_every_message_in_both_loop_shapes() {
    let url = start_relay().await;
    for (tag, shape) in [
        ("closed", Shape::Closed { window: 4 }),
        (
            "open",
            Shape::Open {
                rate: 400.0,
                max_in_flight: 16,
            },
        ),
    ] {
        let pairs = Pairs::connect(&url, 3, tag, 4)
            .await
            .expect("pairs connect");
        assert_eq!(pairs.len(), 3);
        let spec = LoadSpec {
            shape,
            duration: Duration::from_millis(300),
            max_messages: 40,
            drain: Duration::from_secs(5),
        };
        let live = Arc::new(Live::default());
        let outcome = pairs.drive(&spec, live.clone()).await.expect("load runs");
        assert!(outcome.sent > 0, "{tag}: {outcome:?}");
        assert_eq!(outcome.acked, outcome.sent, "{tag}: {outcome:?}");
        assert_eq!(outcome.delivered, outcome.sent, "{tag}: {outcome:?}");
        assert_eq!(
            (outcome.lost, outcome.duplicates, outcome.failed),
            (0, 0, 0)
        );
        assert_eq!(outcome.latency.summary().samples, outcome.delivered);
        assert_eq!(outcome.ack_latency.summary().samples, outcome.acked);
        assert_eq!(outcome.echoes, 0, "the relay pushes to the receiver only");
        assert!(outcome.delivered_per_second() > 0.0);
        assert_eq!(
            live.delivered.load(std::sync::atomic::Ordering::Relaxed),
            outcome.delivered
        );
    }
}

#[test]
fn bodies_carry_the_stamp_the_receivers_time() {
    let body = Stamp {
        sender: 1,
        number: 2,
        due: Duration::from_millis(3),
    }
    .encode();
    assert_eq!(body.len(), 64);
    assert_eq!(Stamp::decode(&body).map(|s| s.number), Some(2));
}
