//! `send`: one message to another user's 1:1 conversation.

use tidings_client::Connection;
use tidings_core::ConversationId;

use crate::{Identity, output, parse_user};

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Recipient user id.
    #[arg(long)]
    pub to: String,

    /// Idempotency key; reuse it to retry safely. Default: a fresh UUID.
    #[arg(long)]
    pub client_msg_id: Option<String>,

    /// Message text (several words are joined with spaces).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
}

pub async fn run(identity: &Identity, args: SendArgs) -> anyhow::Result<()> {
    let to = parse_user("--to", &args.to)?;
    let conversation = ConversationId::direct(&identity.user, &to).to_string();
    let client_msg_id = args
        .client_msg_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let connection = Connection::connect(&identity.url).await?;
    connection
        .hello(&identity.token(), &identity.device, 0)
        .await?;
    let ack = connection
        .send_message(
            &conversation,
            &client_msg_id,
            "text",
            args.text.join(" ").into_bytes(),
        )
        .await?;
    println!("{}", output::ack_line(&ack));
    connection.close().await?;
    Ok(())
}
