//! The SDK over a real socket against a scripted gateway (see `support`).

mod support;

use std::time::Duration;

use futures_util::future::join_all;
use tidings_client::proto::{ClientFrame, client_frame, server_frame};
use tidings_client::{ClientError, Connection, Device, Disconnect, dev_token};
use tidings_core::ErrorCode;

use support::{FakeGateway, PAGE_SIZE};

const WAIT: Duration = Duration::from_secs(5);

fn seqs(entries: &[tidings_client::InboxEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn concurrent_requests_get_their_own_answers() {
    let gateway = FakeGateway::start().await;
    let connection = Connection::connect(&gateway.url).await.unwrap();
    let nonces: Vec<u64> = (1..=40).collect();
    let pongs = join_all(nonces.iter().map(|&n| connection.ping(n))).await;
    let pongs: Vec<u64> = pongs.into_iter().map(Result::unwrap).collect();
    assert_eq!(pongs, nonces);
}

#[tokio::test]
async fn error_frames_answering_a_request_become_server_errors() {
    let gateway = FakeGateway::start().await;
    let connection = Connection::connect(&gateway.url).await.unwrap();
    let err = connection.history("dm:bob:carol", 0, 10).await.unwrap_err();
    let ClientError::Server {
        code,
        message,
        connection_kept,
        ..
    } = err
    else {
        panic!("expected a server error, got {err}");
    };
    assert_eq!(code, ErrorCode::NotMember);
    assert!(message.contains("dm:bob:carol"));
    assert!(connection_kept);
    assert_eq!(connection.ping(7).await.unwrap(), 7);
}

#[tokio::test]
async fn malformed_input_is_answered_on_request_id_zero() {
    let gateway = FakeGateway::start().await;
    let connection = Connection::connect(&gateway.url).await.unwrap();
    connection
        .send_raw_binary(vec![0xff, 0xff, 0xff])
        .await
        .unwrap();
    let frame = connection.next_frame(WAIT).await.unwrap();
    assert_eq!(frame.request_id, 0);
    assert!(matches!(frame.frame, Some(server_frame::Frame::Error(_))));

    connection.send_raw_text("{}").await.unwrap();
    let frame = connection.next_push(WAIT).await.unwrap();
    assert!(matches!(frame.frame, Some(server_frame::Frame::Error(_))));

    // A frame sent with a caller-chosen id is answered under that id.
    let ping = ClientFrame {
        request_id: 4242,
        frame: Some(client_frame::Frame::Ping(Default::default())),
    };
    connection.send_frame(&ping).await.unwrap();
    assert_eq!(connection.next_frame(WAIT).await.unwrap().request_id, 4242);
}

#[tokio::test]
async fn server_close_is_recorded_and_fails_later_requests() {
    let mut gateway = FakeGateway::start().await;
    let connection = Connection::connect(&gateway.url).await.unwrap();
    connection.ping(1).await.unwrap();
    gateway.close().await;
    let disconnect = connection.wait_closed(WAIT).await;
    assert!(matches!(disconnect, Some(Disconnect::ServerClosed { .. })));
    assert!(connection.is_closed());
    assert!(matches!(connection.ping(2).await, Err(ClientError::Closed)));
    assert!(matches!(
        connection.next_push(WAIT).await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn device_pulls_in_pages_then_follows_pushes_and_gaps() {
    let mut gateway = FakeGateway::start().await;
    {
        let mut inbox = gateway.inbox.lock().unwrap();
        for seq in [1, 2, 4, 5] {
            inbox.commit(seq, &format!("m{seq}"));
        }
        inbox.head = 6; // seq 3 and 6 were abandoned
    }
    let (mut device, welcome) = Device::connect(&gateway.url, &dev_token("alice"), "phone", 0)
        .await
        .unwrap();
    assert_eq!(welcome.user_id, "alice");
    assert_eq!(device.user_id(), "alice");

    let pulled = device.pull_all().await.unwrap();
    assert_eq!(seqs(&pulled.applied), [1, 2, 4, 5]);
    assert_eq!(pulled.pages, 4usize.div_ceil(PAGE_SIZE));
    assert!(!pulled.truncated);
    assert_eq!(device.checkpoint(), 6);
    assert_eq!(gateway.inbox.lock().unwrap().acked.last(), Some(&6));

    // Contiguous push: applied without a pull.
    let seven = gateway.inbox.lock().unwrap().commit(7, "m7");
    gateway.push(seven.clone()).await;
    assert_eq!(seqs(&device.next_push(WAIT).await.unwrap()), [7]);

    // The same push again is stale.
    gateway.push(seven).await;
    assert!(device.next_push(WAIT).await.unwrap().is_empty());

    // A push ahead of the checkpoint reveals a gap: the device pulls.
    let nine = {
        let mut inbox = gateway.inbox.lock().unwrap();
        inbox.commit(8, "m8");
        inbox.commit(9, "m9")
    };
    gateway.push(nine).await;
    assert_eq!(seqs(&device.next_push(WAIT).await.unwrap()), [8, 9]);
    assert_eq!(device.checkpoint(), 9);

    // A push running ahead of the head waits in the buffer until the head
    // reaches it, without another push.
    device.set_gap_retry(Duration::from_millis(20));
    let eleven = {
        let mut inbox = gateway.inbox.lock().unwrap();
        inbox.commit(10, "m10");
        let eleven = inbox.commit(11, "m11");
        inbox.head = 9;
        eleven
    };
    gateway.push(eleven).await;
    let inbox = gateway.inbox.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        inbox.lock().unwrap().head = 11;
    });
    let mut applied = Vec::new();
    while applied.len() < 2 {
        applied.extend(device.next_push(WAIT).await.unwrap());
    }
    assert_eq!(seqs(&applied), [10, 11]);
    assert_eq!(
        seqs(device.applied()),
        [1, 2, 4, 5, 7, 8, 9, 10, 11],
        "every message once, in order"
    );

    let err = device
        .next_push(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
}

#[tokio::test]
async fn device_reconnects_with_its_checkpoint() {
    let gateway = FakeGateway::start().await;
    gateway.inbox.lock().unwrap().commit(1, "m1");
    let (mut device, _) = Device::connect(&gateway.url, &dev_token("alice"), "phone", 0)
        .await
        .unwrap();
    device.pull_all().await.unwrap();
    device.close().await.unwrap();
    assert_eq!(
        device.connection().disconnect(),
        Some(Disconnect::ClientClosed)
    );

    gateway.inbox.lock().unwrap().commit(2, "m2");
    device.reconnect().await.unwrap();
    let pulled = device.pull_all().await.unwrap();
    assert_eq!(seqs(&pulled.applied), [2]);
    assert_eq!(seqs(device.applied()), [1, 2]);
}
