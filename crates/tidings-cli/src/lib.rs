//! The `tidings-cli` commands: the client protocol from a shell. Send to and
//! read 1:1 and group conversations, follow an inbox, manage groups, list
//! conversations with unread counts, move read positions, use live rooms,
//! signal typing and watch presence. Each command is one module; `main.rs` only wires.
//!
//! Every command opens one connection, says `Hello`, does its requests and
//! closes. It authenticates with `--token` (e.g. a JWT; the server derives
//! the user from it) or, against a gateway with development tokens enabled,
//! with `--user` (the token `dev:<user>`). It keeps no state between runs:
//! `listen` prints its checkpoint at exit so the next run can resume with
//! `--checkpoint`. Input is validated before anything is sent.
//!
//! Output is text for people or, with `--json`, JSON for scripts (see
//! [`output`]); failures print a stable code and exit nonzero (see
//! [`error`]). The CLI must never pick a user id itself: with `--token` it
//! learns it from the server.

pub mod conversations;
pub mod error;
pub mod group;
pub mod history;
pub mod listen;
pub mod message_events;
pub mod output;
pub mod presence;
pub mod read;
pub mod room;
pub mod send;
pub mod session;
pub mod target;

use clap::{Parser, Subcommand};

pub use error::CliError;
use output::Printer;
use session::{Credentials, Identity};

/// Where help lists the options every command takes.
const GLOBAL: &str = "Global options";

/// Command-line client for a Tidings gateway.
///
/// Authenticate with --token (or TIDINGS_TOKEN), or with --user against a
/// gateway that accepts development tokens. Exit codes: 0 done, 1 refused
/// by the server, 2 bad command line, 3 gateway unreachable or not
/// answering.
#[derive(Debug, Parser)]
#[command(name = "tidings-cli", version, about, long_about)]
pub struct Cli {
    /// WebSocket URL of the gateway.
    #[arg(
        long,
        global = true,
        env = "TIDINGS_URL",
        default_value = "ws://127.0.0.1:7400/ws",
        help_heading = GLOBAL
    )]
    pub url: String,

    /// Bearer token sent in Hello, e.g. a JWT whose `sub` is the user. Prefer
    /// the environment variable: command lines are visible to other users.
    #[arg(
        long,
        global = true,
        env = "TIDINGS_TOKEN",
        hide_env_values = true,
        help_heading = GLOBAL
    )]
    pub token: Option<String>,

    /// Act as this user with the development token `dev:<user>` (only
    /// accepted by a gateway with development tokens enabled).
    #[arg(long, global = true, env = "TIDINGS_USER", help_heading = GLOBAL)]
    pub user: Option<String>,

    /// Device id announced in Hello (1 to 64 of [A-Za-z0-9_.-]).
    #[arg(
        long,
        global = true,
        env = "TIDINGS_DEVICE",
        default_value = "cli",
        help_heading = GLOBAL
    )]
    pub device: String,

    /// Print JSON: one document per command, one object per line for
    /// streams, errors as `{"error": {"code", "message", ...}}` on stderr.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a message to a 1:1 or group conversation; prints
    /// `conversation  conv_seq  message_id`.
    Send(send::SendArgs),
    /// Replace the text of one of your messages (within the server's edit
    /// window); prints the event's `conversation  conv_seq  message_id`.
    Edit(message_events::EditArgs),
    /// Recall one of your messages (within the edit window).
    Recall(message_events::TargetArgs),
    /// Delete a message for everyone (a group's owner; in a 1:1 your own).
    Delete(message_events::TargetArgs),
    /// Add an emoji reaction to a message, or take it back with --remove.
    React(message_events::ReactArgs),
    /// Pull the inbox after a checkpoint, then print pushes until Ctrl-C or
    /// SIGTERM; prints `inbox_seq  conversation  conv_seq  sender  text` per
    /// entry and `checkpoint  <seq>` at the end, to resume from.
    Listen(listen::ListenArgs),
    /// Print a conversation's history, newest first; prints
    /// `conv_seq  sender  text` per message.
    History(history::HistoryArgs),
    /// List the caller's conversations, most recent first; prints
    /// `conversation  unread  read_seq  last_conv_seq` per conversation.
    Conversations(conversations::ConversationsArgs),
    /// Mark conversations read, and show read positions.
    #[command(subcommand)]
    Read(read::ReadCommand),
    /// Create groups and manage their members.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Join live rooms, send to them and follow them.
    #[command(subcommand)]
    Room(room::RoomCommand),
    /// Tell a conversation's other members' online devices that you are
    /// typing; prints `conversation  forwarded|throttled`.
    Typing(presence::TypingArgs),
    /// Watch users' presence until Ctrl-C; prints `user  online` or
    /// `user  offline  <last_seen_ms>` per event, the current state first.
    Presence(presence::PresenceArgs),
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let printer = Printer::new(cli.json);
    let credentials = Credentials::from_flags(cli.token, cli.user)?;
    let identity = Identity::new(cli.url, credentials, &cli.device)?;
    match cli.command {
        Command::Send(args) => send::run(&identity, printer, args).await,
        Command::Edit(args) => {
            let body = args.text.join(" ").into_bytes();
            let event = message_events::Event::Edit(body);
            message_events::run(&identity, printer, args.target, event).await
        }
        Command::Recall(args) => {
            message_events::run(&identity, printer, args, message_events::Event::Recall).await
        }
        Command::Delete(args) => {
            message_events::run(&identity, printer, args, message_events::Event::Delete).await
        }
        Command::React(args) => {
            let event = message_events::Event::React {
                emoji: args.emoji,
                remove: args.remove,
            };
            message_events::run(&identity, printer, args.target, event).await
        }
        Command::Listen(args) => listen::run(&identity, printer, args).await,
        Command::History(args) => history::run(&identity, printer, args).await,
        Command::Conversations(args) => conversations::run(&identity, printer, args).await,
        Command::Read(command) => read::run(&identity, printer, command).await,
        Command::Group(command) => group::run(&identity, printer, command).await,
        Command::Room(command) => room::run(&identity, printer, command).await,
        Command::Typing(args) => presence::typing(&identity, printer, args).await,
        Command::Presence(args) => presence::presence(&identity, printer, args).await,
    }
}

