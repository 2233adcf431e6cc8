//! What telemetry costs: the same 1:1 message load against the all-in-one
//! `tidings` process started three ways, in one run: telemetry off (the
//! baseline), Prometheus metrics on (the default), and metrics plus every
//! trace exported over OTLP to a collector in this process. The baseline runs
//! first and last, so drift shows.

use std::fmt::Write as _;

use tidings_testkit::ProcessServer;
use tidings_testkit::telemetry::Collector;

use crate::e2e::{self, SendStats};
use crate::params::E2eParams;
use crate::table::{Table, count, latency, latency_ratio, rate, ratio, span};

/// Sender/receiver pairs of every mode.
pub const PAIRS: usize = 8;

/// How the server is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Metrics,
    Traces,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off (baseline)",
            Mode::Metrics => "metrics (default)",
            Mode::Traces => "metrics + traces (100% sampled, OTLP)",
        }
    }
}

/// One mode's figures.
#[derive(Debug, Clone)]
pub struct TelemetryRow {
    pub mode: Mode,
    pub send: SendStats,
    /// Spans the collector held after the mode (traces mode only).
    pub spans: usize,
}

/// Every mode, the baseline twice.
#[derive(Debug, Clone)]
pub struct TelemetryReport {
    pub rows: Vec<TelemetryRow>,
}

/// Runs the load against a fresh process per mode.
pub async fn run(params: &E2eParams) -> anyhow::Result<TelemetryReport> {
    let collector = Collector::start().await?;
    let mut rows = Vec::new();
    for mode in [Mode::Off, Mode::Metrics, Mode::Traces, Mode::Off] {
        let dir = tempfile::tempdir()?;
        let endpoint = collector.endpoint();
        let env: Vec<(&str, &str)> = match mode {
            Mode::Off => vec![("TIDINGS__TELEMETRY__METRICS", "false")],
            Mode::Metrics => vec![],
            Mode::Traces => vec![
                ("TIDINGS__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
                ("TIDINGS__TELEMETRY__SAMPLE_RATIO", "1.0"),
            ],
        };
        let server = ProcessServer::start(dir.path(), &env)?;
        let before = collector.spans().len();
        let send = e2e::run_against(&server.ws_url, PAIRS, params).await?;
        server.terminate()?;
        rows.push(TelemetryRow {
            mode,
            send,
            spans: collector.spans().len() - before,
        });
    }
    Ok(TelemetryReport { rows })
}

/// The telemetry table.
pub fn render(params: &E2eParams, report: &TelemetryReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== telemetry cost: 1:1 messages against the all-in-one process ==\n\
         {PAIRS} sender/receiver pairs, each sender at most {} messages within {}; a fresh \
         `tidings` process per mode, the baseline (telemetry off) first and last\n\
         baseline: the mean of the two telemetry-off runs\n",
        params.messages,
        span(params.send_time),
    );
    let baselines: Vec<&SendStats> = report
        .rows
        .iter()
        .filter(|r| r.mode == Mode::Off)
        .map(|r| &r.send)
        .collect();
    let n = baselines.len().max(1) as f64;
    let base_rate = baselines
        .iter()
        .map(|s| s.messages_per_second())
        .sum::<f64>()
        / n;
    let mean = |f: &dyn Fn(&SendStats) -> std::time::Duration| {
        baselines.iter().map(|s| f(s)).sum::<std::time::Duration>() / baselines.len().max(1) as u32
    };
    let base_ack = mean(&|s| s.ack_latency.p50);
    let base_push = mean(&|s| s.push_latency.p50);
    let base_push99 = mean(&|s| s.push_latency.p99);
    let mut table = Table::new(
        &[
            "telemetry",
            "acked",
            "msgs/s",
            "×base",
            "ack p50",
            "×base",
            "push p50",
            "×base",
            "push p99",
            "×base",
            "spans",
        ],
        1,
    );
    for row in &report.rows {
        let s = &row.send;
        table.row(vec![
            row.mode.name().into(),
            count(s.acked),
            rate(s.messages_per_second()),
            ratio(s.messages_per_second(), base_rate),
            latency(s.ack_latency.p50),
            latency_ratio(s.ack_latency.p50, base_ack),
            latency(s.push_latency.p50),
            latency_ratio(s.push_latency.p50, base_push),
            latency(s.push_latency.p99),
            latency_ratio(s.push_latency.p99, base_push99),
            if row.mode == Mode::Traces {
                count(row.spans as u64)
            } else {
                "-".into()
            },
        ]);
    }
    out.push_str(&table.render());
    out
}
