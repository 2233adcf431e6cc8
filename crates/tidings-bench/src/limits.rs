//! The open-file limit: the idle-connection rows need thousands of sockets
//! in the benchmark process and in each server, and the server processes
//! inherit the limit of the benchmark that starts them.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft and hard open-file limits of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OpenFiles {
    /// `None`: unlimited.
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

impl OpenFiles {
    /// How many files may be open, `u64::MAX` when unlimited.
    pub fn usable(&self) -> u64 {
        self.soft.unwrap_or(u64::MAX)
    }
}

/// The current limits.
pub fn open_files() -> OpenFiles {
    let limit = getrlimit(Resource::Nofile);
    OpenFiles {
        soft: limit.current,
        hard: limit.maximum,
    }
}

/// Raises the soft open-file limit to the hard one (no privilege needed);
/// returns the limits in force afterwards. A failure leaves them as they
/// were: the rows that need more are then skipped with a note.
pub fn raise_open_files() -> OpenFiles {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
    open_files()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit() {
        let raised = raise_open_files();
        assert_eq!(raised.soft, raised.hard);
        assert!(raised.usable() > 0);
    }
}
