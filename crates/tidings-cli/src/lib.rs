//! The `tidings-cli` commands: send a message, listen to an inbox, read a
//! conversation's history. Each command is one module; `main.rs` only wires.
//!
//! The CLI authenticates with the development token `dev:<user>`, so it only
//! works against a gateway that accepts development tokens. It keeps no state
//! between runs: `listen` prints its checkpoint at exit so the next run can
//! resume with `--checkpoint`.

pub mod history;
pub mod listen;
pub mod output;
pub mod send;

use clap::{Parser, Subcommand};
use tidings_client::ClientError;
use tidings_core::UserId;

/// Command-line client for a Tidings gateway.
#[derive(Debug, Parser)]
#[command(name = "tidings-cli", version, about)]
pub struct Cli {
    /// WebSocket URL of the gateway.
    #[arg(
        long,
        global = true,
        env = "TIDINGS_URL",
        default_value = "ws://127.0.0.1:7400/ws"
    )]
    pub url: String,

    /// User to act as (sends the development token `dev:<user>`). Required.
    #[arg(long, global = true, env = "TIDINGS_USER")]
    pub user: Option<String>,

    /// Device id announced in Hello.
    #[arg(long, global = true, env = "TIDINGS_DEVICE", default_value = "cli")]
    pub device: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a text message to another user; prints `conversation  conv_seq  message_id`.
    Send(send::SendArgs),
    /// Pull the inbox after a checkpoint, then print pushes until Ctrl-C; prints
    /// `inbox_seq  conversation  conv_seq  sender  text` per entry.
    Listen(listen::ListenArgs),
    /// Print a 1:1 conversation's history, newest first; prints
    /// `conv_seq  sender  text` per message.
    History(history::HistoryArgs),
}

/// Who the CLI acts as, and where.
#[derive(Debug, Clone)]
pub struct Identity {
    pub url: String,
    pub user: UserId,
    pub device: String,
}

impl Identity {
    pub fn token(&self) -> String {
        tidings_client::dev_token(self.user.as_str())
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let user = cli
        .user
        .ok_or_else(|| anyhow::anyhow!("--user (or TIDINGS_USER) is required"))?;
    let identity = Identity {
        url: cli.url,
        user: parse_user("--user", &user)?,
        device: cli.device,
    };
    match cli.command {
        Command::Send(args) => send::run(&identity, args).await,
        Command::Listen(args) => listen::run(&identity, args).await,
        Command::History(args) => history::run(&identity, args).await,
    }
}

/// Validates a user id given on the command line, naming the flag.
pub fn parse_user(flag: &str, value: &str) -> anyhow::Result<UserId> {
    UserId::parse(value).map_err(|e| anyhow::anyhow!("{flag}: {}", e.message))
}

/// One line describing an error: a server error shows its stable code and message.
pub fn describe(error: &anyhow::Error) -> String {
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Server { code, message, .. }) => format!("{code}: {message}"),
        // A client error's text already includes its cause.
        Some(client_error) => client_error.to_string(),
        None => format!("{error:#}"),
    }
}
