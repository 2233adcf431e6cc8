//! Runs the group benchmark's `--quick` preset (one group below the
//! large-group threshold, one above) and checks what it counted: write
//! diffusion writes one store-timeline message plus one inbox entry per
//! member, read diffusion the store-timeline message only. Never how fast.

use tidings_bench::groups::{self, Diffusion, GroupsParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_bench_counts_one_write_per_message_above_the_threshold() {
    let params = GroupsParams::quick();
    let report = groups::run(&params).await.expect("group bench runs");

    let dm = &report.dm.messages;
    assert!(dm.acked > 0 && dm.failed == 0, "{dm:?}");
    assert_eq!(dm.rows.messages, dm.acked, "{dm:?}");
    assert_eq!(dm.rows.inbox, 2 * dm.acked, "both users' inboxes: {dm:?}");
    assert_eq!(
        dm.pushes,
        2 * dm.acked,
        "both devices get each message: {dm:?}"
    );

    assert_eq!(report.rows.len(), params.sizes.len());
    for (row, &size) in report.rows.iter().zip(&params.sizes) {
        let m = &row.messages;
        assert_eq!(row.size, size);
        assert!(m.acked > 0 && m.failed == 0, "{row:?}");
        assert_eq!(
            m.rows.messages, m.acked,
            "one store-timeline message each: {row:?}"
        );
        let online = params.online_for(size) as u64;
        assert_eq!(m.pushes, online * m.acked, "every online device: {row:?}");
        if params.is_large(size) {
            assert_eq!(row.diffusion, Diffusion::Read, "{row:?}");
            assert_eq!(
                m.rows.timeline_writes(),
                m.acked,
                "read diffusion = 1: {row:?}"
            );
            assert_eq!(m.conversation_pushes, m.pushes, "{row:?}");
        } else {
            assert_eq!(row.diffusion, Diffusion::Write, "{row:?}");
            assert_eq!(
                m.rows.timeline_writes(),
                m.acked * (1 + size as u64),
                "write diffusion = 1 + size: {row:?}"
            );
            assert_eq!(m.inbox_pushes, m.pushes, "{row:?}");
        }
    }

    let printed = groups::render(&params, &report);
    assert!(printed.contains("group of 600"), "{printed}");
    assert!(
        printed.contains("conclusion: read diffusion writes 1 row per message"),
        "{printed}"
    );
}
