//! Memory of idle connections: N authenticated connections (one user each)
//! held open and silent, and the resident memory of the process holding them
//! before the first and once all N are open, per connection.

use std::time::Duration;

use crate::limits::OpenFiles;
use crate::load::{WsStream, connection};

use super::servers::{Target, TargetKind};

/// File descriptors kept free beside the connections in each process
/// (listeners, data files, pipes, the runtime).
const SPARE_FILES: u64 = 300;

/// How long the process may settle once the connections are open.
const SETTLE: Duration = Duration::from_secs(1);

/// One idle-connection count on one target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleRow {
    pub target: TargetKind,
    pub connections: usize,
    /// Resident memory before the first connection, KiB.
    pub rss_before_kib: u64,
    /// Resident memory with `connections` open, KiB.
    pub rss_after_kib: u64,
    /// Why the row was not measured, if it was not.
    pub skipped: Option<String>,
}

impl IdleRow {
    pub fn kib_per_connection(&self) -> Option<f64> {
        (self.skipped.is_none() && self.connections > 0).then(|| {
            (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.connections as f64
        })
    }
}

/// Opens connections up to each of `counts` in turn (ascending, adding to
/// those already open) and reads the holder's memory at each.
pub async fn measure(
    target: &Target,
    counts: &[usize],
    bench_files: OpenFiles,
    concurrency: usize,
    on_row: impl Fn(&IdleRow),
) -> anyhow::Result<Vec<IdleRow>> {
    let mut counts = counts.to_vec();
    counts.sort_unstable();
    counts.dedup();
    let server_files = target.open_files_limit().unwrap_or(u64::MAX);
    tokio::time::sleep(SETTLE).await;
    let before = target.connection_rss_kib()?;
    let mut open: Vec<WsStream> = Vec::new();
    let mut rows = Vec::new();
    for count in counts {
        let mut row = IdleRow {
            target: target.kind,
            connections: count,
            rss_before_kib: before,
            rss_after_kib: before,
            skipped: None,
        };
        let needed = count as u64 + SPARE_FILES;
        if needed > bench_files.usable() || needed > server_files {
            row.skipped = Some(format!(
                "{count} connections need about {needed} open files; the limit is {} here and \
                 {server_files} in the server",
                bench_files.usable()
            ));
            on_row(&row);
            rows.push(row);
            continue;
        }
        let users: Vec<String> = (open.len()..count).map(|i| format!("idle-{i}")).collect();
        open.extend(connection::open_all(&target.url, &users, concurrency).await?);
        tokio::time::sleep(SETTLE).await;
        row.rss_after_kib = target.connection_rss_kib()?;
        on_row(&row);
        rows.push(row);
    }
    drop(open);
    Ok(rows)
}
