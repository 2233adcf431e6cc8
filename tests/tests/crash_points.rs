//! Exactly once through crashes (DESIGN §9): the real `tidings` process is
//! aborted at every step of the send path (a crash point between each two
//! steps, present in debug builds), restarted on the same data, and the send
//! retried with the same client_msg_id. Whatever the step, History and each
//! inbox hold the message exactly once, and when the first attempt had
//! committed, the retry's ack carries its seq and message id.

use std::time::Duration;

use tidings_client::proto::SendAck;
use tidings_client::{Device, dev_token};
use tidings_logic::failpoint::SEND_CRASH_POINTS;
use tidings_proto::sync::v1::PullRequest;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_testkit::{ProcessServer, dm, service_channel, stored_messages};

/// Crash points the first attempt passes only after its commit.
const COMMITTED_BY_THEN: &[&str] = &["send.after_commit", "send.after_mark"];

const DEADLINE: (&str, &str) = ("TIDINGS__SEQUENCE__COMMIT_DEADLINE_MS", "2000");

async fn device(server: &ProcessServer, user: &str) -> Device {
    let (mut device, _) = Device::connect(&server.ws_url, &dev_token(user), "d1", 0)
        .await
        .expect("connect");
    device
        .connection_mut()
        .set_request_timeout(Duration::from_secs(5));
    device
}

/// How many entries of `user`'s inbox hold `message_id`.
async fn inbox_copies(server: &ProcessServer, user: &str, message_id: &str) -> usize {
    let mut sync = SyncServiceClient::new(service_channel(&server.sync));
    let mut after = 0;
    let mut copies = 0;
    loop {
        let page = sync
            .pull(PullRequest {
                user_id: user.into(),
                after,
                limit: 500,
                max_bytes: 0,
            })
            .await
            .expect("pull")
            .into_inner();
        copies += page
            .entries
            .iter()
            .filter(|e| {
                e.message
                    .as_ref()
                    .is_some_and(|m| m.message_id == message_id)
            })
            .count();
        match page.entries.last() {
            Some(last) if page.has_more => after = last.seq,
            _ => return copies,
        }
    }
}

async fn crash_and_retry(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let conversation = dm("alice", "bob");

    let server =
        ProcessServer::start(dir.path(), &[DEADLINE, ("TIDINGS_CRASH_AT", point)]).unwrap();
    let alice = device(&server, "alice").await;
    let _bob = device(&server, "bob").await;
    let first: Option<SendAck> = alice
        .send(&conversation, "the-key", "text", "exactly once")
        .await
        .ok();
    // The process aborts at the crash point; give a background step (the
    // committed mark) time to reach it, then make sure it is gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(alice);
    server.kill();

    let server = ProcessServer::start(dir.path(), &[DEADLINE]).unwrap();
    let alice = device(&server, "alice").await;
    let retry = alice
        .send(&conversation, "the-key", "text", "exactly once")
        .await
        .unwrap_or_else(|e| panic!("{point}: the retry is acknowledged: {e}"));
    // At and after the commit the first attempt's message is visible at the
    // conversation's first seq: the retry must answer with it, not write it
    // again at a seq allocated after the restart.
    if COMMITTED_BY_THEN.contains(&point) {
        assert_eq!(retry.conv_seq, 1, "{point}: the committed seq is kept");
    }
    if let Some(first) = &first {
        assert_eq!(retry.conv_seq, first.conv_seq, "{point}: same conv seq");
        assert_eq!(
            retry.message_id, first.message_id,
            "{point}: same message id"
        );
    }
    // Once more: the committed record answers.
    let again = alice
        .send(&conversation, "the-key", "text", "exactly once")
        .await
        .expect("second retry");
    assert_eq!(again.conv_seq, retry.conv_seq, "{point}");
    assert!(
        again.duplicate,
        "{point}: a resend is answered as a duplicate"
    );

    let history = stored_messages(&server.store, &conversation).await;
    let copies = history
        .iter()
        .filter(|m| m.message_id == retry.message_id)
        .count();
    assert_eq!(
        copies, 1,
        "{point}: History holds the message once: {history:?}"
    );
    assert_eq!(history.len(), 1, "{point}: and nothing else");
    assert_eq!(history[0].conv_seq, retry.conv_seq, "{point}");
    for user in ["alice", "bob"] {
        assert_eq!(
            inbox_copies(&server, user, &retry.message_id).await,
            1,
            "{point}: {user}'s inbox holds it once"
        );
    }
    server.kill();
}

#[tokio::test]
async fn every_crash_point_of_the_send_path_stores_the_retried_message_once() {
    for point in SEND_CRASH_POINTS {
        crash_and_retry(point).await;
    }
}
