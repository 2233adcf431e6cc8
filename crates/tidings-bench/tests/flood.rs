//! The send flood against Tidings in this process, with send limits on,
//! beside a small load: every flood send is acked or rate-limited, the
//! flooding connection is kept, and the measured load, under the limit, is
//! never limited and delivers every acked message. Counts only, never speed.

use std::sync::Arc;
use std::time::Duration;

use tidings_bench::load::flood::{Flooder, Frames};
use tidings_bench::load::{Live, LoadSpec, Pairs, Shape};
use tidings_bench::wire;
use tidings_gateway::LimitsConfig;
use tidings_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_flood_is_limited_and_the_connection_is_kept() {
    let server = TestServer::start_with(|config| {
        config.gateway.limits = LimitsConfig {
            connection_sends_per_sec: 100,
            connection_send_burst: 100,
            user_sends_per_sec: 100,
            user_send_burst: 100,
            ..LimitsConfig::off()
        };
    })
    .await;
    let pairs = Pairs::connect(&server.url(), 2, "quiet", 4)
        .await
        .expect("pairs connect");
    let flood = Flooder::connect(&server.url(), "flooder")
        .await
        .expect("flooder connects")
        .start(
            Frames::Sends {
                conversation_id: wire::dm("flooder", "absent"),
            },
            2_000,
        );
    // The measured senders keep a chat user's pace, 50 msg/s each, under
    // the limit of 100/s whatever the machine's speed (a closed loop on a
    // quick machine outran it); the flood lasts as long as the load.
    let spec = LoadSpec {
        shape: Shape::Open {
            rate: 100.0,
            max_in_flight: 4,
        },
        duration: Duration::from_millis(600),
        max_messages: 1_000,
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

    assert!(flood.sends_sent > 200, "{flood:?}");
    assert_eq!((flood.malformed_sent, flood.unknown_sent), (0, 0));
    assert!(flood.acked >= 100, "the burst at least: {flood:?}");
    assert!(flood.limited > 0, "{flood:?}");
    assert_eq!(flood.acked + flood.limited, flood.sends_sent, "{flood:?}");
    assert_eq!(flood.other_errors, 0, "{flood:?}");
    assert!(flood.retry_after_ms.is_some(), "{flood:?}");
    assert!(flood.kept && flood.ended.is_none(), "{flood:?}");

    assert!(outcome.acked > 0, "{outcome:?}");
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert_eq!(outcome.delivered, outcome.acked, "{outcome:?}");
    assert_eq!((outcome.lost, outcome.duplicates), (0, 0), "{outcome:?}");
}
