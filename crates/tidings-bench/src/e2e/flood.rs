//! The send-flood comparison: whether one user flooding valid sends is held
//! to its limit while everyone else's latency holds. It runs on a Tidings of
//! its own, started with `[gateway.limits]` send limits on (per connection
//! and per user, [`limits_env`]) at a rate above what one measured sender
//! sends and far below the flood, every other limit off. Each of its
//! closed-loop scenarios runs twice, with fresh users: alone, then beside
//! one more connection, of a user of its own, that sends `--flood` valid
//! sends per second ([`crate::load::flood`]) to a dm with a user that has no
//! connection. The measured clients' latency ratios with and without are the
//! figure (the aim: p99 within 2×); the flood's counts (acked, rate-limited,
//! other) show what the limit let through.
//!
//! [`FloodRow`] and [`run_flooded`] are shared with the garbage comparison
//! ([`super::garbage`]).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::json::run_json;
use super::report::markdown_table;
use super::scenario::{self, RunRow, Scenario};
use super::servers::Target;
use crate::latency::{LatencySummary, per_second};
use crate::load::Live;
use crate::load::flood::{FloodOutcome, Flooder, Frames};
use crate::params::{ClosedScenario, E2eParams, OpenScenario};
use crate::table::{latency, rate, ratio, span};
use crate::wire;

/// One scenario without and with a flood.
#[derive(Debug, Clone)]
pub struct FloodRow {
    pub scenario: Scenario,
    pub without: RunRow,
    pub with: RunRow,
    pub flood: FloodOutcome,
}

impl FloodRow {
    /// `pick` of the flooded run's latencies ÷ the same of the quiet run's.
    pub fn latency_ratio(&self, pick: fn(&LatencySummary) -> Duration) -> Option<f64> {
        let with = pick(&self.with.outcome.latency.summary()).as_secs_f64();
        let without = pick(&self.without.outcome.latency.summary()).as_secs_f64();
        (with > 0.0 && without > 0.0).then(|| with / without)
    }

    /// Delivered msg/s of the flooded run ÷ the quiet run's.
    pub fn delivered_ratio(&self) -> Option<f64> {
        let with = self.with.outcome.delivered_per_second();
        let without = self.without.outcome.delivered_per_second();
        (with > 0.0 && without > 0.0).then(|| with / without)
    }
}

/// The flooding connection of one run.
#[derive(Debug, Clone)]
pub struct FloodPlan {
    /// Its user, unique on the server.
    pub user: String,
    pub frames: Frames,
    /// Frames per second offered.
    pub rate: u64,
    /// How long it floods before the measured load starts.
    pub settle: Duration,
}

/// Runs `scenario` on `target` (users tagged `tag`) beside the flood of
/// `plan`, from `plan.settle` before the load to its end.
pub async fn run_flooded(
    target: &Target,
    scenario: Scenario,
    params: &E2eParams,
    tag: &str,
    live: Arc<Live>,
    plan: FloodPlan,
) -> anyhow::Result<(RunRow, FloodOutcome)> {
    let pairs = scenario::connect(target, scenario, params, tag).await?;
    let flooder = Flooder::connect(&target.url, &plan.user).await?;
    let flood = flooder.start(plan.frames, plan.rate);
    tokio::time::sleep(plan.settle).await;
    let row = scenario::measure(target, scenario, pairs, params, live).await;
    // Stopped whether the load worked or not, so a failed run leaves no
    // flood behind to disturb the next one.
    let flood = flood.stop(params.drain_time).await?;
    Ok((row?, flood))
}

/// The send flood of a run tagged `tag`: a user `<tag>-flood` sending to
/// `<tag>-peer`, who never connects.
pub fn send_plan(params: &E2eParams, tag: &str) -> FloodPlan {
    let user = format!("{tag}-flood");
    FloodPlan {
        frames: Frames::Sends {
            conversation_id: wire::dm(&user, &format!("{tag}-peer")),
        },
        user,
        rate: params.flood_rate,
        settle: params.flood_settle,
    }
}

