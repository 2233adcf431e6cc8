//! The durability floor of this disk: how long one `fdatasync` of a small
//! appended write takes, in a file on the same filesystem as the server's
//! data. A store that acknowledges a message only once it is on disk cannot
//! answer one lone sender faster than this, whatever its code does.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::latency::{Latencies, LatencySummary};

/// Bytes appended before each sync: about one stored message.
const WRITE_BYTES: usize = 128;

/// What the syncs measured.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct FsyncBaseline {
    pub samples: u64,
    #[serde(with = "crate::e2e::json::micros")]
    pub mean: Duration,
    #[serde(skip)]
    pub summary: LatencySummary,
}

/// Appends `WRITE_BYTES` and calls `fdatasync` (`File::sync_data`) up to
/// `samples` times or for `time`, in a temporary file under `dir`.
pub fn measure(dir: &Path, samples: u32, time: Duration) -> anyhow::Result<FsyncBaseline> {
    let mut file = tempfile::Builder::new()
        .prefix("fdatasync-")
        .tempfile_in(dir)?;
    let chunk = [b'x'; WRITE_BYTES];
    // One untimed round: the file's first block and its metadata.
    file.write_all(&chunk)?;
    file.as_file().sync_all()?;
    let mut latencies = Latencies::new();
    let mut total = Duration::ZERO;
    let mut count = 0_u64;
    let started = Instant::now();
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        file.write_all(&chunk)?;
        file.as_file().sync_data()?;
        let took = t.elapsed();
        latencies.record(took);
        total += took;
        count += 1;
        if started.elapsed() >= time {
            break;
        }
    }
    Ok(FsyncBaseline {
        samples: count,
        mean: total / count.max(1) as u32,
        summary: latencies.summary(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let baseline = measure(dir.path(), 5, Duration::from_secs(5)).unwrap();
        assert_eq!(baseline.samples, 5);
        assert_eq!(baseline.summary.samples, 5);
    }
}
