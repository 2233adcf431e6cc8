//! The servers the end-to-end benchmark compares, each in processes of its
//! own so that their CPU time and memory can be read from `/proc`: the relay
//! (`tidings-bench relay`), the all-in-one `tidings` with its data in a
//! temporary directory, or the distributed shape (one process per service
//! on a CQL node and Redis). Every process listens on ephemeral loopback
//! ports and inherits the benchmark's raised open-file limit.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tidings_testkit::EPHEMERAL;

use super::procfs;

/// How long a process may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// One server process.
pub struct ServerProcess {
    name: String,
    child: Child,
    /// What it printed it listens on, e.g. `gateway_ws` -> `127.0.0.1:41233`.
    pub listening: HashMap<String, String>,
}

impl ServerProcess {
    /// Spawns `command` and waits for its `<name> listening k=v ...` line.
    fn start(name: &str, mut command: Command) -> anyhow::Result<ServerProcess> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Pass the address line on, then keep draining so the process
            // never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("tidings") && line.contains(" listening ") {
                    let _ = tx.send(line);
                }
            }
        });
        let mut process = ServerProcess {
            name: name.to_string(),
            child,
            listening: HashMap::new(),
        };
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| anyhow::anyhow!("{name} did not report its addresses"))?;
        process.listening = parse_listening(&line);
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address printed for `key`.
    pub fn addr(&self, key: &str) -> anyhow::Result<String> {
        self.listening
            .get(key)
            .cloned()
            .with_context(|| format!("{} printed no {key} address", self.name))
    }

    /// SIGTERM, then wait (SIGKILL after 10 s).
    fn terminate(mut self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `k=v` fields of a `... listening k=v k=v` line.
pub fn parse_listening(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What is measured: a relay or a Tidings deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    Relay,
    Tidings,
    TidingsDistributed,
}

impl TargetKind {
    pub fn label(self) -> &'static str {
        match self {
            TargetKind::Relay => "relay",
            TargetKind::Tidings => "tidings",
            TargetKind::TidingsDistributed => "tidings (distributed)",
        }
    }
}

/// A running target: its processes and its client URL.
pub struct Target {
    pub kind: TargetKind,
    pub url: String,
    /// The process holding the client connections first (relay, all-in-one
    /// or gateway), then the others.
    processes: Vec<ServerProcess>,
    _data: Option<tempfile::TempDir>,
}

impl Target {
    /// CPU time used so far by every process of the target.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        self.processes
            .iter()
            .map(|p| procfs::cpu_time(p.pid()))
            .sum()
    }

    /// Resident memory of the process holding the connections, in KiB.
    pub fn connection_rss_kib(&self) -> anyhow::Result<u64> {
        procfs::rss_kib(self.processes[0].pid())
    }

    /// The soft open-file limit of the process holding the connections.
    pub fn open_files_limit(&self) -> Option<u64> {
        procfs::open_files_limit(self.processes[0].pid())
    }

    /// Names of the processes whose CPU time is counted.
    pub fn process_names(&self) -> Vec<String> {
        self.processes
            .iter()
            .map(|p| p.name().to_string())
            .collect()
    }

    /// Stops every process, the connection holder first.
    pub fn stop(self) {
        for process in self.processes {
            process.terminate();
        }
    }
}

/// A binary next to the running executable (`target/<profile>/`, or one
/// level up from a test's `deps/`); `TIDINGS_BIN_DIR` overrides the place.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("TIDINGS_BIN_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe.parent().context("executable in a directory")?;
            let mut dirs = vec![dir.to_path_buf()];
            dirs.extend(dir.parent().map(Path::to_path_buf));
            dirs
        }
    };
    candidates
        .iter()
        .map(|dir| dir.join(name))
        .find(|bin| bin.exists())
        .with_context(|| {
            format!(
                "{name} not found in {candidates:?}: build it first \
                 (cargo build --release -p tidings --bins)"
            )
        })
}

/// Starts the relay as `tidings-bench relay`, from this executable.
pub fn start_relay() -> anyhow::Result<Target> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["relay", "--listen", "127.0.0.1:0"]);
    let process = ServerProcess::start("relay", command)?;
    Ok(Target {
        kind: TargetKind::Relay,
        url: format!("ws://{}/ws", process.addr("ws")?),
        processes: vec![process],
        _data: None,
    })
}

/// The `[gateway.limits]` keys, as environment variable suffixes.
const LIMITS: [&str; 9] = [
    "CONNECTION_SENDS_PER_SEC",
    "CONNECTION_SEND_BURST",
    "USER_SENDS_PER_SEC",
    "USER_SEND_BURST",
    "CONNECTION_READS_PER_SEC",
    "CONNECTION_READ_BURST",
    "USER_READS_PER_SEC",
    "USER_READ_BURST",
    "CONNECTIONS_PER_USER",
];

