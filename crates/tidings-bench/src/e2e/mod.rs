//! End-to-end benchmark: 1:1 messages over WebSocket, Tidings against a bare
//! relay that speaks the same protocol subset ([`crate::relay`]), both driven
//! by the same load generator ([`crate::load`]) in the same run.
//!
//! Each target runs as processes of its own on ephemeral loopback ports: the
//! relay, and the all-in-one `tidings` (or, with `--shape distributed`, one
//! process per service on a CQL node and Redis). Per scenario (closed loops
//! of P pairs with W sends in flight, open loops at fixed offered rates) the
//! relay runs first and Tidings right after, with fresh users, so drift of
//! the machine hits both alike. Around each run the targets' CPU time is
//! read from `/proc`; fresh processes then hold N idle connections for the
//! memory rows; an `fdatasync` baseline is measured before and after.
//! With `--garbage N`, the garbage comparison ([`garbage`]) runs on the same
//! Tidings processes after the scenarios: the 1-pair and 64-pair W=1 closed
//! loops without and then with one more client flooding N garbage frames/s.
//! With `--flood N`, the send-flood comparison ([`flood`]) runs the same
//! loops on a fresh Tidings with send limits on, without and then with one
//! more client of its own user flooding N valid sends/s.
//!
//! This module must never gate anything on a figure, and never talk to
//! anything but loopback addresses.

pub mod flood;
mod fsync;
pub mod garbage;
mod idle;
pub mod json;
mod machine;
pub mod procfs;
pub mod report;
mod scenario;
pub mod servers;
pub mod svg;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::limits;
use crate::load::Live;
use crate::params::E2eParams;
pub use idle::IdleRow;
pub use report::E2eReport;
pub use scenario::{RunRow, Scenario};
use servers::{Target, TargetKind};

/// Where the Tidings side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeploymentShape {
    /// The all-in-one `tidings` process on the embedded store.
    #[default]
    AllInOne,
    /// One process per service on a CQL node and Redis.
    Distributed,
}

impl DeploymentShape {
    pub fn name(self) -> &'static str {
        match self {
            DeploymentShape::AllInOne => "all-in-one",
            DeploymentShape::Distributed => "distributed",
        }
    }
}

/// How the comparison runs and where its files go.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub shape: DeploymentShape,
    /// Directory of the markdown, JSON and SVG files.
    pub out: PathBuf,
    pub quick: bool,
}

