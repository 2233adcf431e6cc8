//! The garbage comparison: what one client that floods the server with
//! frames it must refuse costs everyone else. Each of its closed-loop
//! scenarios runs on Tidings twice, with fresh users each time: first
//! alone, then beside one more connection that, after `Hello`, sends
//! garbage at `--garbage` frames per second ([`crate::load::flood`]) from
//! a moment before the load starts to its end. The ratios of the measured
//! clients' latencies with and without are the figure; the flood's own
//! counts (sent, answered, kept or closed) show what the server did with it.
//!
//! Only Tidings is measured: the question is how the gateway isolates its
//! connections, not how it compares with the relay.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::flood::{FloodPlan, connection, cpu, times};
use super::json::run_json;
use super::report::markdown_table;
use super::scenario::Scenario;
use crate::load::flood::Frames;
use crate::params::{ClosedScenario, E2eParams};
use crate::table::{latency, rate, span};

/// One scenario without and with the garbage flood.
pub use super::flood::FloodRow as GarbageRow;

/// The scenarios of the comparison; none when it is off.
pub fn scenarios(params: &E2eParams) -> Vec<Scenario> {
    if params.garbage_rate == 0 {
        return Vec::new();
    }
    params
        .garbage_closed
        .iter()
        .map(|&ClosedScenario { pairs, window }| Scenario::Closed { pairs, window })
        .collect()
}

/// The garbage flood of a run tagged `tag`, at `params.garbage_rate`.
pub fn plan(params: &E2eParams, tag: &str) -> FloodPlan {
    FloodPlan {
        user: format!("{tag}-garbage"),
        frames: Frames::Garbage,
        rate: params.garbage_rate,
        settle: params.garbage_settle,
    }
}

/// The markdown section; empty when the comparison did not run.
pub fn markdown(rows: &[GarbageRow], params: &E2eParams) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### One client sending {} garbage frames/s\n",
        rate(params.garbage_rate as f64)
    );
    let _ = writeln!(
        out,
        "Tidings only, each scenario without and then with one more connection that, after \
         `Hello`, sends binary frames that are not a `ClientFrame` (random bytes) and, one in \
         ten, `ClientFrame`s of an unknown frame type, from {} before the load to its end, \
         reading every answer. ×without: the flooded run's latency ÷ the quiet run's; the \
         flooded run's server CPU includes refusing the garbage.\n",
        span(params.garbage_settle)
    );
    let header = [
        "scenario",
        "garbage",
        "delivered msg/s",
        "p50",
        "p99",
        "p50 ×without",
        "p99 ×without",
        "server CPU ms/1k msgs",
        "garbage sent",
        "achieved /s",
        "error answers",
        "flooding connection",
    ];
    let mut table = Vec::new();
    for row in rows {
        let quiet = &row.without;
        let l = quiet.outcome.latency.summary();
        let mut cells = vec![
            row.scenario.name(),
            "off".to_string(),
            rate(quiet.outcome.delivered_per_second()),
            latency(l.p50),
            latency(l.p99),
            "—".to_string(),
            "—".to_string(),
            cpu(quiet),
        ];
        cells.extend(std::iter::repeat_n("—".to_string(), 4));
        table.push(cells);

        let flooded = &row.with;
        let l = flooded.outcome.latency.summary();
        let f = &row.flood;
        table.push(vec![
            row.scenario.name(),
            format!("{}/s offered", rate(f.rate as f64)),
            rate(flooded.outcome.delivered_per_second()),
            latency(l.p50),
            latency(l.p99),
            row.latency_ratio(|s| s.p50).map_or("-".into(), times),
            row.latency_ratio(|s| s.p99).map_or("-".into(), times),
            cpu(flooded),
            f.sent().to_string(),
            rate(f.achieved_per_second()),
            format!(
                "{} ({} malformed, {} unknown frame{})",
                f.answers(),
                f.malformed_answers,
                f.unknown_answers,
                if f.other_errors > 0 {
                    format!(", {} other", f.other_errors)
                } else {
                    String::new()
                }
            ),
            connection(f),
        ]);
    }
    out.push_str(&markdown_table(&header, &table));
    out.push('\n');
    for row in rows {
        let f = &row.flood;
        let _ = writeln!(
            out,
            "- {} with garbage: {} malformed and {} unknown-type frames sent in {}; {} \
             unanswered; longest write of one burst {} (the server's backpressure, or the \
             flooder waiting for a core); \
             measured clients: {} failed, {} unanswered sends, {} lost.",
            row.scenario.name(),
            f.malformed_sent,
            f.unknown_sent,
            span(f.sending),
            f.unanswered(),
            latency(f.longest_stall),
            row.with.outcome.failed,
            row.with.outcome.unanswered,
            row.with.outcome.lost,
        );
    }
    out
}