/// A `tidings`-family binary with ephemeral ports, warn-level logs, every
/// limit off, and `env` on top (which may set limits again).
fn tidings_command(binary_name: &str, env: &[(String, String)]) -> anyhow::Result<Command> {
    let mut command = Command::new(binary(binary_name)?);
    command.env("TIDINGS__LOG__LEVEL", "warn");
    // The measured clients connect with dev:<user> tokens.
    command.env("TIDINGS__GATEWAY__AUTH__SCHEME", "dev");
    // The measured clients send as fast as the server answers, far past
    // any per-connection rate a product would allow: limits off.
    for limit in LIMITS {
        command.env(format!("TIDINGS__GATEWAY__LIMITS__{limit}"), "0");
    }
    // One service credential for every process of a run.
    command.env(
        "TIDINGS__GRPC__SERVICE_TOKEN",
        tidings_testkit::service_token().reveal(),
    );
    for key in EPHEMERAL {
        command.env(format!("TIDINGS__LISTEN__{key}"), "127.0.0.1:0");
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    Ok(command)
}

/// Starts the all-in-one with its data in a fresh directory under
/// `data_root`, otherwise with its default configuration; `extra` is more
/// environment on top (e.g. `TIDINGS__GATEWAY__LIMITS__*` to turn limits on).
pub fn start_all_in_one(data_root: &Path, extra: &[(String, String)]) -> anyhow::Result<Target> {
    let data = tempfile::Builder::new()
        .prefix("tidings-data-")
        .tempdir_in(data_root)?;
    let mut env = vec![(
        "TIDINGS__DATA_DIR".to_string(),
        data.path().display().to_string(),
    )];
    env.extend_from_slice(extra);
    let process = ServerProcess::start("tidings", tidings_command("tidings", &env)?)?;
    Ok(Target {
        kind: TargetKind::Tidings,
        url: format!("ws://{}/ws", process.addr("gateway_ws")?),
        processes: vec![process],
        _data: Some(data),
    })
}

/// Where the CQL node and Redis of the distributed shape are.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterServices {
    pub cql: String,
    pub redis: String,
}

/// Starts the distributed shape on `services`: a fresh keyspace and
/// registry prefix, `tidings migrate`, then sequence, store, sync, logic and
/// one gateway, each its own process, wired as the test kit's cluster;
/// `extra` is more environment on top, for every process.
pub fn start_distributed(
    services: &ClusterServices,
    extra: &[(String, String)],
) -> anyhow::Result<Target> {
    let unique = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let mut env: Vec<(String, String)> = [
        ("TIDINGS__STORAGE__BACKEND", "scylla".to_string()),
        ("TIDINGS__SCYLLA__CONTACT_POINTS", services.cql.clone()),
        (
            "TIDINGS__SCYLLA__KEYSPACE",
            format!("tidings_bench_{unique}"),
        ),
        ("TIDINGS__REGISTRY__BACKEND", "redis".to_string()),
        ("TIDINGS__REGISTRY__URL", services.redis.clone()),
        (
            "TIDINGS__REGISTRY__KEY_PREFIX",
            format!("tidings-bench-{unique}:"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend_from_slice(extra);
    let with = |extra: &[(&str, String)]| {
        let mut all = env.clone();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        all
    };

    let migrate = tidings_command("tidings", &env)?
        .arg("migrate")
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(
        migrate.success(),
        "tidings migrate failed; is the CQL node at {} up (scripts/cassandra.sh start)?",
        services.cql
    );
    let sequence = ServerProcess::start(
        "tidings-sequence",
        tidings_command("tidings-sequence", &env)?,
    )?;
    let store = ServerProcess::start("tidings-store", tidings_command("tidings-store", &env)?)?;
    let peers_sequence = ("TIDINGS__PEERS__SEQUENCE", sequence.addr("sequence")?);
    let sync = ServerProcess::start(
        "tidings-sync",
        tidings_command("tidings-sync", &with(std::slice::from_ref(&peers_sequence)))?,
    )?;
    let logic = ServerProcess::start(
        "tidings-logic",
        tidings_command(
            "tidings-logic",
            &with(&[
                peers_sequence,
                ("TIDINGS__PEERS__STORE", store.addr("store")?),
                ("TIDINGS__PEERS__SYNC", sync.addr("sync")?),
            ]),
        )?,
    )?;
    let gateway = ServerProcess::start(
        "tidings-gateway",
        tidings_command(
            "tidings-gateway",
            &with(&[
                ("TIDINGS__PEERS__LOGIC", logic.addr("logic")?),
                ("TIDINGS__PEERS__SYNC", sync.addr("sync")?),
            ]),
        )?,
    )?;
    Ok(Target {
        kind: TargetKind::TidingsDistributed,
        url: format!("ws://{}/ws", gateway.addr("gateway_ws")?),
        processes: vec![gateway, logic, sync, store, sequence],
        _data: None,
    })
}

/// The CQL node and Redis of the distributed shape: from
/// `TIDINGS_TEST_CQL` (or `TIDINGS_TEST_SCYLLA`) and `TIDINGS_TEST_REDIS`
/// when set, else started with `scripts/cassandra.sh` and `scripts/redis.sh`
/// (both idempotent) from the repository root, the current directory.
pub fn cluster_services() -> anyhow::Result<ClusterServices> {
    let cql = std::env::var("TIDINGS_TEST_CQL")
        .or_else(|_| std::env::var("TIDINGS_TEST_SCYLLA"))
        .ok();
    let redis = std::env::var("TIDINGS_TEST_REDIS").ok();
    let cql = match cql {
        Some(cql) => cql,
        None => from_script("scripts/cassandra.sh", "TIDINGS_TEST_CQL")?,
    };
    let redis = match redis {
        Some(redis) => redis,
        None => from_script("scripts/redis.sh", "TIDINGS_TEST_REDIS")?,
    };
    Ok(ClusterServices { cql, redis })
}

/// Runs `<script> start`, then reads `KEY=value` from `<script> env`.
fn from_script(script: &str, key: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        Path::new(script).exists(),
        "{key} is not set and {script} is not here: run from the repository root, or \
         export \"$({script} env)\" after `{script} start`"
    );
    let started = Command::new(script)
        .arg("start")
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(started.success(), "{script} start failed");
    let output = Command::new(script).arg("env").output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("{script} env printed no {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_parse() {
        let fields = parse_listening(
            "tidings listening gateway_ws=127.0.0.1:4100 gateway_grpc=127.0.0.1:4101",
        );
        assert_eq!(fields["gateway_ws"], "127.0.0.1:4100");
        assert_eq!(fields.len(), 2);
    }
}
