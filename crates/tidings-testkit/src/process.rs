//! Tidings binaries as real child processes: for restart, crash and
//! multi-process tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Tidings binary (the all-in-one `tidings` or a `tidings-<service>`)
/// running as a child process on ephemeral ports.
pub struct ServiceProcess {
    /// `None` for a placeholder (a process that was stopped).
    child: Option<Child>,
    /// What the process printed it listens on, e.g. `store` -> `127.0.0.1:41233`.
    pub listening: HashMap<String, String>,
}

/// A binary next to the running executable: a test's (`target/<profile>/deps/`,
/// binaries one level up) or a tool's (`target/<profile>/`).
/// `TIDINGS_BIN_DIR` overrides the directory.
pub fn binary(name: &str) -> PathBuf {
    let candidates: Vec<PathBuf> = match std::env::var("TIDINGS_BIN_DIR") {
        Ok(dir) => vec![PathBuf::from(dir)],
        Err(_) => {
            let exe = std::env::current_exe().expect("current exe");
            let dir = exe.parent().expect("executable in a directory");
            vec![
                dir.parent()
                    .expect("test binary lives in target/<profile>/deps")
                    .to_path_buf(),
                dir.to_path_buf(),
            ]
        }
    };
    let found = candidates
        .iter()
        .map(|dir| dir.join(name))
        .find(|bin| bin.exists());
    found.unwrap_or_else(|| {
        panic!(
            "{name} not found in {candidates:?}: build it first (cargo build --workspace --bins)"
        )
    })
}

/// Every `TIDINGS__LISTEN__*` key: set to `127.0.0.1:0` for ephemeral
/// loopback ports (the process prints the ports it got).
pub const EPHEMERAL: &[&str] = &[
    "GATEWAY_WS",
    "GATEWAY_GRPC",
    "LOGIC",
    "SEQUENCE",
    "STORE",
    "SYNC",
    "METRICS",
    "SERVER_API",
];

impl ServiceProcess {
    /// Starts `name` with `TIDINGS__...` overrides in `env`, and waits for
    /// its `... listening k=v ...` line.
    pub fn start(name: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary(name));
        command.env("TIDINGS__LOG__LEVEL", "warn");
        // Test clients use dev:<user> tokens; `env` may choose jwt instead.
        command.env("TIDINGS__GATEWAY__AUTH__SCHEME", "dev");
        // Every process of a test shares one service credential (`env` may
        // override it).
        command.env(
            "TIDINGS__GRPC__SERVICE_TOKEN",
            crate::service_token().reveal(),
        );
        for key in EPHEMERAL {
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
                if line.starts_with("tidings") && line.contains(" listening ") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("{name} did not report its addresses within 60 s");
            }
        };
        let listening = line
            .split_whitespace()
            .filter_map(|part| part.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(ServiceProcess {
            child: Some(child),
            listening,
        })
    }

    /// A stopped process that keeps the address `name` had.
    pub fn placeholder(name: &str, address: &str) -> Self {
        ServiceProcess {
            child: None,
            listening: HashMap::from([(name.to_string(), address.to_string())]),
        }
    }

    /// The address printed for `name`; panics if there is none.
    pub fn addr(&self, name: &str) -> String {
        self.listening
            .get(name)
            .unwrap_or_else(|| panic!("no {name} address in {:?}", self.listening))
            .clone()
    }

    /// The client WebSocket URL of a gateway or all-in-one process.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr("gateway_ws"))
    }

    /// The process id, while the process runs (for `/proc/<pid>`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`: no shutdown, no clean-up.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process keeps its sockets open but answers nothing, like
    /// a hung peer, until [`ServiceProcess::resume`] (or a kill).
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    /// SIGCONT after [`ServiceProcess::pause`].
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the process was already stopped"))?;
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal} {} failed", child.id());
        Ok(())
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow::anyhow!("the process was already stopped"))?;
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        Ok(child.wait()?)
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The all-in-one `tidings` process with its data in a directory.
pub struct ProcessServer {
    process: ServiceProcess,
    /// Client WebSocket URL.
    pub ws_url: String,
    /// gRPC address of the store service.
    pub store: String,
    /// gRPC address of the sync service.
    pub sync: String,
    /// gRPC address of the sequence service.
    pub sequence: String,
}

impl ProcessServer {
    /// Starts `tidings` with its data in `data_dir`; `env` adds
    /// `TIDINGS__...` overrides.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut vars = vec![(
            "TIDINGS__DATA_DIR".to_string(),
            data_dir.display().to_string(),
        )];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let process = ServiceProcess::start("tidings", &vars)?;
        Ok(ProcessServer {
            ws_url: process.ws_url(),
            store: process.addr("store"),
            sync: process.addr("sync"),
            sequence: process.addr("sequence"),
            process,
        })
    }

    /// The address printed for `name` (e.g. `metrics`); panics if none.
    pub fn addr(&self, name: &str) -> String {
        self.process.addr(name)
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill(self) {
        self.process.kill();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(self) -> anyhow::Result<std::process::ExitStatus> {
        self.process.terminate()
    }
}