/// Prints a failure on stderr, as JSON with `json`; returns the exit code.
pub fn report(error: &CliError, json: bool) -> u8 {
    if json {
        eprintln!("{}", error.to_json());
    } else {
        eprintln!("{}", error.to_line());
    }
    error.exit_code()
}

/// Reports a command line clap refused, as JSON when `--json` is among the
/// arguments; help and version requests print normally. Returns the exit
/// code.
pub fn report_parse_error(error: clap::Error, args: &[std::ffi::OsString]) -> u8 {
    let wants_json = args.iter().any(|a| a == "--json");
    if !error.use_stderr() || !wants_json {
        // Help, version, or a person reading: clap's own rendering.
        let _ = error.print();
        return u8::try_from(error.exit_code()).unwrap_or(error::EXIT_USAGE);
    }
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    report(&CliError::Usage(message.to_string()), true)
}

/// The user's request to stop: Ctrl-C, or SIGTERM on Unix. The handlers
/// are installed when it is made, so make it before connecting: a signal
/// that arrives early is then seen, not fatal.
pub struct Stop {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Stop {
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt()).and_then(|interrupt| {
                signal(SignalKind::terminate()).map(|terminate| (interrupt, terminate))
            });
            Stop {
                signals: signals.ok(),
            }
        }
        #[cfg(not(unix))]
        Stop {}
    }

    /// Resolves once a stop was asked for.
    pub async fn requested(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = &mut self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        // No handler could be installed: Ctrl-C then ends the process as
        // it would without one.
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}