/// The scenarios of the comparison; none when it is off.
pub fn scenarios(params: &E2eParams) -> Vec<Scenario> {
    if params.flood_rate == 0 {
        return Vec::new();
    }
    let closed = params
        .flood_closed
        .iter()
        .map(|&ClosedScenario { pairs, window }| Scenario::Closed { pairs, window });
    let open = params
        .flood_open
        .iter()
        .map(|&OpenScenario { pairs, rate }| Scenario::Open { pairs, rate });
    closed.chain(open).collect()
}

/// The environment that turns the send limits of the comparison on (the
/// read and connection limits stay off).
pub fn limits_env(params: &E2eParams) -> Vec<(String, String)> {
    let (per_sec, burst) = (params.flood_sends_per_sec, params.flood_send_burst);
    [
        ("CONNECTION_SENDS_PER_SEC", per_sec),
        ("CONNECTION_SEND_BURST", burst),
        ("USER_SENDS_PER_SEC", per_sec),
        ("USER_SEND_BURST", burst),
    ]
    .into_iter()
    .map(|(key, value)| {
        (
            format!("TIDINGS__GATEWAY__LIMITS__{key}"),
            value.to_string(),
        )
    })
    .collect()
}

/// Sends per second of one measured sender connection of `row`: its sends
/// ÷ the time it sent (the send phase, or up to the last delivery when
/// `--messages` ended it sooner), per pair (the pairs of a closed loop send
/// alike).
pub fn sends_per_connection(row: &RunRow) -> f64 {
    let o = &row.outcome;
    let sending = o
        .last_delivery
        .map_or(o.duration, |last| (last - o.started).min(o.duration));
    per_second(o.sent, sending) / o.pairs.max(1) as f64
}

/// The markdown section; empty when the comparison did not run.
pub fn markdown(rows: &[FloodRow], params: &E2eParams) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### One client flooding {} sends/s, send limits on\n",
        rate(params.flood_rate as f64)
    );
    let busiest = rows
        .iter()
        .flat_map(|r| [&r.without, &r.with])
        .map(sends_per_connection)
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "Tidings only, on a server of its own with `[gateway.limits]` \
         `connection_sends_per_sec` = `user_sends_per_sec` = {}, `connection_send_burst` = \
         `user_send_burst` = {}, every other limit off: above the {} sends/s of the busiest \
         measured sender connection here, far below the flood. Each scenario without and then \
         with one more connection, of a user of its own, that sends valid `Send`s (a fresh \
         `client_msg_id` each, 64-byte body) to a dm with a user that has no connection, from \
         {} before the load to its end, reading every answer. ×without: the flooded run's \
         latency ÷ the quiet run's (the aim: p99 within 2×); the flooded run's server CPU \
         includes the flood's acked messages and its refusals.\n",
        params.flood_sends_per_sec,
        params.flood_send_burst,
        rate(busiest),
        span(params.flood_settle)
    );
    let header = [
        "scenario",
        "flood",
        "delivered msg/s",
        "sends/s per sender",
        "p50",
        "p99",
        "p50 ×without",
        "p99 ×without",
        "server CPU ms/1k msgs",
        "flood sent",
        "achieved /s",
        "acked (/s)",
        "rate limited",
        "other",
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
            rate(sends_per_connection(quiet)),
            latency(l.p50),
            latency(l.p99),
            "—".to_string(),
            "—".to_string(),
            cpu(quiet),
        ];
        cells.extend(std::iter::repeat_n("—".to_string(), 6));
        table.push(cells);

        let flooded = &row.with;
        let l = flooded.outcome.latency.summary();
        let f = &row.flood;
        table.push(vec![
            row.scenario.name(),
            format!("{}/s offered", rate(f.rate as f64)),
            rate(flooded.outcome.delivered_per_second()),
            rate(sends_per_connection(flooded)),
            latency(l.p50),
            latency(l.p99),
            row.latency_ratio(|s| s.p50).map_or("-".into(), times),
            row.latency_ratio(|s| s.p99).map_or("-".into(), times),
            cpu(flooded),
            f.sent().to_string(),
            rate(f.achieved_per_second()),
            format!("{} ({})", f.acked, rate(f.acked_per_second())),
            f.limited.to_string(),
            f.other_errors.to_string(),
            connection(f),
        ]);
    }
    out.push_str(&markdown_table(&header, &table));
    out.push('\n');
    for row in rows {
        let f = &row.flood;
        let _ = writeln!(
            out,
            "- {} with the flood: {} sends in {}; {} acked, {} rate-limited{}, {} other \
             errors{}, {} unanswered; {} pushes of its own inbox; longest write of one burst \
             {}; measured clients: {} failed, {} unanswered sends, {} lost{}.",
            row.scenario.name(),
            f.sends_sent,
            span(f.sending),
            f.acked,
            f.limited,
            f.retry_after_ms
                .map_or(String::new(), |(low, high)| format!(
                    " (retry after {low} to {high} ms)"
                )),
            f.other_errors,
            f.first_other_error
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})")),
            f.unanswered(),
            f.pushes,
            latency(f.longest_stall),
            row.with.outcome.failed,
            row.with.outcome.unanswered,
            row.with.outcome.lost,
            if row.with.outcome.errors.is_empty() {
                String::new()
            } else {
                format!(" (errors: {})", row.with.outcome.errors.join(" / "))
            },
        );
    }
    out
}

