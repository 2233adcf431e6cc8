//! `listen`: catch up from a checkpoint, then follow pushes until Ctrl-C.

use std::time::Duration;

use tidings_client::{ClientError, Device};

use crate::{Identity, output};

/// How long one wait for a push lasts before waiting again.
const PUSH_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Inbox seq already applied by this device; entries after it are printed.
    #[arg(long, default_value_t = 0)]
    pub checkpoint: u64,
}

pub async fn run(identity: &Identity, args: ListenArgs) -> anyhow::Result<()> {
    let (mut device, _welcome) = Device::connect(
        &identity.url,
        &identity.token(),
        &identity.device,
        args.checkpoint,
    )
    .await?;
    let followed = follow(&mut device).await;
    // Pushed entries are not acked one by one: record where we stopped.
    let acked = match &followed {
        Ok(()) => device.ack().await.map(drop),
        Err(_) => Ok(()),
    };
    println!("checkpoint\t{}", device.checkpoint());
    followed?;
    acked?;
    device.close().await?;
    Ok(())
}

async fn follow(device: &mut Device) -> Result<(), ClientError> {
    let checkpoint = device.checkpoint();
    let pulled = device.pull_all().await?;
    if pulled.truncated {
        eprintln!(
            "note: inbox entries after checkpoint {checkpoint} expired; \
             read older messages with `history`"
        );
    }
    for entry in &pulled.applied {
        println!("{}", output::entry_line(entry));
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            pushed = device.next_push(PUSH_WAIT) => match pushed {
                Ok(entries) => {
                    for entry in &entries {
                        println!("{}", output::entry_line(entry));
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            },
        }
    }
}
