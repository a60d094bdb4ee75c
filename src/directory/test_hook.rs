//! A test-only hook in the flavours' administrative password set (debug builds only: compiled out
//! of release builds, where [`between_set_and_clear`] does nothing). Owns nothing else; must not
//! change what a set does when the hook is not asked for.
//!
//! `PWRESETD_TEST_KILL_BETWEEN_SET_AND_CLEAR` names a file: once that file exists, the next
//! administrative set removes it and kills its own process (SIGKILL) right after the directory
//! answered the set and before the clear of the mark the set raised (OpenLDAP's `pwdReset`,
//! 389-DS's expiry). tests/faults.rs uses it to put a `serve` crash exactly in that window.

/// Kills the process here when the test asks for it (see the module doc).
pub(super) fn between_set_and_clear() {
    #[cfg(debug_assertions)]
    {
        static FILE: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
        let file = FILE.get_or_init(|| std::env::var_os("PWRESETD_TEST_KILL_BETWEEN_SET_AND_CLEAR"));
        if let Some(file) = file
            && std::fs::remove_file(file).is_ok()
        {
            use rustix::process::{Signal, getpid, kill_process};
            let _ = kill_process(getpid(), Signal::KILL);
            // SIGKILL ends the process at once; nothing after the kill may run meanwhile.
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}
