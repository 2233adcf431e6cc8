//! The one runtime and all-in-one server of a fuzz or test process, started
//! on first use and shared by every input: starting them takes far longer
//! than running a script, and a server that has lived through many inputs
//! is the better test.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tidings::AllInOne;
use tokio::runtime::Runtime;

use crate::plan::Limits;

/// Data directories are `<temp>/<PREFIX><pid>`: statics are never dropped,
/// so a process cannot remove its own, and the next one removes those of
/// processes that are gone.
const DATA_DIR_PREFIX: &str = "tidings-fuzz-";

pub(crate) struct Harness {
    pub(crate) runtime: Runtime,
    pub(crate) url: String,
    pub(crate) limits: Limits,
    /// Kept so the server lives as long as the process.
    _server: AllInOne,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// Panics on any thread but the ones driving scripts: the server's.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static DRIVES_SCRIPTS: Cell<bool> = const { Cell::new(false) };
}

/// The process's harness, started on first use.
pub(crate) fn get() -> &'static Harness {
    mark_checking_thread();
    HARNESS.get_or_init(start)
}

/// Marks the calling thread as one that runs checks: its panics are failed
/// checks, not server panics.
pub(crate) fn mark_checking_thread() {
    DRIVES_SCRIPTS.with(|d| d.set(true));
}

/// How many times a server thread panicked since the process started. A
/// panic in a server task only ends that task, which a client might never
/// notice; every one is a bug.
pub(crate) fn server_panics() -> usize {
    SERVER_PANICS.load(Ordering::SeqCst)
}

fn start() -> Harness {
    // Chained to the hook already installed: under cargo-fuzz that one
    // aborts, so a server panic is a crash libFuzzer records.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !DRIVES_SCRIPTS.with(Cell::get) {
            SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tidings-fuzz-server")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = data_dir();
    std::fs::create_dir_all(&dir).expect("fuzz data dir");
    let mut config = tidings_testkit::test_config(&dir);
    // Low enough that a script of a few dozen frames reaches it and the
    // reader's back-pressure is exercised.
    config.gateway.max_in_flight = 4;
    let limits = Limits {
        max_frame_bytes: config.gateway.max_frame_bytes,
        max_body_bytes: config.logic.max_body_bytes,
    };
    let server = runtime
        .block_on(AllInOne::start(config))
        .expect("start all-in-one");
    Harness {
        url: server.addresses.ws_url(),
        runtime,
        limits,
        _server: server,
    }
}

fn data_dir() -> PathBuf {
    let temp = std::env::temp_dir();
    remove_dirs_of_gone_processes(&temp);
    temp.join(format!("{DATA_DIR_PREFIX}{}", std::process::id()))
}

fn remove_dirs_of_gone_processes(temp: &Path) {
    let proc = Path::new("/proc");
    // Without /proc there is no telling which processes are gone.
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DATA_DIR_PREFIX))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
