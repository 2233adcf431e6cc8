//! `room`: live rooms. A connection is in at most one room; room messages
//! are ephemeral (never stored), so only connections in the room when a
//! message is sent see it, the sender's own included.
//!
//! Streams print `joined  <room>` when in the room (send from then on to be
//! seen), one `room  sender  text` line per message, and `left  <room>` at
//! the end; with `--json`, objects of type `joined`, `room_message` and
//! `left`.

use std::time::Duration;

use serde_json::json;
use tidings_client::{ClientError, Connection};
use tidings_core::RoomId;
use tokio::io::AsyncBufReadExt as _;

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;

/// How long one wait for a room message lasts before waiting again.
const MESSAGE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Subcommand)]
pub enum RoomCommand {
    /// Join a room and print its messages until Ctrl-C (or `--count`), then
    /// leave.
    Listen(ListenArgs),
    /// Join a room, send one message to it, leave; prints the room id.
    Send(SendArgs),
    /// Join a room, send each line read from standard input and print the
    /// room's messages. A line `/join <room>` switches rooms, `/leave`
    /// leaves; end of input leaves and stops.
    Chat(RoomArgs),
}

#[derive(Debug, clap::Args)]
pub struct RoomArgs {
    /// Room id (1 to 64 of [A-Za-z0-9_.-]).
    pub room: String,
}

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub room: RoomArgs,

    /// Stop after printing this many messages.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub room: RoomArgs,

    /// Message kind, for the application.
    #[arg(long, default_value = "text")]
    pub kind: String,

    /// Message text (several words are joined with spaces).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
}

pub async fn run(
    identity: &Identity,
    printer: Printer,
    command: RoomCommand,
) -> Result<(), CliError> {
    match command {
        RoomCommand::Listen(args) => {
            let room = parse_room(&args.room.room)?;
            let stop = crate::Stop::new();
            let session = identity.session().await?;
            let connection = &session.connection;
            join(printer, connection, &room).await?;
            listen(printer, connection, stop, args.count).await?;
            leave(printer, connection, &room).await?;
            session.close().await;
            Ok(())
        }
        RoomCommand::Send(args) => {
            let room = parse_room(&args.room.room)?;
            let session = identity.session().await?;
            let connection = &session.connection;
            connection.room_join(room.as_str()).await?;
            let result = connection
                .room_send(room.as_str(), &args.kind, args.text.join(" "))
                .await?;
            connection.room_leave().await?;
            session.close().await;
            printer.document(json!({"room_id": result.room_id}), [result.room_id])
        }
        RoomCommand::Chat(args) => {
            let room = parse_room(&args.room)?;
            let stop = crate::Stop::new();
            let session = identity.session().await?;
            let chatted = chat(printer, &session.connection, stop, room).await;
            session.close().await;
            chatted
        }
    }
}

fn parse_room(room: &str) -> Result<RoomId, CliError> {
    RoomId::parse(room).map_err(|e| CliError::bad_value("ROOM", e.message))
}

async fn join(printer: Printer, connection: &Connection, room: &RoomId) -> Result<(), CliError> {
    let result = connection.room_join(room.as_str()).await?;
    printer.event(
        json!({"type": "joined", "room_id": result.room_id}),
        format!("joined\t{}", result.room_id),
    )
}

async fn leave(printer: Printer, connection: &Connection, room: &RoomId) -> Result<(), CliError> {
    connection.room_leave().await?;
    printer.event(
        json!({"type": "left", "room_id": room.as_str()}),
        format!("left\t{room}"),
    )
}

/// Prints room messages until stopped or `count` of them.
async fn listen(
    printer: Printer,
    connection: &Connection,
    mut stop: crate::Stop,
    mut count: Option<u64>,
) -> Result<(), CliError> {
    while count != Some(0) {
        tokio::select! {
            () = stop.requested() => return Ok(()),
            message = connection.next_room_message(MESSAGE_WAIT) => match message {
                Ok(message) => {
                    printer.event(json::room_message(&message), text::room_message_line(&message))?;
                    count = count.map(|n| n - 1);
                }
                Err(ClientError::Timeout { .. }) => {}
                Err(e) => return Err(e.into()),
            },
        }
    }
    Ok(())
}

/// Sends standard input line by line and prints the room's messages.
async fn chat(
    printer: Printer,
    connection: &Connection,
    mut stop: crate::Stop,
    room: RoomId,
) -> Result<(), CliError> {
    let mut room = Some(room);
    if let Some(room) = &room {
        join(printer, connection, room).await?;
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            () = stop.requested() => break,
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                room = chat_line(printer, connection, room, &line).await?;
            }
            message = connection.next_room_message(MESSAGE_WAIT) => match message {
                Ok(message) => {
                    printer.event(json::room_message(&message), text::room_message_line(&message))?;
                }
                Err(ClientError::Timeout { .. }) => {}
                Err(e) => return Err(e.into()),
            },
        }
    }
    if let Some(room) = &room {
        leave(printer, connection, room).await?;
    }
    Ok(())
}

/// Acts on one input line; returns the room the connection is in afterwards.
async fn chat_line(
    printer: Printer,
    connection: &Connection,
    room: Option<RoomId>,
    line: &str,
) -> Result<Option<RoomId>, CliError> {
    if let Some(next) = line.strip_prefix("/join ") {
        let Ok(next) = parse_room(next.trim()) else {
            eprintln!("note: {:?} is not a room id", next.trim());
            return Ok(room);
        };
        // A join switches: the old room is left by the same request.
        join(printer, connection, &next).await?;
        return Ok(Some(next));
    }
    if line.trim() == "/leave" {
        if let Some(room) = &room {
            leave(printer, connection, room).await?;
        }
        return Ok(None);
    }
    match &room {
        Some(current) if !line.is_empty() => {
            connection
                .room_send(current.as_str(), "text", line.to_string())
                .await?;
        }
        Some(_) => {}
        None => eprintln!("note: not in a room; `/join <room>` first"),
    }
    Ok(room)
}
