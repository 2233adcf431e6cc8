//! The garbage flood against Tidings in this process, beside a small load:
//! every garbage frame is answered with an error, the flooding connection
//! is kept, and the load still delivers every acked message. Counts only,
//! never speed.

use std::sync::Arc;
use std::time::Duration;

use tidings_bench::load::flood::{Flooder, Frames};
use tidings_bench::load::{Live, LoadSpec, Pairs, Shape};
use tidings_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_answered_and_the_connection_is_kept() {
    let server = TestServer::start().await;
    let pairs = Pairs::connect(&server.url(), 2, "quiet", 4)
        .await
        .expect("pairs connect");
    let flood = Flooder::connect(&server.url(), "flooder")
        .await
        .expect("flooder connects")
        .start(Frames::Garbage, 2_000);
    let spec = LoadSpec {
        shape: Shape::Closed { window: 1 },
        duration: Duration::from_millis(400),
        max_messages: 20,
        drain: Duration::from_secs(10),
    };
    let outcome = pairs
        .drive(&spec, Arc::new(Live::default()))
        .await
        .expect("load runs");
    let flood = flood
        .stop(Duration::from_secs(10))
        .await
        .expect("flood stops");

    assert!(
        flood.malformed_sent > 0 && flood.unknown_sent > 0,
        "{flood:?}"
    );
    assert_eq!(flood.malformed_answers, flood.malformed_sent, "{flood:?}");
    assert_eq!(flood.unknown_answers, flood.unknown_sent, "{flood:?}");
    assert_eq!(flood.other_errors, 0, "{flood:?}");
    assert!(flood.kept && flood.ended.is_none(), "{flood:?}");

    assert!(outcome.acked > 0, "{outcome:?}");
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert_eq!(outcome.delivered, outcome.acked, "{outcome:?}");
    assert_eq!((outcome.lost, outcome.duplicates), (0, 0), "{outcome:?}");
}
