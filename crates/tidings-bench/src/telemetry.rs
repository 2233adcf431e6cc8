//! What telemetry costs: the same 1:1 message load against the all-in-one
//! `tidings` process started three ways, in one run: telemetry off (the
//! baseline), Prometheus metrics on (the default), and metrics plus every
//! trace exported over OTLP to a collector in this process. The baseline runs
//! first and last, so drift shows.

use std::fmt::Write as _;
use std::sync::Arc;

use tidings_testkit::ProcessServer;
use tidings_testkit::telemetry::Collector;

use crate::latency::LatencySummary;
use crate::load::{Live, LoadOutcome, LoadSpec, Pairs, Shape};
use crate::params::E2eParams;
use crate::table::{Table, count, latency, latency_ratio, rate, ratio, span};

/// Sender/receiver pairs of every mode, one send in flight each.
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
    pub send: LoadOutcome,
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
        let tag = format!("t{}", rows.len());
        let pairs = Pairs::connect(&server.ws_url, PAIRS, &tag, params.connect_concurrency).await?;
        let spec = LoadSpec {
            shape: Shape::Closed { window: 1 },
            duration: params.closed_time,
            max_messages: params.max_messages,
            drain: params.drain_time,
        };
        let send = pairs.drive(&spec, Arc::new(Live::default())).await?;
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
         {PAIRS} sender/receiver pairs, one send in flight each, each sender at most {} messages \
         within {}; a fresh `tidings` process per mode, the baseline (telemetry off) first and \
         last\n\
         baseline: the mean of the two telemetry-off runs\n",
        params.max_messages,
        span(params.closed_time),
    );
    let baselines: Vec<&LoadOutcome> = report
        .rows
        .iter()
        .filter(|r| r.mode == Mode::Off)
        .map(|r| &r.send)
        .collect();
    let n = baselines.len().max(1) as f64;
    let base_rate = baselines
        .iter()
        .map(|s| s.delivered_per_second())
        .sum::<f64>()
        / n;
    let mean = |f: &dyn Fn(&LoadOutcome) -> std::time::Duration| {
        baselines.iter().map(|s| f(s)).sum::<std::time::Duration>() / baselines.len().max(1) as u32
    };
    let ack = |s: &LoadOutcome| -> LatencySummary { s.ack_latency.summary() };
    let deliver = |s: &LoadOutcome| -> LatencySummary { s.latency.summary() };
    let base_ack = mean(&|s| ack(s).p50);
    let base_push = mean(&|s| deliver(s).p50);
    let base_push99 = mean(&|s| deliver(s).p99);
    let mut table = Table::new(
        &[
            "telemetry",
            "delivered",
            "msgs/s",
            "×base",
            "ack p50",
            "×base",
            "deliver p50",
            "×base",
            "deliver p99",
            "×base",
            "spans",
        ],
        1,
    );
    for row in &report.rows {
        let s = &row.send;
        let (a, d) = (ack(s), deliver(s));
        table.row(vec![
            row.mode.name().into(),
            count(s.delivered),
            rate(s.delivered_per_second()),
            ratio(s.delivered_per_second(), base_rate),
            latency(a.p50),
            latency_ratio(a.p50, base_ack),
            latency(d.p50),
            latency_ratio(d.p50, base_push),
            latency(d.p99),
            latency_ratio(d.p99, base_push99),
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