/// Every figure of the comparison; null when it did not run.
pub fn json(rows: &[GarbageRow], params: &E2eParams) -> Value {
    if rows.is_empty() {
        return Value::Null;
    }
    let scenarios: Vec<Value> = rows
        .iter()
        .map(|row| {
            let f = &row.flood;
            json!({
                "scenario": row.scenario,
                "name": row.scenario.name(),
                "without": run_json(&row.without, None),
                "with": run_json(&row.with, None),
                "with_over_without": {
                    "p50": row.latency_ratio(|s| s.p50),
                    "p99": row.latency_ratio(|s| s.p99),
                    "delivered_per_second": row.delivered_ratio(),
                },
                "flood": {
                    "offered_per_second": f.rate,
                    "sent": f.sent(),
                    "malformed_sent": f.malformed_sent,
                    "unknown_sent": f.unknown_sent,
                    "sending_ms": f.sending.as_secs_f64() * 1e3,
                    "achieved_per_second": f.achieved_per_second(),
                    "longest_stall_ms": f.longest_stall.as_secs_f64() * 1e3,
                    "malformed_answers": f.malformed_answers,
                    "unknown_answers": f.unknown_answers,
                    "other_errors": f.other_errors,
                    "other_frames": f.other_frames,
                    "unanswered": f.unanswered(),
                    "connection_kept": f.kept,
                    "ended": f.ended,
                },
            })
        })
        .collect();
    json!({
        "rate_per_second": params.garbage_rate,
        "settle_ms": params.garbage_settle.as_secs_f64() * 1e3,
        "scenarios": scenarios,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::e2e::report::tests::run_row;
    use crate::e2e::servers::TargetKind;
    use crate::load::flood::FloodOutcome;
    use crate::params::Params;

    fn row() -> GarbageRow {
        let scenario = Scenario::Closed {
            pairs: 1,
            window: 1,
        };
        GarbageRow {
            scenario,
            without: run_row(TargetKind::Tidings, scenario, 1_000, 1_000, 100),
            with: run_row(TargetKind::Tidings, scenario, 800, 1_500, 300),
            flood: FloodOutcome {
                rate: 10_000,
                malformed_sent: 9_000,
                unknown_sent: 1_000,
                sending: Duration::from_secs(2),
                longest_stall: Duration::from_millis(3),
                malformed_answers: 9_000,
                unknown_answers: 1_000,
                kept: true,
                ..FloodOutcome::default()
            },
        }
    }

    #[test]
    fn each_scenario_has_a_quiet_and_a_flooded_row_with_ratios_and_counts() {
        let mut params = Params::tiny().e2e;
        params.garbage_rate = 10_000;
        let text = markdown(&[row()], &params);
        assert!(
            text.contains("One client sending 10.0k garbage frames/s"),
            "{text}"
        );
        assert!(
            text.contains("| 1 pair W=1 | off | 1.0k | 1.00 ms | 1.00 ms | — | — | 100.0 |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| 1 pair W=1 | 10.0k/s offered | 800 | 1.50 ms | 1.50 ms | 1.50× | 1.50× | 375.0 \
                 | 10000 | 5.0k | 10000 (9000 malformed, 1000 unknown frame) | kept |"
            ),
            "{text}"
        );
        assert!(text.contains("0 unanswered"), "{text}");
        assert_eq!(markdown(&[], &params), "", "nothing when it did not run");
    }

    #[test]
    fn json_holds_both_runs_the_ratios_and_the_flood() {
        let params = Params::tiny().e2e;
        let value = json(&[row()], &params);
        let scenario = &value["scenarios"][0];
        assert_eq!(scenario["name"], "1 pair W=1");
        assert_eq!(scenario["without"]["delivered"], 1_000);
        assert_eq!(scenario["with"]["delivered"], 800);
        assert!((scenario["with_over_without"]["p50"].as_f64().unwrap() - 1.5).abs() < 1e-3);
        assert_eq!(scenario["flood"]["sent"], 10_000);
        assert_eq!(scenario["flood"]["unanswered"], 0);
        assert_eq!(scenario["flood"]["connection_kept"], true);
        assert!(
            (scenario["flood"]["achieved_per_second"].as_f64().unwrap() - 5_000.0).abs() < 1e-6
        );
        assert!(json(&[], &params).is_null());
    }
}
