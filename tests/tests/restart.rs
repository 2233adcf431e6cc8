//! Restarting the real `tidings` process, by `kill -9` and by SIGTERM: all
//! history survives, devices resume from their checkpoints, and every new seq
//! is above every earlier one.

use tidings_client::{Device, dev_token};
use tidings_testkit::{ProcessServer, dm, stored_messages};

const ENV: &[(&str, &str)] = &[("TIDINGS__SEQUENCE__COMMIT_DEADLINE_MS", "500")];

async fn device(server: &ProcessServer, user: &str, id: &str, checkpoint: u64) -> Device {
    Device::connect(&server.ws_url, &dev_token(user), id, checkpoint)
        .await
        .expect("connect")
        .0
}

#[tokio::test]
async fn history_and_monotonic_seqs_survive_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conversation = dm("alice", "bob");
    let mut sent = Vec::new(); // (conv_seq, message_id)
    let mut bob_checkpoint = 0;
    let mut bob_seen = 0;

    for round in 0..4 {
        let server = ProcessServer::start(dir.path(), ENV).unwrap();
        let alice = device(&server, "alice", "a1", 0).await;
        let mut bob = device(&server, "bob", "b1", bob_checkpoint).await;

        // Nothing is lost: bob resumes exactly after what he had.
        let outcome = bob.pull_all().await.unwrap();
        assert!(
            outcome.applied.is_empty(),
            "round {round}: nothing new expected"
        );
        assert!(!outcome.truncated);
        assert!(bob.checkpoint() >= bob_checkpoint);

        for i in 0..3 {
            let ack = alice
                .send(
                    &conversation,
                    &format!("r{round}-{i}"),
                    "text",
                    format!("round {round} #{i}"),
                )
                .await
                .unwrap();
            if let Some((last_seq, _)) = sent.last() {
                assert!(
                    ack.conv_seq > *last_seq,
                    "conv seq went backwards: {} after {last_seq}",
                    ack.conv_seq
                );
            }
            sent.push((ack.conv_seq, ack.message_id));
        }
        let before = bob.checkpoint();
        let outcome = bob.pull_all().await.unwrap();
        assert_eq!(outcome.applied.len(), 3, "round {round}");
        assert!(
            outcome.applied.iter().all(|e| e.seq > before),
            "inbox seq went backwards"
        );
        bob_seen += outcome.applied.len();
        bob_checkpoint = bob.checkpoint();

        // Every acknowledged message is in the store timeline, in order.
        let stored = stored_messages(&server.store, &conversation).await;
        let got: Vec<(u64, String)> = stored
            .into_iter()
            .map(|m| (m.conv_seq, m.message_id))
            .collect();
        assert_eq!(got, sent, "round {round}");
        if round % 2 == 0 {
            server.kill();
        } else {
            let status = server.terminate().unwrap();
            assert!(status.success(), "clean shutdown: {status}");
        }
    }
    assert_eq!(bob_seen, 12);

    // Roaming after the last restart: a fresh device pages everything.
    let server = ProcessServer::start(dir.path(), ENV).unwrap();
    let fresh = device(&server, "bob", "fresh", 0).await;
    let mut before = 0;
    let mut roamed = Vec::new();
    loop {
        let page = fresh.history(&conversation, before, 5).await.unwrap();
        roamed.extend(
            page.messages
                .iter()
                .map(|m| (m.conv_seq, m.message_id.clone())),
        );
        if !page.has_more {
            break;
        }
        before = page.messages.last().unwrap().conv_seq;
    }
    roamed.reverse();
    assert_eq!(roamed, sent);
}