/// Runs the comparison.
pub async fn run(params: &E2eParams, options: &E2eOptions) -> anyhow::Result<E2eReport> {
    let open_files = limits::open_files();
    let data_root = tempfile::Builder::new()
        .prefix("tidings-bench-")
        .tempdir()?;
    let machine = machine::Machine::detect(data_root.path(), open_files);
    let scenarios = Scenario::all(params);
    let garbage_scenarios = garbage::scenarios(params);
    let flood_scenarios = flood::scenarios(params);
    let idle_steps = if params.idle.is_empty() { 0 } else { 2 };
    let flood_steps = if flood_scenarios.is_empty() {
        0
    } else {
        1 + 2 * flood_scenarios.len()
    };
    let progress = Progress::new(
        (5 + 2 * scenarios.len() + 2 * garbage_scenarios.len() + flood_steps + idle_steps) as u64,
    );

    progress.step("fdatasync baseline");
    let fsync_before = fsync::measure(data_root.path(), params.fsyncs, params.fsync_time)?;

    progress.step("starting the relay and tidings");
    let relay = servers::start_relay()?;
    let tidings = start_tidings(options.shape, data_root.path(), &[])?;
    let processes = vec![
        (relay.kind, relay.process_names()),
        (tidings.kind, tidings.process_names()),
    ];
    let server_open_files = vec![
        (relay.kind, relay.open_files_limit()),
        (tidings.kind, tidings.open_files_limit()),
    ];

    let mut rows = Vec::new();
    {
        let targets = [&relay, &tidings];
        for target in targets {
            progress.step(&format!("{}: warm-up", target.kind.label()));
            scenario::warm_up(target, params, progress.live())
                .await
                .with_context(|| format!("{} warm-up", target.kind.label()))?;
        }
        for (i, scenario) in scenarios.iter().enumerate() {
            for target in targets {
                progress.step(&format!("{}: {}", target.kind.label(), scenario.name()));
                let row =
                    scenario::run(target, *scenario, params, &format!("s{i}"), progress.live())
                        .await
                        .with_context(|| format!("{} {}", target.kind.label(), scenario.name()))?;
                rows.push(row);
            }
        }
    }
    let mut garbage_rows = Vec::new();
    for (i, &scenario) in garbage_scenarios.iter().enumerate() {
        let label = tidings.kind.label();
        progress.step(&format!("{label}: {} without garbage", scenario.name()));
        let without = scenario::run(
            &tidings,
            scenario,
            params,
            &format!("g{i}"),
            progress.live(),
        )
        .await
        .with_context(|| format!("{label} {} without garbage", scenario.name()))?;
        progress.step(&format!(
            "{label}: {} with {} garbage frames/s",
            scenario.name(),
            params.garbage_rate
        ));
        let tag = format!("g{i}f");
        let (with, flood) = flood::run_flooded(
            &tidings,
            scenario,
            params,
            &tag,
            progress.live(),
            garbage::plan(params, &tag),
        )
        .await
        .with_context(|| format!("{label} {} with garbage", scenario.name()))?;
        garbage_rows.push(garbage::GarbageRow {
            scenario,
            without,
            with,
            flood,
        });
    }
    relay.stop();
    tidings.stop();

    let send_flood_rows = if flood_scenarios.is_empty() {
        Vec::new()
    } else {
        run_send_flood(params, options, data_root.path(), &progress).await?
    };

    let mut idle_rows = Vec::new();
    if !params.idle.is_empty() {
        for kind in [TargetKind::Relay, TargetKind::Tidings] {
            let label = match kind {
                TargetKind::Relay => "relay",
                _ => "tidings",
            };
            progress.step(&format!("{label}: idle connections"));
            let target = match kind {
                TargetKind::Relay => servers::start_relay()?,
                _ => start_tidings(options.shape, data_root.path(), &[])?,
            };
            let measured = idle::measure(
                &target,
                &params.idle,
                open_files,
                params.connect_concurrency,
                |row| progress.note(&format!("{} idle connections open", row.connections)),
            )
            .await
            .with_context(|| format!("{label} idle connections"))?;
            idle_rows.extend(measured);
            target.stop();
        }
    }

    progress.step("fdatasync baseline again");
    let fsync_after = fsync::measure(data_root.path(), params.fsyncs, params.fsync_time)?;
    progress.finish();

    Ok(E2eReport {
        shape: options.shape.name(),
        quick: options.quick,
        machine,
        params: params.clone(),
        fsync_before,
        fsync_after,
        rows,
        idle: idle_rows,
        garbage: garbage_rows,
        send_flood: send_flood_rows,
        processes,
        server_open_files,
    })
}

