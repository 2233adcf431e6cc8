//! Crash points for fault tests: in debug builds (or with the `failpoints`
//! feature) the process aborts at the point named by `TIDINGS_CRASH_AT`
//! (e.g. `send.after_reserve`), as a `kill -9` would stop it there. In
//! release builds without the feature [`crash_point`] compiles to nothing.

/// Every crash point of the send path, in the order a send passes them.
pub const SEND_CRASH_POINTS: &[&str] = &[
    "send.after_lookup",
    "send.after_allocate",
    "send.after_reserve",
    "send.after_store",
    "send.after_inbox",
    "send.after_commit",
    "send.after_mark",
];

/// Aborts the process if `TIDINGS_CRASH_AT` names `point`.
#[cfg(any(debug_assertions, feature = "failpoints"))]
pub fn crash_point(point: &str) {
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var("TIDINGS_CRASH_AT").ok());
    if target.as_deref() == Some(point) {
        eprintln!("crash point {point} reached: aborting");
        std::process::abort();
    }
}

/// Compiled out of release builds.
#[cfg(not(any(debug_assertions, feature = "failpoints")))]
#[inline(always)]
pub fn crash_point(_point: &str) {}
