//! `conversations`: the caller's conversations, most recent first, with
//! unread counts and read positions (what a returning device shows first).

use serde_json::json;

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;

#[derive(Debug, clap::Args)]
pub struct ConversationsArgs {
    /// Also print this many latest messages of each conversation (at most 50).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub latest: u32,
}

pub async fn run(
    identity: &Identity,
    printer: Printer,
    args: ConversationsArgs,
) -> Result<(), CliError> {
    let session = identity.session().await?;
    let list = session.connection.conversation_list(args.latest).await?;
    session.close().await;
    let mut lines = Vec::new();
    for summary in &list.conversations {
        lines.push(text::summary_line(summary));
        // Indented under their conversation, newest first.
        lines.extend(
            summary
                .latest
                .iter()
                .map(|m| format!("\t{}", text::message_line(m))),
        );
    }
    printer.document(
        json!({
            "conversations": list.conversations.iter().map(json::summary).collect::<Vec<_>>(),
        }),
        lines,
    )
}