/// Every figure of the comparison; null when it did not run.
pub fn json(rows: &[FloodRow], params: &E2eParams) -> Value {
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
                "sends_per_second_per_sender": {
                    "without": sends_per_connection(&row.without),
                    "with": sends_per_connection(&row.with),
                },
                "with_over_without": {
                    "p50": row.latency_ratio(|s| s.p50),
                    "p99": row.latency_ratio(|s| s.p99),
                    "delivered_per_second": row.delivered_ratio(),
                },
                "flood": {
                    "offered_per_second": f.rate,
                    "sent": f.sent(),
                    "sending_ms": f.sending.as_secs_f64() * 1e3,
                    "achieved_per_second": f.achieved_per_second(),
                    "longest_stall_ms": f.longest_stall.as_secs_f64() * 1e3,
                    "acked": f.acked,
                    "acked_per_second": f.acked_per_second(),
                    "limited": f.limited,
                    "retry_after_ms": f.retry_after_ms.map(|(min, max)| json!({"min": min, "max": max})),
                    "other_errors": f.other_errors,
                    "first_other_error": f.first_other_error,
                    "pushes": f.pushes,
                    "other_frames": f.other_frames,
                    "unanswered": f.unanswered(),
                    "connection_kept": f.kept,
                    "ended": f.ended,
                },
            })
        })
        .collect();
    json!({
        "rate_per_second": params.flood_rate,
        "settle_ms": params.flood_settle.as_secs_f64() * 1e3,
        "limits": {
            "connection_sends_per_sec": params.flood_sends_per_sec,
            "connection_send_burst": params.flood_send_burst,
            "user_sends_per_sec": params.flood_sends_per_sec,
            "user_send_burst": params.flood_send_burst,
        },
        "scenarios": scenarios,
    })
}

/// How the flooding connection ended.
pub(super) fn connection(f: &FloodOutcome) -> String {
    match &f.ended {
        None if f.kept => "kept".to_string(),
        None => "not answering".to_string(),
        Some(why) => format!("closed: {why}"),
    }
}

pub(super) fn cpu(row: &RunRow) -> String {
    row.cpu_ms_per_1k()
        .map_or("-".into(), |c| format!("{c:.1}"))
}

