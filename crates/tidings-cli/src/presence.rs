//! `typing` and `presence`: the ephemeral signals, never stored.
//!
//! `typing` sends one typing signal to a conversation and prints
//! `conversation  forwarded` (or `throttled`: the server forwards one per
//! connection and conversation every few seconds, and a fresh connection
//! per run never is). `presence` watches users and prints one line per
//! event, `user  online` or `user  offline  <last_seen_ms>`: first each
//! user's current state, then every change, until Ctrl-C (or `--count`).
//! With `--json`, a document `{conversation_id, forwarded}` and objects of
//! type `presence`.

use std::time::Duration;

use serde_json::json;
use tidings_client::ClientError;

use crate::error::CliError;
use crate::output::Printer;
use crate::session::{Identity, parse_user};
use crate::target::ConversationArgs;

/// How long one wait for a presence event lasts before waiting again.
const EVENT_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct TypingArgs {
    #[command(flatten)]
    pub conversation: ConversationArgs,
}

#[derive(Debug, clap::Args)]
pub struct PresenceArgs {
    /// Users to watch (at most the gateway's per-frame limit, 100 by
    /// default).
    #[arg(required = true, num_args = 1.., value_name = "USER")]
    pub users: Vec<String>,

    /// Stop after printing this many events.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

pub async fn typing(
    identity: &Identity,
    printer: Printer,
    args: TypingArgs,
) -> Result<(), CliError> {
    let target = args.conversation.parse()?;
    let session = identity.session().await?;
    let conversation = target.conversation_id(&session.user);
    let result = session.connection.typing(&conversation).await?;
    session.close().await;
    let state = if result.forwarded {
        "forwarded"
    } else {
        "throttled"
    };
    printer.document(
        json!({"conversation_id": result.conversation_id, "forwarded": result.forwarded}),
        [format!("{}\t{state}", result.conversation_id)],
    )
}

pub async fn presence(
    identity: &Identity,
    printer: Printer,
    args: PresenceArgs,
) -> Result<(), CliError> {
    for user in &args.users {
        parse_user("USER", user)?;
    }
    let mut stop = crate::Stop::new();
    let session = identity.session().await?;
    let connection = &session.connection;
    let users: Vec<&str> = args.users.iter().map(String::as_str).collect();
    connection.presence_subscribe(&users).await?;
    let mut count = args.count;
    while count != Some(0) {
        tokio::select! {
            () = stop.requested() => break,
            event = connection.next_presence(EVENT_WAIT) => match event {
                Ok(event) => {
                    let line = if event.online {
                        format!("{}\tonline", event.user_id)
                    } else {
                        format!("{}\toffline\t{}", event.user_id, event.last_seen_ms)
                    };
                    printer.event(
                        json!({
                            "type": "presence",
                            "user_id": event.user_id,
                            "online": event.online,
                            "last_seen_ms": event.last_seen_ms,
                        }),
                        line,
                    )?;
                    count = count.map(|n| n - 1);
                }
                Err(ClientError::Timeout { .. }) => {}
                Err(e) => return Err(e.into()),
            },
        }
    }
    session.close().await;
    Ok(())
}
