//! `listen`: catch up from a checkpoint, then follow pushes until stopped.
//!
//! It stops on Ctrl-C or SIGTERM, after `--count` entries, or, with
//! `--no-follow`, once caught up. Then it acks and prints the checkpoint, so
//! the next run can resume with `--checkpoint`.

use std::time::Duration;

use serde_json::json;
use tidings_client::{Device, InboxEntry};

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::Identity;

/// How long one wait for a push lasts before waiting again.
const PUSH_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Inbox seq already applied by this device; entries after it are printed.
    #[arg(long, default_value_t = 0)]
    pub checkpoint: u64,

    /// Stop after printing this many entries.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Print what the inbox holds after the checkpoint, then stop instead of
    /// waiting for pushes.
    #[arg(long)]
    pub no_follow: bool,
}

pub async fn run(identity: &Identity, printer: Printer, args: ListenArgs) -> Result<(), CliError> {
    let stop = crate::Stop::new();
    let (mut device, _user) = identity.device(args.checkpoint).await?;
    let mut listener = Listener {
        printer,
        left: args.count,
        cut_at: None,
    };
    let followed = listener.follow(&mut device, stop, !args.no_follow).await;
    // Where the next run resumes: past everything printed, never past an
    // entry applied but left unprinted by `--count`.
    let checkpoint = listener.cut_at.unwrap_or(device.checkpoint());
    // Pushed entries are not acked one by one: record where we stopped.
    let acked = match &followed {
        Ok(()) => device
            .connection()
            .ack(checkpoint)
            .await
            .map(drop)
            .map_err(CliError::from),
        Err(_) => Ok(()),
    };
    printer.event(
        json!({"type": "checkpoint", "checkpoint": checkpoint}),
        format!("checkpoint\t{checkpoint}"),
    )?;
    // As for every command, a failed close handshake is no failure.
    let _ = device.close().await;
    followed?;
    acked
}

struct Listener {
    printer: Printer,
    /// Entries still to print before stopping, with `--count`.
    left: Option<u64>,
    /// The seq of the last entry printed, when `--count` stopped before
    /// other entries already applied.
    cut_at: Option<u64>,
}

impl Listener {
    async fn follow(
        &mut self,
        device: &mut Device,
        mut stop: crate::Stop,
        keep_following: bool,
    ) -> Result<(), CliError> {
        let checkpoint = device.checkpoint();
        let pulled = device.pull_all().await?;
        if pulled.truncated {
            self.truncated(checkpoint)?;
        }
        if self.print(&pulled.applied)? || !keep_following {
            return Ok(());
        }
        loop {
            tokio::select! {
                () = stop.requested() => return Ok(()),
                pushed = device.next_push(PUSH_WAIT) => match pushed {
                    Ok(entries) => {
                        if self.print(&entries)? {
                            return Ok(());
                        }
                    }
                    Err(e) if e.is_timeout() => {}
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }

    /// Prints entries; returns whether `--count` is reached.
    fn print(&mut self, entries: &[InboxEntry]) -> Result<bool, CliError> {
        for (i, entry) in entries.iter().enumerate() {
            self.printer
                .event(json::entry(entry), text::entry_line(entry))?;
            self.left = self.left.map(|n| n - 1);
            if self.left == Some(0) {
                if i + 1 < entries.len() {
                    self.cut_at = Some(entry.seq);
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn truncated(&self, checkpoint: u64) -> Result<(), CliError> {
        if self.printer.is_json() {
            return self.printer.event(
                json!({"type": "truncated", "after": checkpoint}),
                String::new(),
            );
        }
        eprintln!(
            "note: inbox entries after checkpoint {checkpoint} expired; \
             read older messages with `history`"
        );
        Ok(())
    }
}
