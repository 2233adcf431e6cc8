//! `history`: a conversation's store timeline, newest first (roaming).

use tidings_client::Message;

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;
use crate::target::ConversationArgs;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub conversation: ConversationArgs,

    /// Print at most this many messages. Default: all of them.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,

    /// Only messages below this conv seq. Default: from the newest message.
    #[arg(long, value_name = "CONV_SEQ", value_parser = clap::value_parser!(u64).range(1..))]
    pub before: Option<u64>,
}

pub async fn run(identity: &Identity, printer: Printer, args: HistoryArgs) -> Result<(), CliError> {
    let target = args.conversation.parse()?;
    let session = identity.session().await?;
    let conversation = target.conversation_id(&session.user);
    let messages = read(&session.connection, &conversation, args.before, args.limit).await?;
    session.close().await;
    printer.document(
        serde_json::json!({
            "conversation_id": conversation,
            "messages": messages.iter().map(json::message).collect::<Vec<_>>(),
        }),
        messages.iter().map(text::message_line),
    )
}

/// Pages through the history, newest first, until `limit` messages or the
/// oldest one.
async fn read(
    connection: &tidings_client::Connection,
    conversation: &str,
    before: Option<u64>,
    limit: Option<u32>,
) -> Result<Vec<Message>, CliError> {
    let mut before = before.unwrap_or(0);
    let mut messages = Vec::new();
    loop {
        // 0 lets the server choose the page size.
        let wanted = limit.map_or(0, |limit| limit - messages.len() as u32);
        let page = connection.history(conversation, before, wanted).await?;
        let Some(oldest) = page.messages.last().map(|m| m.conv_seq) else {
            return Ok(messages);
        };
        messages.extend(page.messages);
        if let Some(limit) = limit {
            messages.truncate(limit as usize);
        }
        let enough = limit.is_some_and(|limit| messages.len() >= limit as usize);
        if !page.has_more || enough {
            return Ok(messages);
        }
        if before != 0 && oldest >= before {
            return Err(CliError::Protocol(format!(
                "history before {before} returned nothing older"
            )));
        }
        before = oldest;
    }
}
