//! Every figure of a comparison as JSON, for tools: all percentiles of
//! send-to-deliver and send-to-ack latency in microseconds, counts, CPU of
//! the servers and of the load generator, memory, the disk baseline, the
//! machine and the parameters.

use std::time::Duration;

use serde_json::{Value, json};

use super::fsync::FsyncBaseline;
use super::report::E2eReport;
use super::scenario::RunRow;
use super::servers::TargetKind;
use crate::latency::Latencies;

/// Every figure, for tools.
pub fn json(report: &E2eReport) -> Value {
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|row| run_json(row, report.relay_row(row.scenario)))
        .collect();
    let idle: Vec<Value> = report
        .idle
        .iter()
        .map(|row| {
            json!({
                "target": row.target,
                "connections": row.connections,
                "rss_before_kib": row.rss_before_kib,
                "rss_after_kib": row.rss_after_kib,
                "kib_per_connection": row.kib_per_connection(),
                "skipped": row.skipped,
            })
        })
        .collect();
    let fsync = report.fsync_mean();
    let single_pair: Vec<Value> = report
        .single_pair_rows()
        .map(|r| {
            let p50 = r.outcome.latency.summary().p50;
            json!({
                "target": r.target,
                "p50_us": micros_of(p50),
                "p50_over_fdatasync": p50.as_secs_f64() / fsync.as_secs_f64().max(1e-12),
            })
        })
        .collect();
    json!({
        "shape": report.shape,
        "quick": report.quick,
        "machine": report.machine,
        "params": report.params,
        "processes": report.processes.iter().map(|(k, names)| json!({"target": k, "processes": names})).collect::<Vec<_>>(),
        "server_open_files": report.server_open_files.iter().map(|(k, limit)| json!({"target": k, "soft_limit": limit})).collect::<Vec<_>>(),
        "fdatasync": {
            "before": fsync_json(&report.fsync_before),
            "after": fsync_json(&report.fsync_after),
            "mean_us": micros_of(fsync),
            "single_pair_p50": single_pair,
        },
        "rows": rows,
        "idle": idle,
        "garbage": super::garbage::json(&report.garbage, &report.params),
        "send_flood": super::flood::json(&report.send_flood, &report.params),
    })
}

/// Every figure of one run; `relay` is the relay's run of the same scenario,
/// for the ratios (none: they are null).
pub(super) fn run_json(row: &RunRow, relay: Option<&RunRow>) -> Value {
    let o = &row.outcome;
    let versus = |f: fn(&RunRow) -> f64| match relay {
        Some(r) if row.target != TargetKind::Relay => {
            let base = f(r);
            (base > 0.0).then(|| f(row) / base)
        }
        _ => None,
    };
    json!({
        "target": row.target,
        "scenario": row.scenario,
        "name": row.scenario.name(),
        "scheduled": o.scheduled,
        "sent": o.sent,
        "acked": o.acked,
        "failed": o.failed,
        "unanswered": o.unanswered,
        "delivered": o.delivered,
        "lost": o.lost,
        "duplicates": o.duplicates,
        "sender_echoes": o.echoes,
        "saturated": o.saturated(),
        "sent_per_second": o.sent_per_second(),
        "delivered_per_second": o.delivered_per_second(),
        "max_send_lag_ms": o.max_send_lag.as_secs_f64() * 1e3,
        "latency_us": percentiles(&o.latency),
        "ack_latency_us": percentiles(&o.ack_latency),
        "server_cpu_ms": row.server_cpu.as_secs_f64() * 1e3,
        "server_cpu_ms_per_1k": row.cpu_ms_per_1k(),
        "client_cpu_ms": row.client_cpu.as_secs_f64() * 1e3,
        "errors": o.errors,
        "versus_relay": {
            "delivered_per_second": versus(|r| r.outcome.delivered_per_second()),
            "p50": versus(|r| r.outcome.latency.summary().p50.as_secs_f64()),
            "p99": versus(|r| r.outcome.latency.summary().p99.as_secs_f64()),
            "server_cpu_per_1k": versus(|r| r.cpu_ms_per_1k().unwrap_or(0.0)),
        },
    })
}

fn fsync_json(f: &FsyncBaseline) -> Value {
    json!({
        "samples": f.samples,
        "mean_us": micros_of(f.mean),
        "p50_us": micros_of(f.summary.p50),
        "p99_us": micros_of(f.summary.p99),
        "max_us": micros_of(f.summary.max),
    })
}

fn percentiles(latencies: &Latencies) -> Value {
    let s = latencies.summary();
    json!({
        "samples": s.samples,
        "p50": micros_of(s.p50),
        "p90": micros_of(s.p90),
        "p99": micros_of(s.p99),
        "p99.9": micros_of(s.p999),
        "max": micros_of(s.max),
    })
}

fn micros_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Serialises a `Duration` as fractional milliseconds.
pub mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }
}

/// Serialises a `Duration` as fractional microseconds.
pub mod micros {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::report::tests::report;

    #[test]
    fn json_holds_every_figure() {
        let value = json(&report());
        let rows = value["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1]["target"], "tidings");
        assert_eq!(rows[1]["scenario"]["loop"], "closed");
        assert_eq!(rows[1]["delivered"], 1_000);
        assert_eq!(rows[1]["latency_us"]["samples"], 100);
        assert!(
            (rows[1]["versus_relay"]["delivered_per_second"]
                .as_f64()
                .unwrap()
                - 0.1)
                .abs()
                < 1e-9
        );
        assert!(
            rows[0]["versus_relay"]["p50"].is_null(),
            "no ratio on the relay's rows"
        );
        assert_eq!(rows[3]["scenario"]["rate"], 1_000);
        assert!((value["fdatasync"]["mean_us"].as_f64().unwrap() - 2_000.0).abs() < 1e-6);
        let single = value["fdatasync"]["single_pair_p50"].as_array().unwrap();
        assert_eq!(single.len(), 2);
        assert_eq!(value["idle"][1]["kib_per_connection"], 40.0);
        assert_eq!(value["params"]["open_pairs"], 2);
        assert_eq!(value["machine"]["cores"], 2);
    }
}
