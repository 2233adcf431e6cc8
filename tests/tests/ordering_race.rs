//! The ordering race of DESIGN §4: seq n+1 committed before n must never be
//! visible before n settles, and an abandoned seq's late commit is refused.
//! Driven over gRPC against the running all-in-one, with real devices pulling.

use std::time::Duration;

use tidings_client::InboxEntry;
use tidings_proto::common::v1::Message;
use tidings_proto::sequence::v1::{
    AllocateRequest, CommitRequest, CommitStatus, HeadsRequest, SeqRef,
};
use tidings_proto::sync::v1::{AppendInboxRequest, UserEntry};
use tidings_testkit::TestServer;

const KEY: &str = "user:carol";

fn entry(seq: u64, text: &str) -> UserEntry {
    UserEntry {
        listed: false,
        user_id: "carol".into(),
        entry: Some(InboxEntry {
            seq,
            conversation_id: "dm:carol:dave".into(),
            conv_seq: seq,
            message: Some(Message {
                message_id: format!("race-{seq}"),
                conversation_id: "dm:carol:dave".into(),
                conv_seq: seq,
                sender_id: "dave".into(),
                sender_device: "d1".into(),
                client_msg_id: format!("race-{seq}"),
                kind: "text".into(),
                body: text.as_bytes().to_vec(),
                created_at_ms: 0,
                state: None,
            }),
        }),
    }
}

fn seq_ref(seq: u64) -> SeqRef {
    SeqRef {
        key: KEY.into(),
        seq,
    }
}

#[tokio::test]
async fn a_later_seq_committed_first_stays_invisible_until_the_earlier_one_settles() {
    let server = TestServer::start_with(|c| c.sequence.commit_deadline_ms = 1_500).await;
    let mut sequence = server.sequence_client();
    let mut sync = server.sync_client();
    let (mut carol, _) = server.device("carol", "c1", 0).await;
    carol.pull_all().await.unwrap();
    let start = carol.checkpoint();

    let seqs = sequence
        .allocate(AllocateRequest {
            keys: vec![KEY.into(), KEY.into()],
        })
        .await
        .unwrap()
        .into_inner()
        .seqs;
    let (n, n1) = (seqs[0], seqs[1]);
    assert_eq!(n1, n + 1);

    // n+1 is written and committed first.
    sync.append_inbox(AppendInboxRequest {
        entries: vec![entry(n1, "second")],
    })
    .await
    .unwrap();
    let committed = sequence
        .commit(CommitRequest {
            seqs: vec![seq_ref(n1)],
        })
        .await
        .unwrap()
        .into_inner()
        .statuses;
    assert_eq!(committed, [CommitStatus::Committed as i32]);

    // A device pulling now sees nothing and must not move past n.
    let outcome = carol.pull_all().await.unwrap();
    assert!(
        outcome.applied.is_empty(),
        "n+1 leaked: {:?}",
        outcome.applied
    );
    assert!(
        outcome.head < n,
        "head {} must stay below pending seq {n}",
        outcome.head
    );
    assert!(carol.checkpoint() < n);

    // Once n is committed, both appear in order.
    sync.append_inbox(AppendInboxRequest {
        entries: vec![entry(n, "first")],
    })
    .await
    .unwrap();
    let committed = sequence
        .commit(CommitRequest {
            seqs: vec![seq_ref(n)],
        })
        .await
        .unwrap()
        .into_inner()
        .statuses;
    assert_eq!(committed, [CommitStatus::Committed as i32]);
    let outcome = carol.pull_all().await.unwrap();
    let got: Vec<u64> = outcome.applied.iter().map(|e| e.seq).collect();
    assert_eq!(got, [n, n1]);
    assert!(carol.checkpoint() > start);
    server.shutdown().await;
}

#[tokio::test]
async fn an_abandoned_seq_lets_the_head_move_on_and_its_late_commit_is_refused() {
    let deadline = Duration::from_millis(600);
    let server =
        TestServer::start_with(|c| c.sequence.commit_deadline_ms = deadline.as_millis() as u64)
            .await;
    let mut sequence = server.sequence_client();
    let mut sync = server.sync_client();

    let seqs = sequence
        .allocate(AllocateRequest {
            keys: vec![KEY.into(), KEY.into()],
        })
        .await
        .unwrap()
        .into_inner()
        .seqs;
    let (stuck, next) = (seqs[0], seqs[1]);
    sync.append_inbox(AppendInboxRequest {
        entries: vec![entry(next, "after the stuck one")],
    })
    .await
    .unwrap();
    sequence
        .commit(CommitRequest {
            seqs: vec![seq_ref(next)],
        })
        .await
        .unwrap();
    let head =
        |s: &mut tidings_proto::sequence::v1::sequence_service_client::SequenceServiceClient<_>| {
            let mut s = s.clone();
            async move {
                s.heads(HeadsRequest {
                    keys: vec![KEY.into()],
                })
                .await
                .unwrap()
                .into_inner()
                .heads[0]
            }
        };
    assert_eq!(
        head(&mut sequence).await,
        stuck - 1,
        "held below the pending seq"
    );

    // The writer of `stuck` never commits in time: it is abandoned.
    let mut waited = Duration::ZERO;
    while head(&mut sequence).await < next {
        assert!(waited < deadline * 20, "seq {stuck} was never abandoned");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }

    // Its late write and commit: the commit is refused.
    sync.append_inbox(AppendInboxRequest {
        entries: vec![entry(stuck, "too late")],
    })
    .await
    .unwrap();
    let committed = sequence
        .commit(CommitRequest {
            seqs: vec![seq_ref(stuck)],
        })
        .await
        .unwrap()
        .into_inner()
        .statuses;
    assert_eq!(
        committed,
        [CommitStatus::Abandoned as i32],
        "a late commit of an abandoned seq is refused"
    );
    server.shutdown().await;
}
