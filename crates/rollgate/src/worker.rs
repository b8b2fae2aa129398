//! Which data-plane worker thread the code runs on.
//!
//! The data port is served by N threads, each with its own single-threaded runtime (see
//! `serve::workers`). State that is cheapest when it never crosses threads, such as the upstream
//! connection pools, is kept in one slot per worker plus a shared slot for every other thread
//! (the admin runtime, tests). This module only says which slot the current thread owns.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Data-plane worker threads the process runs; set once at startup, before backends are built.
static COUNT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's worker index, `None` on every thread that is not a data-plane worker.
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Records how many worker threads serve the data port.
pub(crate) fn set_count(n: usize) {
    COUNT.store(n, Relaxed);
}

/// Marks the current thread as worker `index`.
pub(crate) fn enter(index: usize) {
    INDEX.with(|i| i.set(Some(index)));
}

/// Slots a per-worker structure needs: one per worker, plus the shared slot 0.
pub(crate) fn slots() -> usize {
    COUNT.load(Relaxed) + 1
}

/// The slot of the current thread in a structure of `len` slots: 0 off the workers, else
/// `1 + index` (wrapped, should the structure predate a larger worker count).
pub(crate) fn slot(len: usize) -> usize {
    match INDEX.with(Cell::get) {
        Some(i) if len > 1 => 1 + i % (len - 1),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_threads_share_slot_zero_and_workers_wrap() {
        assert_eq!(slot(3), 0);
        std::thread::spawn(|| {
            enter(0);
            assert_eq!(slot(3), 1);
            enter(3);
            assert_eq!(slot(3), 2);
            assert_eq!(slot(1), 0);
        })
        .join()
        .expect("thread");
    }
}
