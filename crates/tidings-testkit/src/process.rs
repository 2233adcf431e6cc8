//! The all-in-one as a real child process: for restart and crash tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `tidings` child process on ephemeral ports.
pub struct ProcessServer {
    child: Child,
    /// Client WebSocket URL.
    pub ws_url: String,
    /// gRPC address of the store service.
    pub store: String,
    /// gRPC address of the sync service.
    pub sync: String,
    /// gRPC address of the sequence service.
    pub sequence: String,
}

/// The `tidings` binary next to the test executable (`target/<profile>/`),
/// or `TIDINGS_BIN`.
pub fn tidings_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TIDINGS_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("tidings");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build --bins)",
        bin.display()
    );
    bin
}

impl ProcessServer {
    /// Starts `tidings` with its data in `data_dir`; `env` adds
    /// `TIDINGS__...` overrides.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut command = Command::new(tidings_binary());
        command
            .env("TIDINGS__DATA_DIR", data_dir)
            .env("TIDINGS__LOG__LEVEL", "warn");
        for key in [
            "GATEWAY_WS",
            "GATEWAY_GRPC",
            "LOGIC",
            "SEQUENCE",
            "STORE",
            "SYNC",
        ] {
            command.env(format!("TIDINGS__LISTEN__{key}"), "127.0.0.1:0");
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Send the address line, then keep draining so the child never
            // blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("tidings listening") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                anyhow::bail!("tidings did not report its addresses within 60 s");
            }
        };
        let field = |name: &str| -> anyhow::Result<String> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("no {name} in {line:?}"))
        };
        Ok(ProcessServer {
            ws_url: format!("ws://{}/ws", field("gateway_ws")?),
            store: field("store")?,
            sync: field("sync")?,
            sequence: field("sequence")?,
            child,
        })
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
