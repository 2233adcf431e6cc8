//! The printed group tables and the one-line conclusion, computed from the
//! figures of the run.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Diffusion, GroupRow, GroupsParams, GroupsReport, MessageStats};
use crate::table::{Table, latency, latency_ratio, ratio, span};

/// The group section of the report.
pub fn render(params: &GroupsParams, report: &GroupsReport) -> String {
    let mut out = String::new();
    let sizes: Vec<String> = params.sizes.iter().map(|&s| thousands(s as u64)).collect();
    let _ = writeln!(
        out,
        "\n== group fan-out: one group message against group size (DESIGN §1) ==\n\
         all-in-one in this process, logic.large_group_threshold = {threshold}: groups of up to \
         {threshold} members use write diffusion, larger ones read diffusion; sizes {sizes}\n\
         set-up through the logic gRPC API as the owner, {batch} members per call; \
         min(size, {online}) member devices online over WebSocket, the sender's included; \
         at most {messages} messages per group within {send_time}, one at a time, each waiting \
         up to {push_wait} for its pushes\n\
         baseline (dm): the same measurements for 1:1 messages between two online devices, \
         half before and half after the groups (drift = send-ack p50 after ÷ before: {drift:.2})\n",
        threshold = thousands(params.large_group_threshold),
        sizes = sizes.join(", "),
        batch = thousands(params.setup_batch as u64),
        online = params.online,
        messages = params.messages,
        send_time = span(params.send_time),
        push_wait = span(params.push_wait),
        drift = report.dm.drift,
    );

    let dm = &report.dm.messages;
    let mut costs = Table::new(
        &[
            "conversation",
            "mode",
            "setup",
            "×dm ack",
            "online",
            "msgs",
            "store+inbox",
            "writes/msg",
            "×dm",
            "conv-list/msg",
            "pushes/msg",
            "×dm",
        ],
        2,
    );
    costs.row(cost_cells(
        "1:1 (dm)",
        Diffusion::Write,
        None,
        report.dm.online,
        dm,
        dm,
    ));
    for row in &report.rows {
        let name = format!("group of {}", thousands(row.size as u64));
        costs.row(cost_cells(
            &name,
            row.diffusion,
            Some(row.setup),
            row.online,
            &row.messages,
            dm,
        ));
    }
    out.push_str("timeline writes and pushes per message:\n");
    out.push_str(&costs.render());

    let mut latencies = Table::new(
        &[
            "conversation",
            "mode",
            "acked",
            "failed",
            "ack p50",
            "×dm",
            "ack p99",
            "×dm",
            "push p50",
            "×dm",
            "push p99",
            "×dm",
        ],
        2,
    );
    latencies.row(latency_cells("1:1 (dm)", Diffusion::Write, dm, dm));
    for row in &report.rows {
        let name = format!("group of {}", thousands(row.size as u64));
        latencies.row(latency_cells(&name, row.diffusion, &row.messages, dm));
    }
    out.push_str("\nsend-to-ack and send-to-push latency:\n");
    out.push_str(&latencies.render());

    let _ = writeln!(
        out,
        "\nstore+inbox: store-timeline messages + inbox entries written per message, counted by \
         a wrapper around the embedded store's tables over the messages' phase; writes/msg is \
         their sum.\n\
         conv-list/msg: conversation-list entries updated per message (one per member in write \
         diffusion), not part of writes/msg.\n\
         pushes/msg: frames of these messages read by the online devices (Push with an inbox \
         entry in write diffusion, ConversationPush in read diffusion) ÷ acked messages.\n\
         push latency: send started at the sender until the frame was read at another online \
         member's device (the sender's own device excluded).\n\
         setup: CreateGroup plus AddMembers calls until the group has every member; \
         ×dm ack = setup ÷ the 1:1 send-ack p50.\n\
         {}",
        conclusion(report)
    );
    let failed: u64 = report.rows.iter().map(|r| r.messages.failed).sum::<u64>() + dm.failed;
    if failed > 0 {
        let _ = writeln!(out, "WARNING: {failed} sends failed");
    }
    out
}

fn cost_cells(
    name: &str,
    diffusion: Diffusion,
    setup: Option<Duration>,
    online: usize,
    stats: &MessageStats,
    dm: &MessageStats,
) -> Vec<String> {
    let (store, inbox) = (stats.rows.messages, stats.rows.inbox);
    vec![
        name.to_string(),
        diffusion.name().to_string(),
        setup.map_or("-".into(), format_setup),
        setup.map_or("-".into(), |s| latency_ratio(s, dm.ack_latency.p50)),
        online.to_string(),
        stats.acked.to_string(),
        format!(
            "{} + {}",
            per_message(store, stats.acked),
            per_message(inbox, stats.acked)
        ),
        per_message(stats.rows.timeline_writes(), stats.acked),
        ratio(stats.writes_per_message(), dm.writes_per_message()),
        per_message(stats.rows.conversation_list, stats.acked),
        per_message(stats.pushes, stats.acked),
        ratio(stats.pushes_per_message(), dm.pushes_per_message()),
    ]
}

fn latency_cells(
    name: &str,
    diffusion: Diffusion,
    stats: &MessageStats,
    dm: &MessageStats,
) -> Vec<String> {
    let (ack, push) = (&stats.ack_latency, &stats.push_latency);
    let (dm_ack, dm_push) = (&dm.ack_latency, &dm.push_latency);
    vec![
        name.to_string(),
        diffusion.name().to_string(),
        stats.acked.to_string(),
        stats.failed.to_string(),
        latency(ack.p50),
        latency_ratio(ack.p50, dm_ack.p50),
        latency(ack.p99),
        latency_ratio(ack.p99, dm_ack.p99),
        latency(push.p50),
        latency_ratio(push.p50, dm_push.p50),
        latency(push.p99),
        latency_ratio(push.p99, dm_push.p99),
    ]
}

