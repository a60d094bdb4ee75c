//! The check that the store is never called synchronously on a tokio runtime thread: such a
//! call blocks the runtime's worker, and on PostgreSQL it panics ("Cannot start a runtime from
//! within a runtime": the sync client blocks on a runtime of its own). SQLite would let it pass
//! silently, so debug builds (and so every test) refuse it on both backends.
//!
//! A thread with no runtime at all (a plain `#[test]`, a thread of its own) may call the store;
//! a thread with one may only inside [`blocking`], which [`super::Store::run`] wraps around its
//! closure on tokio's blocking pool. (`Handle::try_current` alone cannot tell: the blocking
//! pool's threads carry the runtime's handle too.) Must not do any I/O.

use std::cell::Cell;

thread_local! {
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as blocking work that may call the store: only on a thread where blocking is
/// allowed (tokio's blocking pool, `spawn_blocking`, or a thread of its own).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    /// Restores the flag, also when `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BLOCKING.set(self.0);
        }
    }
    let _restore = Restore(BLOCKING.replace(true));
    f()
}

/// In debug builds, panics when the store is called synchronously on a runtime thread.
pub(super) fn check() {
    debug_assert!(
        BLOCKING.get() || tokio::runtime::Handle::try_current().is_err(),
        "a synchronous store call on a tokio runtime thread (it blocks the runtime, and panics on \
         PostgreSQL): call the store through Store::run (async) or Store::run_blocking"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blocking_work_may_call_the_store_on_a_runtime_thread() {
        check(); // no runtime here
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            blocking(check);
            let on_worker = std::panic::catch_unwind(check);
            assert_eq!(on_worker.is_err(), cfg!(debug_assertions));
            // The blocking pool's threads carry the runtime's handle: only the flag lets them.
            let pooled = tokio::task::spawn_blocking(|| std::panic::catch_unwind(check).is_err());
            assert_eq!(pooled.await.unwrap(), cfg!(debug_assertions));
            tokio::task::spawn_blocking(|| blocking(check)).await.unwrap();
        });
    }
}