/// The send-flood comparison, on a Tidings of its own with the send limits
/// on: a warm-up, then each scenario without and with the flood.
async fn run_send_flood(
    params: &E2eParams,
    options: &E2eOptions,
    data_root: &Path,
    progress: &Progress,
) -> anyhow::Result<Vec<flood::FloodRow>> {
    progress.step(&format!(
        "starting tidings with send limits of {}/s and warming it up",
        params.flood_sends_per_sec
    ));
    let limited = start_tidings(options.shape, data_root, &flood::limits_env(params))?;
    let label = limited.kind.label();
    scenario::warm_up(&limited, params, progress.live())
        .await
        .with_context(|| format!("{label} with send limits: warm-up"))?;
    let mut rows = Vec::new();
    for (i, scenario) in flood::scenarios(params).into_iter().enumerate() {
        progress.step(&format!(
            "{label}: {} without the send flood",
            scenario.name()
        ));
        let without = scenario::run(
            &limited,
            scenario,
            params,
            &format!("f{i}"),
            progress.live(),
        )
        .await
        .with_context(|| format!("{label} {} without the send flood", scenario.name()))?;
        progress.step(&format!(
            "{label}: {} with {} sends/s",
            scenario.name(),
            params.flood_rate
        ));
        let tag = format!("f{i}f");
        let (with, flood) = flood::run_flooded(
            &limited,
            scenario,
            params,
            &tag,
            progress.live(),
            flood::send_plan(params, &tag),
        )
        .await
        .with_context(|| format!("{label} {} with the send flood", scenario.name()))?;
        rows.push(flood::FloodRow {
            scenario,
            without,
            with,
            flood,
        });
    }
    limited.stop();
    Ok(rows)
}

/// Tidings in `shape`, with `env` on top of the benchmark's environment.
fn start_tidings(
    shape: DeploymentShape,
    data_root: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Target> {
    match shape {
        DeploymentShape::AllInOne => servers::start_all_in_one(data_root, env),
        DeploymentShape::Distributed => {
            let services = servers::cluster_services()?;
            servers::start_distributed(&services, env)
        }
    }
}

/// The files a run wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub markdown: PathBuf,
    pub json: PathBuf,
    pub svg: PathBuf,
}

/// Writes `e2e-<shape>.md`, `.json` and `e2e-<shape>-open-loop.svg` under
/// `out`.
pub fn write(report: &E2eReport, out: &Path) -> anyhow::Result<Written> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let written = Written {
        markdown: out.join(format!("e2e-{}.md", report.shape)),
        json: out.join(format!("e2e-{}.json", report.shape)),
        svg: out.join(format!("e2e-{}-open-loop.svg", report.shape)),
    };
    std::fs::write(&written.markdown, report::markdown(report))?;
    std::fs::write(
        &written.json,
        serde_json::to_string_pretty(&json::json(report))? + "\n",
    )?;
    std::fs::write(&written.svg, report::open_loop_svg(report))?;
    Ok(written)
}

/// The progress bar on stderr: one step per run, with the live counts of
/// the current one.
struct Progress {
    bar: ProgressBar,
    live: Arc<Live>,
    label: Arc<Mutex<String>>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn new(steps: u64) -> Progress {
        let bar = ProgressBar::new(steps);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let live = Arc::new(Live::default());
        let label = Arc::new(Mutex::new(String::new()));
        let ticker = {
            let (bar, live, label) = (bar.clone(), Arc::clone(&live), Arc::clone(&label));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let sent = live.sent.load(Ordering::Relaxed);
                    if sent == 0 {
                        continue;
                    }
                    let delivered = live.delivered.load(Ordering::Relaxed);
                    let label = label.lock().map(|l| l.clone()).unwrap_or_default();
                    bar.set_message(format!("{label}: sent {sent}, delivered {delivered}"));
                }
            })
        };
        Progress {
            bar,
            live,
            label,
            ticker,
        }
    }

    /// Counters of the current step.
    fn live(&self) -> Arc<Live> {
        Arc::clone(&self.live)
    }

    /// Finishes the current step (if any) and starts `label`.
    fn step(&self, label: &str) {
        let mut current = self.label.lock().unwrap_or_else(|e| e.into_inner());
        if !current.is_empty() {
            self.bar.inc(1);
        }
        *current = label.to_string();
        self.live.sent.store(0, Ordering::Relaxed);
        self.live.delivered.store(0, Ordering::Relaxed);
        self.bar.set_message(label.to_string());
    }

    fn note(&self, text: &str) {
        let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
        self.bar.set_message(format!("{label}: {text}"));
    }

    fn finish(&self) {
        self.ticker.abort();
        self.bar.inc(1);
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}
