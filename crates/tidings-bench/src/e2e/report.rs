//! What the end-to-end comparison prints: a markdown table (one row per
//! target and scenario, each Tidings figure beside its ratio to the relay's
//! in the same run), the idle-memory table and the disk baseline; and the
//! open-loop SVG plot. The JSON file is written by [`super::json`].

use std::fmt::Write as _;
use std::time::Duration;

use super::flood::{self, FloodRow};
use super::fsync::FsyncBaseline;
use super::garbage::{self, GarbageRow};
use super::idle::IdleRow;
use super::machine::Machine;
use super::scenario::{RunRow, Scenario};
use super::servers::TargetKind;
use super::svg::{self, Series};
use crate::latency::LatencySummary;
use crate::params::E2eParams;
use crate::table::{latency, latency_ratio, rate, ratio};

/// Everything one comparison measured.
#[derive(Debug, Clone)]
pub struct E2eReport {
    /// `all-in-one` or `distributed`.
    pub shape: &'static str,
    pub quick: bool,
    pub machine: Machine,
    pub params: E2eParams,
    pub fsync_before: FsyncBaseline,
    pub fsync_after: FsyncBaseline,
    pub rows: Vec<RunRow>,
    pub idle: Vec<IdleRow>,
    /// The garbage comparison, when it ran.
    pub garbage: Vec<GarbageRow>,
    /// The send-flood comparison, when it ran.
    pub send_flood: Vec<FloodRow>,
    /// The processes whose CPU time is counted, per target.
    pub processes: Vec<(TargetKind, Vec<String>)>,
    /// Soft open-file limit of the process holding the connections, per
    /// target (inherited from the benchmark).
    pub server_open_files: Vec<(TargetKind, Option<u64>)>,
}

impl E2eReport {
    /// The relay's row of the same scenario.
    pub fn relay_row(&self, scenario: Scenario) -> Option<&RunRow> {
        self.rows
            .iter()
            .find(|r| r.target == TargetKind::Relay && r.scenario == scenario)
    }

    /// The rows of the single-pair, one-in-flight scenario, whose p50 is set
    /// against the disk's fdatasync time.
    pub fn single_pair_rows(&self) -> impl Iterator<Item = &RunRow> {
        let single = Scenario::Closed {
            pairs: 1,
            window: 1,
        };
        self.rows.iter().filter(move |r| r.scenario == single)
    }

    /// Mean of the disk baselines before and after the load.
    pub fn fsync_mean(&self) -> Duration {
        (self.fsync_before.mean + self.fsync_after.mean) / 2
    }

    fn tidings_kind(&self) -> TargetKind {
        self.rows
            .iter()
            .map(|r| r.target)
            .find(|&k| k != TargetKind::Relay)
            .unwrap_or(TargetKind::Tidings)
    }
}

/// Column header of the main table.
pub const HEADER: [&str; 15] = [
    "target",
    "scenario",
    "offered msg/s",
    "delivered msg/s",
    "×relay",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "p50 ×relay",
    "p99 ×relay",
    "server CPU ms/1k msgs",
    "×relay",
    "lost",
    "dup",
];

/// A markdown table (`|`-separated, header rule after the first row).
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    ));
    let rule: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, _)| if i < 2 { "---".into() } else { "---:".into() })
        .collect();
    out.push_str(&line(&rule));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// The cells of one row of the main table.
pub fn row_cells(row: &RunRow, relay: Option<&RunRow>) -> Vec<String> {
    let o = &row.outcome;
    let l = o.latency.summary();
    let is_relay = row.target == TargetKind::Relay;
    let base = |f: &dyn Fn(&RunRow) -> String| match relay {
        _ if is_relay => "—".to_string(),
        Some(r) => f(r),
        None => "-".to_string(),
    };
    let relay_latency = |r: &RunRow| r.outcome.latency.summary();
    let offered = match row.scenario {
        Scenario::Closed { window, .. } => format!("closed W={window}"),
        Scenario::Open { rate: offered, .. } if o.saturated() => {
            format!(
                "{} (saturated: {} sent)",
                rate(offered as f64),
                rate(o.sent_per_second())
            )
        }
        Scenario::Open { rate: offered, .. } => rate(offered as f64),
    };
    let cpu = row.cpu_ms_per_1k();
    vec![
        row.target.label().to_string(),
        row.scenario.name(),
        offered,
        rate(o.delivered_per_second()),
        base(&|r| ratio(o.delivered_per_second(), r.outcome.delivered_per_second())),
        latency(l.p50),
        latency(l.p90),
        latency(l.p99),
        latency(l.p999),
        base(&|r| latency_ratio(l.p50, relay_latency(r).p50)),
        base(&|r| latency_ratio(l.p99, relay_latency(r).p99)),
        cpu.map_or("-".into(), |c| format!("{c:.1}")),
        base(&|r| ratio(cpu.unwrap_or(0.0), r.cpu_ms_per_1k().unwrap_or(0.0))),
        o.lost.to_string(),
        o.duplicates.to_string(),
    ]
}

