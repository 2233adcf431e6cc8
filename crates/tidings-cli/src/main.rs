//! `tidings-cli`: parse arguments, set up logging and a runtime, run one
//! command, exit with its code.

use std::process::ExitCode;

use clap::Parser;
use tidings_cli::{Cli, CliError};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(tidings_cli::report_parse_error(e, &args)),
    };
    let json = cli.json;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let error = CliError::Connection(format!("cannot start the runtime: {e}"));
            return ExitCode::from(tidings_cli::report(&error, json));
        }
    };
    let result = runtime.block_on(tidings_cli::run(cli));
    // A read of standard input (`room chat`) may still wait for a line on a
    // blocking thread: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(tidings_cli::report(&e, json)),
    }
}
