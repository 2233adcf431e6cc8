//! `edit`, `recall`, `delete`, `react`: events on a stored message, named by
//! its message id and conv seq (as `send` and `history` print them). Each is
//! a send: it prints the event's ack, and `--client-msg-id` makes a retry
//! safe.

use tidings_proto::common::v1::MessageRef;

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;
use crate::target::ConversationArgs;

/// The message an event names, and the event's idempotency key.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub conversation: ConversationArgs,

    /// The target's message id.
    #[arg(long)]
    pub message_id: String,

    /// The target's conv seq.
    #[arg(long)]
    pub conv_seq: u64,

    /// Idempotency key of the event; reuse it to retry safely (1 to 64
    /// characters). Default: a fresh UUID.
    #[arg(long)]
    pub client_msg_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The new text (several words are joined with spaces).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReactArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Take the reaction back instead of adding it.
    #[arg(long)]
    pub remove: bool,

    /// The emoji (1 to 32 bytes).
    pub emoji: String,
}

/// Which event to append.
pub enum Event {
    Edit(Vec<u8>),
    Recall,
    Delete,
    React { emoji: String, remove: bool },
}

pub async fn run(
    identity: &Identity,
    printer: Printer,
    args: TargetArgs,
    event: Event,
) -> Result<(), CliError> {
    let target = args.conversation.parse()?;
    let client_msg_id = match args.client_msg_id {
        Some(id) if id.is_empty() || id.len() > 64 => {
            return Err(CliError::bad_value(
                "--client-msg-id",
                format!("must be 1 to 64 characters, got {}", id.len()),
            ));
        }
        Some(id) => id,
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let message = MessageRef {
        message_id: args.message_id,
        conv_seq: args.conv_seq,
    };
    let session = identity.session().await?;
    let conversation = target.conversation_id(&session.user);
    let link = &session.connection;
    let ack = match event {
        Event::Edit(body) => {
            link.edit_message(&conversation, &client_msg_id, message, body)
                .await
        }
        Event::Recall => {
            link.recall_message(&conversation, &client_msg_id, message)
                .await
        }
        Event::Delete => {
            link.delete_message(&conversation, &client_msg_id, message)
                .await
        }
        Event::React { emoji, remove } => {
            link.react(&conversation, &client_msg_id, message, &emoji, remove)
                .await
        }
    }?;
    session.close().await;
    printer.document(json::ack(&ack), [text::ack_line(&ack)])
}
