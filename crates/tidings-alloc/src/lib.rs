//! The allocator of every Tidings binary: mimalloc, with freed memory kept
//! mapped long enough to be reused.
//!
//! The send path makes many small, short-lived allocations across threads,
//! where glibc's allocator spent about a fifth of the all-in-one's CPU time
//! in a profile under load. mimalloc returns freed pages to the OS 10 ms
//! after they empty, so under steady load the same memory is freed, purged
//! and faulted in again many times a second: a profile at full send rate
//! spent about a sixth of the server's CPU in the kernel zeroing those pages
//! (`clear_page_erms` under mimalloc's page initialisation). Kept for a
//! second, they are reused instead; memory still goes back to the OS once
//! the load drops.

use std::os::raw::c_long;

/// The allocator; a binary installs it with `#[global_allocator]`.
pub use mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (the same index in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long emptied pages stay mapped before they go back to the OS.
pub const PURGE_DELAY_MS: c_long = 1_000;

/// Applies the tuning; every binary calls it first. `MIMALLOC_PURGE_DELAY` in
/// the environment, read by mimalloc itself, wins over it.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: sets one integer option by its index; mimalloc stores options
    // atomically and reads this one on each purge decision.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS)
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        super::tune();
        #[allow(unsafe_code)]
        // SAFETY: reads one integer option by its index.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, super::PURGE_DELAY_MS);
    }
}
