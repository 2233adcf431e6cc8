//! `tidings`: the all-in-one server. Wiring only: config, telemetry, start,
//! wait for a signal, drain.

use std::path::PathBuf;

use clap::Parser;
use tidings::{AllInOne, TidingsConfig, telemetry};

/// Tidings instant-messaging backend, every service in one process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); `TIDINGS__SECTION__KEY` variables override it.
    #[arg(long, short, env = "TIDINGS_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = TidingsConfig::load(args.config.as_deref())?;
    telemetry::init(&config.log);
    let data_dir = config.data_dir.clone();
    let server = AllInOne::start(config).await?;
    let a = server.addresses;
    // One machine-readable line first (tests and scripts read it), then the
    // human summary.
    println!(
        "tidings listening gateway_ws={} gateway_grpc={} logic={} sequence={} store={} sync={}",
        a.gateway_ws, a.gateway_grpc, a.logic, a.sequence, a.store, a.sync
    );
    println!("  client WebSocket: {}", a.ws_url());
    println!("  data directory:   {}", data_dir.display());
    println!(
        "  try: tidings-cli --user bob listen   and   tidings-cli --user alice send --to bob hello"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