/// The run's finding in one line: writes per message above the threshold
/// against size, and how write diffusion grew below it.
pub fn conclusion(report: &GroupsReport) -> String {
    let of = |diffusion| -> Vec<&GroupRow> {
        let mut rows: Vec<&GroupRow> = report
            .rows
            .iter()
            .filter(|r| r.diffusion == diffusion && r.messages.acked > 0)
            .collect();
        rows.sort_by_key(|r| r.size);
        rows
    };
    let (read, write) = (of(Diffusion::Read), of(Diffusion::Write));
    let writes =
        |row: &GroupRow| per_message(row.messages.rows.timeline_writes(), row.messages.acked);
    let mut parts = Vec::new();

    if !read.is_empty() {
        let sizes: Vec<String> = read.iter().map(|r| thousands(r.size as u64)).collect();
        let values: Vec<String> = read.iter().map(|r| writes(r)).collect();
        let (small, large) = (read[0].size, read[read.len() - 1].size);
        if values.iter().all(|v| *v == values[0]) {
            let growth = if read.len() > 1 {
                format!(
                    " alike, flat while the group grew {}×",
                    thousands((large / small.max(1)) as u64)
                )
            } else {
                String::new()
            };
            parts.push(format!(
                "read diffusion writes {} per message at {} members{growth}",
                rows(&values[0]),
                sizes.join(" and ")
            ));
        } else {
            parts.push(format!(
                "read diffusion is NOT flat: {} rows per message at {} members",
                values.join(", "),
                sizes.join(", ")
            ));
        }
    }
    if let (Some(small), Some(large)) = (write.first(), write.last()) {
        let one_plus_members = write
            .iter()
            .all(|r| r.messages.rows.timeline_writes() == r.messages.acked * (1 + r.size as u64));
        let rule = if one_plus_members {
            "1 + members"
        } else {
            "NOT 1 + members"
        };
        if write.len() > 1 {
            parts.push(format!(
                "write diffusion grows as {rule}, from {} at {} to {} at {} members",
                rows(&writes(small)),
                thousands(small.size as u64),
                rows(&writes(large)),
                thousands(large.size as u64),
            ));
        } else {
            parts.push(format!(
                "write diffusion writes {} per message at {} members ({rule})",
                rows(&writes(small)),
                thousands(small.size as u64),
            ));
        }
    }
    if let (Some(small), Some(large)) = (read.first(), read.last())
        && read.len() > 1
    {
        let (p50_small, p50_large) = (
            small.messages.ack_latency.p50,
            large.messages.ack_latency.p50,
        );
        // Within half again either way counts as flat on a noisy machine.
        let growth = p50_large.as_secs_f64() / p50_small.as_secs_f64().max(f64::MIN_POSITIVE);
        let verdict = if growth > 1.5 {
            "send latency still grows with size"
        } else {
            "send latency about flat"
        };
        parts.push(format!(
            "{verdict}: send-ack p50 {} at {} vs {} at {} members ({})",
            latency(p50_small),
            thousands(small.size as u64),
            latency(p50_large),
            thousands(large.size as u64),
            latency_ratio(p50_large, p50_small),
        ));
    }
    if parts.is_empty() {
        return "conclusion: no group message was acknowledged".into();
    }
    format!("conclusion: {}.", parts.join("; "))
}

/// `total ÷ acked`, as a whole number when it is one.
fn per_message(total: u64, acked: u64) -> String {
    if acked == 0 {
        return "-".into();
    }
    if total.is_multiple_of(acked) {
        return thousands(total / acked);
    }
    format!("{:.1}", total as f64 / acked as f64)
}

/// `1 row`, `11 rows`.
fn rows(count: &str) -> String {
    if count == "1" {
        "1 row".into()
    } else {
        format!("{count} rows")
    }
}

fn format_setup(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// `50000` as `50,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{DmBaseline, RowCounts};

    fn row(size: usize, diffusion: Diffusion, writes: u64) -> GroupRow {
        GroupRow {
            size,
            diffusion,
            online: 2,
            setup: Duration::from_millis(10),
            messages: MessageStats {
                acked: 2,
                rows: RowCounts {
                    messages: 2,
                    inbox: 2 * (writes - 1),
                    conversation_list: 0,
                },
                ..MessageStats::default()
            },
        }
    }

    #[test]
    fn conclusion_is_computed_from_the_rows() {
        let report = GroupsReport {
            dm: DmBaseline {
                online: 2,
                messages: MessageStats::default(),
                drift: 1.0,
            },
            rows: vec![
                row(10, Diffusion::Write, 11),
                row(500, Diffusion::Write, 501),
                row(5_000, Diffusion::Read, 1),
                row(50_000, Diffusion::Read, 1),
            ],
        };
        let line = conclusion(&report);
        assert!(
            line.contains("1 row per message at 5,000 and 50,000 members alike"),
            "{line}"
        );
        assert!(line.contains("flat while the group grew 10×"), "{line}");
        assert!(
            line.contains("grows as 1 + members, from 11 rows at 10 to 501 rows at 500"),
            "{line}"
        );
        let mut uneven = report.clone();
        uneven.rows[3] = row(50_000, Diffusion::Read, 2);
        assert!(conclusion(&uneven).contains("NOT flat"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(50_000), "50,000");
        assert_eq!(thousands(500), "500");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(per_message(33, 11), "3");
        assert_eq!(per_message(10, 4), "2.5");
        assert_eq!(per_message(1, 0), "-");
    }
}
