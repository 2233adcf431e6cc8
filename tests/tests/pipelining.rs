//! One connection with many requests in flight, and pushes under load: over
//! real WebSocket connections to the all-in-one.

use std::time::Duration;

use futures_util::future::join_all;
use tidings_client::proto::server_frame::Frame;
use tidings_client::{Device, PushOutcome};
use tidings_testkit::{TestServer, dm};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn sends_in_flight_on_one_connection_get_conv_seqs_in_send_order() {
    let server = TestServer::start().await;
    let alice = server.synced_device("alice", "a1").await;
    let conversation = dm("alice", "bob");
    for round in 0..4 {
        // 16 sends written back to back before any answer is awaited.
        let keys: Vec<String> = (0..16).map(|i| format!("r{round}-{i}")).collect();
        let sends = keys
            .iter()
            .map(|key| alice.send(&conversation, key, "text", key.clone()));
        let acks: Vec<_> = join_all(sends)
            .await
            .into_iter()
            .map(|ack| ack.expect("send acknowledged"))
            .collect();
        let seqs: Vec<u64> = acks.iter().map(|a| a.conv_seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "conv seqs must follow send order, got {seqs:?}"
        );
    }
    let stored = server.stored_messages(&conversation).await;
    let order: Vec<&str> = stored.iter().map(|m| m.client_msg_id.as_str()).collect();
    let expected: Vec<String> = (0..4)
        .flat_map(|r| (0..16).map(move |i| format!("r{r}-{i}")))
        .collect();
    assert_eq!(
        order, expected,
        "the store timeline holds them in send order"
    );
    server.shutdown().await;
}

/// What one receiving device saw.
#[derive(Debug, Default)]
struct Seen {
    pushes: usize,
    out_of_order: usize,
    pulls: usize,
    applied: Vec<String>,
}

/// Follows the device rules: a push at `checkpoint + 1` is applied, one
/// further ahead is buffered and triggers a pull, the pull fills the gap.
async fn follow(device: &mut Device, total: usize) -> Seen {
    let mut seen = Seen::default();
    let mut last_pushed = device.checkpoint();
    while seen.applied.len() < total {
        let frame = device
            .connection()
            .next_push(WAIT)
            .await
            .unwrap_or_else(|e| panic!("push after {} applied: {e}", seen.applied.len()));
        let Some(Frame::Push(push)) = frame.frame else {
            continue;
        };
        let entry = push.entry.expect("push carries its entry");
        seen.pushes += 1;
        if entry.seq != last_pushed + 1 {
            seen.out_of_order += 1;
        }
        last_pushed = last_pushed.max(entry.seq);
        let applied = match device.handle_push(entry) {
            PushOutcome::Applied(applied) => applied,
            PushOutcome::NeedsPull => {
                seen.pulls += 1;
                device.pull_all().await.expect("pull fills the gap").applied
            }
            PushOutcome::Stale => Vec::new(),
        };
        seen.applied.extend(
            applied
                .into_iter()
                .map(|e| e.message.expect("message inline").message_id),
        );
    }
    seen
}

#[tokio::test]
async fn pushes_to_one_user_under_load_arrive_in_inbox_seq_order() {
    const SENDERS: usize = 20;
    const EACH: usize = 50;
    let server = TestServer::start().await;
    let mut phone = server.synced_device("bob", "phone").await;
    let mut laptop = server.synced_device("bob", "laptop").await;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        senders.push(server.synced_device(&format!("s{s}"), "d").await);
    }
    let total = SENDERS * EACH;
    let receivers = tokio::spawn(async move {
        let (a, b) = tokio::join!(follow(&mut phone, total), follow(&mut laptop, total));
        (a, b)
    });
    let sending = senders.iter().enumerate().map(|(s, device)| async move {
        let conversation = dm(&format!("s{s}"), "bob");
        for i in 0..EACH {
            device
                .send(&conversation, &format!("m{i}"), "text", format!("{s}/{i}"))
                .await
                .expect("send acknowledged");
        }
    });
    join_all(sending).await;
    let (phone, laptop) = tokio::time::timeout(Duration::from_secs(120), receivers)
        .await
        .expect("both devices receive everything")
        .expect("receivers finish");
    for (name, seen) in [("phone", &phone), ("laptop", &laptop)] {
        let mut ids = seen.applied.clone();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total, "{name} applied every message once");
        println!(
            "{name}: {} pushes, {} out of inbox-seq order, {} pulls per {total} messages",
            seen.pushes, seen.out_of_order, seen.pulls
        );
        assert_eq!(
            seen.out_of_order, 0,
            "{name}: pushes left in inbox-seq order"
        );
    }
    server.shutdown().await;
}
