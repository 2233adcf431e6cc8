//! `history`: a 1:1 conversation's store timeline, newest first (roaming).

use tidings_client::Connection;
use tidings_core::ConversationId;

use crate::{Identity, output, parse_user};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The other user of the 1:1 conversation.
    #[arg(long)]
    pub with: String,

    /// Print at most this many messages. Default: all of them.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,

    /// Start below this conv_seq. Default: from the newest message.
    #[arg(long)]
    pub before: Option<u64>,
}

pub async fn run(identity: &Identity, args: HistoryArgs) -> anyhow::Result<()> {
    let with = parse_user("--with", &args.with)?;
    let conversation = ConversationId::direct(&identity.user, &with).to_string();
    let connection = Connection::connect(&identity.url).await?;
    connection
        .hello(&identity.token(), &identity.device, 0)
        .await?;
    let mut before = args.before.unwrap_or(0);
    let mut remaining = args.limit;
    loop {
        // 0 lets the server choose the page size.
        let page_limit = remaining.unwrap_or(0);
        let page = connection
            .history(&conversation, before, page_limit)
            .await?;
        for message in &page.messages {
            if remaining == Some(0) {
                break;
            }
            println!("{}", output::message_line(message));
            remaining = remaining.map(|n| n - 1);
        }
        let Some(oldest) = page.messages.last() else {
            break;
        };
        if !page.has_more || remaining == Some(0) {
            break;
        }
        if before != 0 && oldest.conv_seq >= before {
            anyhow::bail!("history before {before} returned nothing older; stopping");
        }
        before = oldest.conv_seq;
    }
    connection.close().await?;
    Ok(())
}
