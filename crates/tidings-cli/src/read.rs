//! `read mark` and `read show`: the caller's read positions. A position
//! only moves forward and never past the conversation's newest message; it
//! reaches every device of the user, and unread counts follow it.

use serde_json::json;
use tidings_client::proto::ConversationSummary;

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;
use crate::target::ConversationArgs;

#[derive(Debug, clap::Subcommand)]
pub enum ReadCommand {
    /// Mark a conversation read up to a conv seq; prints `conversation
    /// read_seq` with the position recorded afterwards (never lower than
    /// before, so it may be higher than asked).
    Mark(MarkArgs),
    /// Print read positions, for one conversation or all of them:
    /// `conversation  unread  read_seq  last_conv_seq`.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct MarkArgs {
    #[command(flatten)]
    pub conversation: ConversationArgs,

    /// Read up to and including this conv seq. Default: the newest message.
    #[arg(long, value_name = "CONV_SEQ", value_parser = clap::value_parser!(u64).range(1..))]
    pub seq: Option<u64>,
}

/// Without a flag, every conversation of the caller.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct ShowArgs {
    /// Only the 1:1 conversation with this user.
    #[arg(long, visible_alias = "to", value_name = "USER")]
    pub with: Option<String>,

    /// Only this group's conversation.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,

    /// Only this conversation (`dm:<user_a>:<user_b>` or `g:<group>`).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
}

impl ShowArgs {
    fn conversation(self) -> Option<ConversationArgs> {
        let any = self.with.is_some() || self.group.is_some() || self.conversation.is_some();
        any.then_some(ConversationArgs {
            with: self.with,
            group: self.group,
            conversation: self.conversation,
        })
    }
}

pub async fn run(
    identity: &Identity,
    printer: Printer,
    command: ReadCommand,
) -> Result<(), CliError> {
    match command {
        ReadCommand::Mark(args) => mark(identity, printer, args).await,
        ReadCommand::Show(args) => show(identity, printer, args).await,
    }
}

async fn mark(identity: &Identity, printer: Printer, args: MarkArgs) -> Result<(), CliError> {
    let target = args.conversation.parse()?;
    let session = identity.session().await?;
    let conversation = target.conversation_id(&session.user);
    // The server records the conversation's head for any seq above it.
    let read_seq = args.seq.unwrap_or(u64::MAX);
    let result = session.connection.read_ack(&conversation, read_seq).await?;
    session.close().await;
    printer.document(
        json!({"conversation_id": result.conversation_id, "read_seq": result.read_seq}),
        [format!("{}\t{}", result.conversation_id, result.read_seq)],
    )
}

async fn show(identity: &Identity, printer: Printer, args: ShowArgs) -> Result<(), CliError> {
    let target = args.conversation().map(|c| c.parse()).transpose()?;
    let session = identity.session().await?;
    let only = target.map(|t| t.conversation_id(&session.user));
    let list = session.connection.conversation_list(0).await?;
    session.close().await;
    let mut positions: Vec<ConversationSummary> = list
        .conversations
        .into_iter()
        .filter(|c| only.as_ref().is_none_or(|only| &c.conversation_id == only))
        .collect();
    if positions.is_empty()
        && let Some(only) = &only
    {
        // Not listed: nothing was ever sent there, or the caller is no member.
        positions.push(ConversationSummary {
            conversation_id: only.clone(),
            ..ConversationSummary::default()
        });
    }
    printer.document(
        json!({
            "read_positions": positions.iter().map(json::read_position).collect::<Vec<_>>(),
        }),
        positions.iter().map(text::summary_line),
    )
}