/// The markdown report.
pub fn markdown(report: &E2eReport) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let tidings = report.tidings_kind();
    let _ = writeln!(
        out,
        "## End-to-end 1:1 messages: {} against a bare relay ({} shape{})\n",
        tidings.label(),
        report.shape,
        if report.quick {
            ", quick smoke run: figures not for reporting"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "machine: {} cores ({}), {} MiB, Linux {}, data on {}; open files: {} in the \
         benchmark, {} in the servers; {}; the load generator and the servers share the \
         cores\n",
        m.cores,
        m.cpu_model,
        m.memory_kib / 1024,
        m.kernel,
        m.data_filesystem,
        m.open_files
            .soft
            .map_or("unlimited".to_string(), |n| n.to_string()),
        report
            .server_open_files
            .iter()
            .map(|(_, limit)| limit.map_or("unknown".to_string(), |n| n.to_string()))
            .collect::<Vec<_>>()
            .join(" and "),
        if m.release_build {
            "release build"
        } else {
            "debug build (figures not meaningful)"
        },
    );

    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|row| row_cells(row, report.relay_row(row.scenario)))
        .collect();
    out.push_str(&markdown_table(&HEADER, &rows));
    out.push('\n');

    let fsync = report.fsync_mean();
    let _ = writeln!(
        out,
        "fdatasync of a 128-byte append, same filesystem as the data directory: mean {} \
         ({} before the load, {} after; {} + {} samples).",
        latency(fsync),
        latency(report.fsync_before.mean),
        latency(report.fsync_after.mean),
        report.fsync_before.samples,
        report.fsync_after.samples,
    );
    let singles: Vec<String> = report
        .single_pair_rows()
        .map(|r| {
            let p50 = r.outcome.latency.summary().p50;
            format!(
                "{} {} = {} fdatasync",
                r.target.label(),
                latency(p50),
                latency_ratio(p50, fsync)
            )
        })
        .collect();
    if !singles.is_empty() {
        let _ = writeln!(out, "1 pair W=1 p50: {}.", singles.join("; "));
    }
    out.push('\n');

    if !report.idle.is_empty() {
        out.push_str(&idle_table(report));
        out.push('\n');
    }

    if !report.garbage.is_empty() {
        out.push_str(&garbage::markdown(&report.garbage, &report.params));
        out.push('\n');
    }

    if !report.send_flood.is_empty() {
        out.push_str(&flood::markdown(&report.send_flood, &report.params));
        out.push('\n');
    }

    let _ = writeln!(out, "notes:");
    let _ = writeln!(
        out,
        "- latency: from the instant a send was due (closed loop: when it was written; open \
         loop: its scheduled instant) to the push read by the receiver; delivered msg/s: \
         distinct messages delivered ÷ time from the start to the last delivery."
    );
    let _ = writeln!(
        out,
        "- server CPU: utime + stime (children included) of {} from /proc, from the first \
         send to the end of the drain, per 1,000 delivered messages.",
        report
            .processes
            .iter()
            .map(|(kind, names)| format!("{}: {}", kind.label(), names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let _ = writeln!(
        out,
        "- lost: acked but not delivered within {} after the senders stopped; dup: delivered \
         more than once. Tidings also pushes each message to the sender's own connection \
         (its inbox entry); the relay pushes to the receiver only.",
        crate::table::span(report.params.drain_time)
    );
    for row in &report.rows {
        let o = &row.outcome;
        if o.failed > 0 || o.unanswered > 0 || !o.errors.is_empty() {
            let _ = writeln!(
                out,
                "- {} {}: {} failed, {} unanswered sends{}",
                row.target.label(),
                row.scenario.name(),
                o.failed,
                o.unanswered,
                if o.errors.is_empty() {
                    String::new()
                } else {
                    format!("; errors: {}", o.errors.join(" / "))
                }
            );
        }
    }
    out
}

fn idle_table(report: &E2eReport) -> String {
    let header = [
        "target",
        "idle connections",
        "RSS before",
        "RSS after",
        "KiB per connection",
        "×relay",
    ];
    let mut rows = Vec::new();
    for row in &report.idle {
        if let Some(reason) = &row.skipped {
            rows.push(vec![
                row.target.label().to_string(),
                row.connections.to_string(),
                "-".into(),
                "-".into(),
                format!("skipped: {reason}"),
                "-".into(),
            ]);
            continue;
        }
        let relay = report
            .idle
            .iter()
            .find(|r| r.target == TargetKind::Relay && r.connections == row.connections);
        let per = row.kib_per_connection().unwrap_or(0.0);
        let versus = match relay.and_then(IdleRow::kib_per_connection) {
            _ if row.target == TargetKind::Relay => "—".to_string(),
            Some(base) => ratio(per, base),
            None => "-".to_string(),
        };
        rows.push(vec![
            row.target.label().to_string(),
            row.connections.to_string(),
            format!("{:.1} MiB", row.rss_before_kib as f64 / 1024.0),
            format!("{:.1} MiB", row.rss_after_kib as f64 / 1024.0),
            format!("{per:.1}"),
            versus,
        ]);
    }
    markdown_table(&header, &rows)
}

/// The open-loop plot: p50 (dashed) and p99 of every target.
pub fn open_loop_svg(report: &E2eReport) -> String {
    let mut series = Vec::new();
    for (kind, color) in [
        (TargetKind::Relay, "#1f77b4"),
        (report.tidings_kind(), "#d62728"),
    ] {
        let open: Vec<(f64, LatencySummary)> = report
            .rows
            .iter()
            .filter(|r| r.target == kind)
            .filter_map(|r| match r.scenario {
                Scenario::Open { rate, .. } => Some((rate as f64, r.outcome.latency.summary())),
                Scenario::Closed { .. } => None,
            })
            .collect();
        for (name, dashed, pick) in [
            (
                "p50",
                true,
                (|s: &LatencySummary| s.p50) as fn(&LatencySummary) -> Duration,
            ),
            ("p99", false, |s: &LatencySummary| s.p99),
        ] {
            series.push(Series {
                label: format!("{} {name}", kind.label()),
                color,
                dashed,
                points: open
                    .iter()
                    .filter(|(_, s)| s.samples > 0)
                    .map(|(rate, s)| (*rate, pick(s).as_secs_f64() * 1e3))
                    .collect(),
            });
        }
    }
    svg::latency_plot(
        &format!(
            "open loop, {} pairs: send-to-deliver latency against offered load",
            report.params.open_pairs
        ),
        &series,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::limits::OpenFiles;
    use crate::load::{LoadOutcome, Shape};
    use crate::params::Params;

    pub(crate) fn run_row(
        target: TargetKind,
        scenario: Scenario,
        delivered: u64,
        latency_us: u64,
        cpu_ms: u64,
    ) -> RunRow {
        let shape = match scenario {
            Scenario::Closed { window, .. } => Shape::Closed { window },
            Scenario::Open { rate, .. } => Shape::Open {
                rate: rate as f64,
                max_in_flight: 64,
            },
        };
        let started = Instant::now();
        let mut outcome =
            LoadOutcome::empty(scenario.pairs(), shape, Duration::from_secs(1), started);
        outcome.scheduled = delivered;
        outcome.sent = delivered;
        outcome.acked = delivered;
        outcome.delivered = delivered;
        for _ in 0..100 {
            outcome.latency.record(Duration::from_micros(latency_us));
        }
        outcome.last_delivery = Some(started + Duration::from_secs(1));
        RunRow {
            target,
            scenario,
            outcome,
            server_cpu: Duration::from_millis(cpu_ms),
            client_cpu: Duration::from_millis(1),
        }
    }

    fn fsync(mean_us: u64) -> FsyncBaseline {
        FsyncBaseline {
            samples: 10,
            mean: Duration::from_micros(mean_us),
            summary: LatencySummary::default(),
        }
    }

    pub(crate) fn report() -> E2eReport {
        let closed = Scenario::Closed {
            pairs: 1,
            window: 1,
        };
        let open = Scenario::Open {
            pairs: 64,
            rate: 1_000,
        };
        E2eReport {
            shape: "all-in-one",
            quick: false,
            machine: Machine {
                cpu_model: "test cpu".into(),
                cores: 2,
                memory_kib: 1 << 20,
                kernel: "6.1".into(),
                data_filesystem: "ext4 on /dev/test".into(),
                open_files: OpenFiles {
                    soft: Some(20_000),
                    hard: Some(20_000),
                },
                release_build: true,
            },
            params: Params::tiny().e2e,
            fsync_before: fsync(1_000),
            fsync_after: fsync(3_000),
            rows: vec![
                run_row(TargetKind::Relay, closed, 10_000, 100, 100),
                run_row(TargetKind::Tidings, closed, 1_000, 4_000, 100),
                run_row(TargetKind::Relay, open, 1_000, 200, 10),
                run_row(TargetKind::Tidings, open, 1_000, 8_000, 50),
            ],
            idle: vec![
                IdleRow {
                    target: TargetKind::Relay,
                    connections: 1_000,
                    rss_before_kib: 10_000,
                    rss_after_kib: 20_000,
                    skipped: None,
                },
                IdleRow {
                    target: TargetKind::Tidings,
                    connections: 1_000,
                    rss_before_kib: 50_000,
                    rss_after_kib: 90_000,
                    skipped: None,
                },
                IdleRow {
                    target: TargetKind::Tidings,
                    connections: 30_000,
                    rss_before_kib: 50_000,
                    rss_after_kib: 50_000,
                    skipped: Some("too many files".into()),
                },
            ],
            garbage: Vec::new(),
            send_flood: Vec::new(),
            processes: vec![
                (TargetKind::Relay, vec!["relay".into()]),
                (TargetKind::Tidings, vec!["tidings".into()]),
            ],
            server_open_files: vec![
                (TargetKind::Relay, Some(20_000)),
                (TargetKind::Tidings, Some(20_000)),
            ],
        }
    }

    #[test]
    fn markdown_tables_have_a_header_rule_and_one_line_per_row() {
        let table = markdown_table(
            &["target", "scenario", "p50"],
            &[vec!["relay".into(), "1 pair W=1".into(), "1.00 ms".into()]],
        );
        assert_eq!(
            table,
            "| target | scenario | p50 |\n| --- | --- | ---: |\n| relay | 1 pair W=1 | 1.00 ms |\n"
        );
    }

    #[test]
    fn the_table_has_a_row_per_target_and_scenario_with_ratios_to_the_relay() {
        let report = report();
        let text = markdown(&report);
        let header = format!("| {} |", HEADER.join(" | "));
        assert!(text.contains(&header), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("| target | scenario"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(rows.len(), 4, "{text}");
        let cells = |line: &str| -> Vec<String> {
            line.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        };
        let relay = cells(rows[0]);
        assert_eq!(relay[0], "relay");
        assert_eq!(relay[1], "1 pair W=1");
        assert_eq!(relay[2], "closed W=1");
        assert_eq!(relay[3], "10.0k");
        assert_eq!(relay[4], "—");
        let tidings = cells(rows[1]);
        assert_eq!(tidings[0], "tidings");
        assert_eq!(tidings[3], "1.0k");
        assert_eq!(tidings[4], "0.10×", "delivered msg/s ÷ the relay's");
        assert_eq!(tidings[5], "4.00 ms");
        assert_eq!(tidings[9], "40.0×", "p50 ÷ the relay's");
        assert_eq!(tidings[11], "100.0", "100 ms of CPU for 1,000 messages");
        assert_eq!(tidings[12], "10.0×");
        assert_eq!((tidings[13].as_str(), tidings[14].as_str()), ("0", "0"));
        let open = cells(rows[3]);
        assert_eq!(open[1], "open 1000/s, 64 pairs");
        assert_eq!(open[2], "1.0k");
        assert!(
            text.contains("1 pair W=1 p50: relay 100.0 µs = 0.05× fdatasync; tidings 4.00 ms = 2.00× fdatasync"),
            "{text}"
        );
        assert!(
            text.contains("| tidings | 1000 | 48.8 MiB | 87.9 MiB | 40.0 | 4.00× |"),
            "{text}"
        );
        assert!(text.contains("skipped: too many files"), "{text}");
    }

    #[test]
    fn the_plot_has_p50_and_p99_of_both_targets() {
        let plot = open_loop_svg(&report());
        let doc = roxmltree::Document::parse(&plot).expect("valid XML");
        let series: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-series"))
            .collect();
        assert_eq!(
            series,
            ["relay p50", "relay p99", "tidings p50", "tidings p99"]
        );
    }
}
