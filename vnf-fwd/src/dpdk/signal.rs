//! SIGINT/SIGTERM to a shutdown flag that the poll loops read.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the signal handler; polled (Relaxed) by every lcore.
static STOP: AtomicBool = AtomicBool::new(false);

/// The process-wide shutdown flag.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

/// Routes SIGINT and SIGTERM to [`stop_flag`].
pub fn install() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only performs an atomic store, which is
        // async-signal-safe; `sigaction` is given a zeroed, then filled struct.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}