pub(super) fn times(r: f64) -> String {
    ratio(r, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::report::tests::run_row;
    use crate::e2e::servers::TargetKind;
    use crate::params::Params;

    fn row() -> FloodRow {
        let scenario = Scenario::Closed {
            pairs: 1,
            window: 1,
        };
        FloodRow {
            scenario,
            without: run_row(TargetKind::Tidings, scenario, 1_000, 1_000, 100),
            with: run_row(TargetKind::Tidings, scenario, 900, 1_200, 300),
            flood: FloodOutcome {
                rate: 20_000,
                sends_sent: 40_000,
                sending: Duration::from_secs(2),
                acked: 8_000,
                limited: 32_000,
                retry_after_ms: Some((1, 1)),
                pushes: 8_000,
                kept: true,
                ..FloodOutcome::default()
            },
        }
    }

    #[test]
    fn each_scenario_has_a_quiet_and_a_flooded_row_with_the_limits_and_counts() {
        let mut params = Params::tiny().e2e;
        params.flood_rate = 20_000;
        params.flood_sends_per_sec = 2_000;
        params.flood_send_burst = 4_000;
        let text = markdown(&[row()], &params);
        assert!(
            text.contains("One client flooding 20.0k sends/s, send limits on"),
            "{text}"
        );
        assert!(
            text.contains(
                "`user_sends_per_sec` = 2000, `connection_send_burst` = `user_send_burst` = 4000"
            ),
            "{text}"
        );
        assert!(
            text.contains("| 1 pair W=1 | off | 1.0k | 1.0k | 1.00 ms | 1.00 ms | — | — | 100.0 |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| 1 pair W=1 | 20.0k/s offered | 900 | 900 | 1.20 ms | 1.20 ms | 1.20× | 1.20× \
                 | 333.3 | 40000 | 20.0k | 8000 (4.0k) | 32000 | 0 | kept |"
            ),
            "{text}"
        );
        assert!(text.contains("(retry after 1 to 1 ms)"), "{text}");
        assert!(text.contains("0 unanswered"), "{text}");
        assert_eq!(markdown(&[], &params), "", "nothing when it did not run");
    }

    #[test]
    fn json_holds_the_limits_both_runs_the_ratios_and_the_flood() {
        let mut params = Params::tiny().e2e;
        params.flood_rate = 20_000;
        let value = json(&[row()], &params);
        assert_eq!(value["rate_per_second"], 20_000);
        assert_eq!(value["limits"]["user_send_burst"], params.flood_send_burst);
        let scenario = &value["scenarios"][0];
        assert_eq!(scenario["with"]["delivered"], 900);
        assert!((scenario["with_over_without"]["p99"].as_f64().unwrap() - 1.2).abs() < 1e-3);
        assert_eq!(scenario["flood"]["acked"], 8_000);
        assert_eq!(scenario["flood"]["limited"], 32_000);
        assert_eq!(scenario["flood"]["unanswered"], 0);
        assert_eq!(scenario["flood"]["retry_after_ms"]["max"], 1);
        assert_eq!(scenario["flood"]["connection_kept"], true);
        assert!(json(&[], &params).is_null());
    }

    #[test]
    fn the_limits_env_sets_send_limits_only_and_the_plan_targets_an_absent_peer() {
        let params = Params::full().e2e;
        let env = limits_env(&params);
        assert!(env.contains(&(
            "TIDINGS__GATEWAY__LIMITS__USER_SENDS_PER_SEC".to_string(),
            "2000".to_string()
        )));
        assert!(env.iter().all(|(k, _)| k.contains("SEND")), "{env:?}");
        let plan = send_plan(&params, "f0");
        assert_eq!(plan.user, "f0-flood");
        assert_eq!(
            plan.frames,
            Frames::Sends {
                conversation_id: "dm:f0-flood:f0-peer".to_string()
            }
        );
    }
}
