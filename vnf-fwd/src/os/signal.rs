//! SIGINT/SIGTERM to a shutdown flag that the poll loops read, and, around a
//! step that cannot be interrupted (EAL initialisation), to a prompt exit.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Set by the signal handler; polled (Relaxed) by every lcore.
static STOP: AtomicBool = AtomicBool::new(false);

/// The last signal handled (0 before any).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The write end of the pipe that wakes an [`ExitOnSignal`] watcher, or -1.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// The process-wide shutdown flag.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Atomics and write(2) only: async-signal-safe.
    SIGNAL.store(sig, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: errno is per-thread and restored, so the interrupted code
        // does not see write's; `fd` is a non-blocking pipe end that is never
        // closed (a full pipe drops the byte: the watcher is awake anyway).
        unsafe {
            let errno = *libc::__errno_location();
            let byte = 1u8;
            libc::write(fd, std::ptr::addr_of!(byte).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Routes SIGINT and SIGTERM to [`stop_flag`] (and to an armed [`ExitOnSignal`]).
pub fn install() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only performs atomic operations and write(2),
        // which are async-signal-safe; `sigaction` is given a zeroed, then
        // filled struct.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// While alive, SIGINT or SIGTERM (once [`install`]ed) ends the process at
/// once: a watcher thread runs the `cleanup` given to [`ExitOnSignal::arm`]
/// with the signal's name, then `_exit(0)`s, skipping `atexit` handlers that
/// would touch half-built state. For a step that cannot be interrupted and
/// may wait without end: `rte_eal_init` waits in a `server=1` virtio_user
/// probe until the switch connects. A signal that came before `arm` counts.
///
/// Dropping it (once the step is over) disarms it; from then on a signal
/// only sets [`stop_flag`]. A signal that races the drop either exits
/// (drop then never returns) or is left to the flag.
pub struct ExitOnSignal {
    /// Whether the watcher may still exit the process; the watcher holds the
    /// lock from its decision to its `_exit`.
    armed: Arc<Mutex<bool>>,
    watcher: Option<JoinHandle<()>>,
}

impl ExitOnSignal {
    /// Starts the watcher.
    ///
    /// # Errors
    ///
    /// A failed `pipe` or thread spawn.
    pub fn arm(cleanup: impl FnOnce(&str) + Send + 'static) -> io::Result<ExitOnSignal> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array with two new descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The handler may hold this value at any time, so the write end is
        // never closed (one descriptor per `arm`, for the process's life).
        WAKE.store(write_end.into_raw_fd(), Ordering::SeqCst);
        let armed = Arc::new(Mutex::new(true));
        let watching = armed.clone();
        let watcher = std::thread::Builder::new()
            .name("signal-exit".into())
            .spawn(move || watch(File::from(read_end), &watching, cleanup))?;
        Ok(ExitOnSignal {
            armed,
            watcher: Some(watcher),
        })
    }
}

impl Drop for ExitOnSignal {
    fn drop(&mut self) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = false;
        // Wake the watcher so it sees it is disarmed.
        wake_watcher();
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        WAKE.store(-1, Ordering::SeqCst);
    }
}

/// Writes a byte to the wake pipe, as the handler does.
fn wake_watcher() {
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: `fd` is the open, non-blocking write end of the wake pipe.
        unsafe { libc::write(fd, std::ptr::addr_of!(byte).cast(), 1) };
    }
}

/// The watcher thread: waits for a wake-up; if still armed and a signal came,
/// cleans up and exits the process.
fn watch(mut wake: File, armed: &Mutex<bool>, cleanup: impl FnOnce(&str)) {
    let mut bytes = [0u8; 64];
    loop {
        {
            let armed = armed.lock().unwrap_or_else(PoisonError::into_inner);
            if !*armed {
                // Kept open, as the write end: a handler racing the disarm
                // writes into a pipe that still has a reader.
                let _ = wake.into_raw_fd();
                return;
            }
            let sig = SIGNAL.load(Ordering::SeqCst);
            if sig != 0 {
                cleanup(signal_name(sig));
                // SAFETY: ends the process without running atexit handlers
                // or destructors, the lock still held so `drop` cannot
                // proceed as if disarmed.
                unsafe { libc::_exit(0) };
            }
        }
        // Wait for a byte; the pipe is non-blocking, so poll first.
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&wake),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd that lives across the call.
        unsafe { libc::poll(&mut pfd, 1, -1) };
        let _ = wake.read(&mut bytes);
    }
}

/// "SIGINT", "SIGTERM" or "a signal".
fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
