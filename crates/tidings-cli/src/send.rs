//! `send`: one message to a 1:1 or group conversation.

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;
use crate::target::ConversationArgs;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub conversation: ConversationArgs,

    /// Idempotency key; reuse it to retry safely (1 to 64 characters).
    /// Default: a fresh UUID.
    #[arg(long)]
    pub client_msg_id: Option<String>,

    /// Message kind, for the application; Tidings does not interpret it.
    #[arg(long, default_value = "text")]
    pub kind: String,

    /// Message text (several words are joined with spaces).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
}

pub async fn run(identity: &Identity, printer: Printer, args: SendArgs) -> Result<(), CliError> {
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
    let session = identity.session().await?;
    let conversation = target.conversation_id(&session.user);
    let ack = session
        .connection
        .send_message(
            &conversation,
            &client_msg_id,
            &args.kind,
            args.text.join(" ").into_bytes(),
        )
        .await?;
    session.close().await;
    printer.document(json::ack(&ack), [text::ack_line(&ack)])
}
