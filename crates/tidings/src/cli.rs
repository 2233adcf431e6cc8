//! Command-line entry points shared by every binary: parse arguments, load
//! configuration, set up logs, run, wait for a signal, drain.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use tidings_telemetry::Telemetry;

use crate::AllInOne;
use crate::config::TidingsConfig;
use crate::run::{self, ServiceKind};

/// Arguments of a one-service binary.
#[derive(Debug, Parser)]
#[command(version)]
struct ServiceArgs {
    /// Configuration file (TOML); `TIDINGS__SECTION__KEY` variables override it.
    #[arg(long, short, env = "TIDINGS_CONFIG")]
    config: Option<PathBuf>,
}

/// `tidings-<service>`: runs one service until SIGINT or SIGTERM.
pub fn service_main(kind: ServiceKind) -> anyhow::Result<()> {
    tidings_alloc::tune();
    let args = ServiceArgs::parse();
    let config = TidingsConfig::load(args.config.as_deref())?;
    let name = format!("tidings-{}", kind.name());
    with_telemetry(&config, &name, async {
        let service = run::start(kind, &config).await?;
        // One machine-readable line: scripts and tests read the addresses.
        let fields: Vec<String> = service
            .listening
            .iter()
            .map(|(name, addr)| format!("{name}={addr}"))
            .collect();
        println!("tidings-{} listening {}", kind.name(), fields.join(" "));
        shutdown_signal().await;
        tracing::info!(service = kind.name(), "shutting down");
        service.shutdown().await;
        Ok(())
    })
}

/// Runs `main` on a new runtime with telemetry installed as `service`. The
/// span exporter needs the runtime, so telemetry starts inside it; it is
/// flushed once `main` is done.
fn with_telemetry(
    config: &TidingsConfig,
    service: &str,
    main: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let telemetry =
        runtime.block_on(async { Telemetry::init(&config.log, &config.telemetry, service) })?;
    let result = runtime.block_on(main);
    telemetry.shutdown();
    result
}

/// Tidings instant-messaging backend.
#[derive(Debug, Parser)]
#[command(version, about)]
struct AllInOneArgs {
    /// Configuration file (TOML); `TIDINGS__SECTION__KEY` variables override it.
    #[arg(long, short, env = "TIDINGS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service in this process (the default).
    Run,
    /// Print the hex SHA-256 of a server API key, for `[server_api] keys`
    /// (`-` reads the key from standard input, keeping it out of the shell
    /// history).
    HashApiKey { key: String },
    /// Check that the internal gRPC port at ADDRESS (host:port) is serving,
    /// over TLS when `[grpc.tls]` is set (the chart's probes then use it);
    /// exits non-zero when it is not.
    Health {
        address: String,
        /// The service to ask about, e.g. tidings.store.v1.StoreService;
        /// empty: the whole server.
        #[arg(long, default_value = "")]
        service: String,
        /// How long to wait for the answer, connection included.
        #[arg(long, value_name = "MILLISECONDS", default_value_t = 2_000)]
        timeout_ms: u64,
    },
    /// Create or upgrade the ScyllaDB schema named by `[scylla]`; idempotent.
    Migrate {
        /// Keep trying for up to this many seconds while the CQL node does
        /// not answer yet (e.g. right after it was started or restarted).
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u64,
    },
}

/// `tidings`: the all-in-one server, and `tidings migrate`.
pub fn all_in_one_main() -> anyhow::Result<()> {
    tidings_alloc::tune();
    let args = AllInOneArgs::parse();
    // Needs no configuration, so it works before there is one.
    if let Some(Command::HashApiKey { key }) = &args.command {
        println!("{}", hash_api_key(key)?);
        return Ok(());
    }
    let config = TidingsConfig::load(args.config.as_deref())?;
    // A probe, run every few seconds: no telemetry, no log set-up.
    if let Some(Command::Health {
        address,
        service,
        timeout_ms,
    }) = &args.command
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let deadline = Duration::from_millis(*timeout_ms);
        runtime.block_on(crate::health::check(&config, address, service, deadline))?;
        println!("SERVING");
        return Ok(());
    }
    let command = args.command.unwrap_or(Command::Run);
    with_telemetry(&config, "tidings", async {
        match command {
            Command::Migrate { wait } => {
                let report = migrate_when_ready(&config, Duration::from_secs(wait)).await?;
                println!("{report}");
            }
            Command::Run => run_all_in_one(config.clone()).await?,
            Command::HashApiKey { .. } | Command::Health { .. } => {
                unreachable!("answered before telemetry starts")
            }
        }
        Ok(())
    })
}

/// The hash of `key` (`-`: one line of standard input).
fn hash_api_key(key: &str) -> anyhow::Result<String> {
    let key = if key == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        key.to_string()
    };
    anyhow::ensure!(!key.is_empty(), "the key is empty");
    Ok(tidings_server_api::hash_key(&key))
}

/// Migrates, retrying for up to `patience` while the node is not reachable.
async fn migrate_when_ready(
    config: &TidingsConfig,
    patience: Duration,
) -> anyhow::Result<tidings_storage_scylla::MigrationReport> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tidings_storage_scylla::migrate(&config.scylla).await {
            Ok(report) => return Ok(report),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "cql node not ready; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts every service, prints where they listen, and runs until a signal.
async fn run_all_in_one(config: TidingsConfig) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let server = AllInOne::start(config).await?;
    let a = server.addresses;
    // One machine-readable line first (tests and scripts read it), then the
    // human summary.
    let metrics = a
        .metrics
        .map(|m| format!(" metrics={m}"))
        .unwrap_or_default();
    println!(
        "tidings listening gateway_ws={} gateway_grpc={} logic={} sequence={} store={} sync={} server_api={}{metrics}",
        a.gateway_ws, a.gateway_grpc, a.logic, a.sequence, a.store, a.sync, a.server_api
    );
    println!("  client WebSocket: {}", a.ws_url());
    if let Some(web) = a.web_url() {
        println!("  web chat:         {web}");
    }
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
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
