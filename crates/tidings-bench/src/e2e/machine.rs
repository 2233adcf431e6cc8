//! The machine a run was made on, as the report states it: CPU model and
//! cores, memory, kernel, and the filesystem the server's data lived on.

use std::path::Path;

use crate::limits::OpenFiles;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub cpu_model: String,
    /// Available parallelism of this process.
    pub cores: usize,
    pub memory_kib: u64,
    pub kernel: String,
    /// Type and device of the filesystem holding the data directory.
    pub data_filesystem: String,
    /// Open-file limits of the benchmark (the servers inherit them).
    pub open_files: OpenFiles,
    /// Whether this binary was built with optimisations.
    pub release_build: bool,
}

impl Machine {
    pub fn detect(data_root: &Path, open_files: OpenFiles) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let data_root = data_root
            .canonicalize()
            .unwrap_or_else(|_| data_root.to_path_buf());
        Machine {
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_kib: field(&meminfo, "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            data_filesystem: filesystem_of(&mounts, &data_root.display().to_string())
                .unwrap_or_else(|| "unknown".into()),
            open_files,
            release_build: !cfg!(debug_assertions),
        }
    }
}

/// The value of the first `key: value` line of a `/proc` file.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
}

/// `type on device` of the mount in `/proc/mounts` holding `path` (the
/// longest mount point that is a prefix of it).
fn filesystem_of(mounts: &str, path: &str) -> Option<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (device, point, kind) = (parts.next()?, parts.next()?, parts.next()?);
            let inside = path == point
                || point == "/"
                || path.starts_with(&format!("{}/", point.trim_end_matches('/')));
            inside.then(|| (point.len(), format!("{kind} on {device}")))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_mount_point_wins() {
        let mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\ntmpfs /tmpx tmpfs rw 0 0\n";
        assert_eq!(
            filesystem_of(mounts, "/tmp/data").as_deref(),
            Some("tmpfs on tmpfs")
        );
        assert_eq!(
            filesystem_of(mounts, "/srv/x").as_deref(),
            Some("ext4 on /dev/vda")
        );
        assert_eq!(
            field("model name\t: Some CPU\n", "model name").as_deref(),
            Some("Some CPU")
        );
    }
}
