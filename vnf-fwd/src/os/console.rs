//! The process's output: whatever is written to stdout (our `print!`s, and
//! any `printf` in DPDK's C code) reaches the real stdout without ever
//! blocking a forwarding lcore, and a reader that goes away stops the
//! process cleanly instead of crashing it.
//!
//! [`start`] replaces file descriptor 1 with the write end of a pipe owned by
//! the process. A relay thread drains that pipe at once into a bounded buffer
//! (an `Outlet`), and a writer thread copies the buffer to the real stdout.
//! A reader that stops reading (a stopped `cat`, a full pipe, Ctrl-S on a
//! terminal) stalls only that writer thread: the buffer drops what does not
//! fit and, once there is room again, says in the stream how many bytes went.
//! A reader that has gone (`EPIPE`) sets the stop flag: the lcores stop, the
//! process tears everything down, and [`finish`] then ends it by `SIGPIPE`,
//! as `yes | head` ends `yes`. Error lines ([`error`]) reach stderr through
//! an outlet of their own, so a stalled stderr delays nobody either.
//!
//! With [`Layout::Json`], the real stdout carries only the JSON lines (a
//! [`Sink`]), and what is written to fd 1 goes to stderr.
//!
//! DPDK 22.11's own log lines go straight to stderr (its console log stream
//! writes there), outside the outlets.

use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Bytes an outlet keeps for a reader that does not read; beyond, it drops.
/// About ten minutes of l2fwd's statistics block for 4 ports at `-T 1`.
const CAPACITY: usize = 1 << 20;
/// How long [`drain`] gives the writers to hand their buffers to slow
/// readers: short enough that SIGTERM still ends the process within a second.
const DRAIN_DEADLINE: Duration = Duration::from_millis(300);
/// Bytes the relay takes from the pipe at a time (the pipe's default size).
const RELAY_CHUNK: usize = 64 * 1024;

/// Where the streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// fd 1 to the real stdout; error lines to stderr.
    Text,
    /// JSON lines (through the [`Sink`] that [`start`] returns) to the real
    /// stdout; fd 1 and error lines to stderr.
    Json,
}

/// The outlets of the running process, set once by [`start`].
struct Console {
    /// What is written to fd 1.
    log: Arc<Outlet>,
    /// Error lines: their own outlet on stderr, or `log` when that is stderr.
    err: Arc<Outlet>,
    /// [`Layout::Json`]: the JSON lines, on the real stdout.
    json: Option<Arc<Outlet>>,
    /// Whether the real stdout is a terminal (fd 1 is a pipe now).
    stdout_is_terminal: bool,
}

static CONSOLE: OnceLock<Console> = OnceLock::new();

/// Set when the real stdout's reader has gone (a write failed with `EPIPE`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Sets up the relay (see the module documentation). `stop` is set when the
/// real stdout's reader goes away. Returns the JSON lines' writer for
/// [`Layout::Json`]. Call it once, before anything else writes to stdout
/// and before the EAL starts threads (the relay and writer threads run on
/// any CPU, not pinned to an lcore's).
///
/// # Errors
///
/// A failed `pipe`, `dup` or thread spawn, or a second call.
pub fn start(layout: Layout, stop: &'static AtomicBool) -> io::Result<Option<Sink>> {
    if CONSOLE.get().is_some() {
        return Err(io::Error::other("the console relay is already running"));
    }
    open_missing_std_fds()?;
    io::stdout().lock().flush()?;
    let stdout = dup_cloexec(libc::STDOUT_FILENO)?;
    let stderr = dup_cloexec(libc::STDERR_FILENO)?;
    let stdout_is_terminal = stdout.is_terminal();
    let (log, err, json) = match layout {
        Layout::Text => {
            let log = Outlet::spawn("stdout", stdout, Some(stop), true)?;
            let err = Outlet::spawn("stderr", stderr, None, true)?;
            (log, err, None)
        }
        Layout::Json => {
            let log = Outlet::spawn("stderr", stderr, None, true)?;
            // Dropping a line of JSON leaves the others whole: no notice there.
            let json = Outlet::spawn("json", stdout, Some(stop), false)?;
            (log.clone(), log, Some(json))
        }
    };
    let (read_end, write_end) = pipe_cloexec()?;
    {
        let log = log.clone();
        std::thread::Builder::new()
            .name("stdout-relay".into())
            .spawn(move || relay(File::from(read_end), &log))?;
    }
    // SAFETY: dup2 onto descriptor 1, which is open (checked above); it only
    // makes 1 refer to the pipe. Rust's stdout buffer was flushed above, and
    // C's stdio buffers nothing yet (the EAL has not started).
    if unsafe { libc::dup2(write_end.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // fd 1 is now the pipe's only write end: the relay sees end-of-file once
    // `drain` points fd 1 elsewhere.
    drop(write_end);
    let sink = json.clone().map(Sink);
    let console = Console {
        log,
        err,
        json,
        stdout_is_terminal,
    };
    if CONSOLE.set(console).is_err() {
        return Err(io::Error::other("the console relay is already running"));
    }
    // The C side may end the process with exit() (the EAL after printing its
    // --help, rte_exit): drain then too, or its last lines die in the pipe.
    // SAFETY: registers a plain extern "C" function that takes no arguments.
    if unsafe { libc::atexit(drain_at_exit) } != 0 {
        return Err(io::Error::other("atexit: no room for the console's drain"));
    }
    Ok(sink)
}

/// [`drain`] for `atexit`: runs on every `exit()`, Rust's own included
/// (where [`finish`] has drained already, so it returns at once).
extern "C" fn drain_at_exit() {
    drain();
}

/// Writes one line to stderr (the newline is added): through its outlet once
/// [`start`] has run, else directly. Never blocks for long, never panics; a
/// stderr nobody can write to loses the line.
pub fn error(line: fmt::Arguments<'_>) {
    let line = format!("{line}\n");
    match CONSOLE.get() {
        Some(console) => console.err.push(line.as_bytes()),
        None => {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Whether the real stdout is a terminal (fd 1 itself is a pipe once [`start`] ran).
pub fn stdout_is_terminal() -> bool {
    CONSOLE
        .get()
        .map_or_else(|| io::stdout().is_terminal(), |c| c.stdout_is_terminal)
}

/// Whether the real stdout's reader has gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

/// Hands everything written so far to the writers and gives them
/// `DRAIN_DEADLINE` to write it; what a stalled reader has not taken by
/// then is lost. Later writes to fd 1 go to `/dev/null`. For the end of the
/// process; a no-op before [`start`].
pub fn drain() {
    static DRAINED: AtomicBool = AtomicBool::new(false);
    let Some(console) = CONSOLE.get() else {
        return;
    };
    // Once: a second drain (at exit, after `finish`) would only wait again
    // on a stalled reader.
    if DRAINED.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = io::stdout().lock().flush();
    // SAFETY: fflush(NULL) flushes every C stdio output stream (DPDK's printf
    // output); their writes go to the pipe, which the relay keeps draining.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        // SAFETY: dup2 of an open descriptor onto descriptor 1; it closes the
        // pipe's last write end, so the relay reads end-of-file after the rest.
        unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) };
    }
    for outlet in [&console.err].into_iter().chain(&console.json) {
        // `err` is `log` in the Json layout: its input ends with the relay's.
        if !Arc::ptr_eq(outlet, &console.log) {
            outlet.end_input();
        }
    }
    let deadline = Instant::now() + DRAIN_DEADLINE;
    for outlet in [&console.log, &console.err]
        .into_iter()
        .chain(&console.json)
    {
        outlet.wait_written(deadline);
    }
}

/// The end of `main`: [`drain`], then the exit status `code`, unless the real
/// stdout's reader has gone: the process then dies of `SIGPIPE`, as a Unix
/// filter does (a shell reports 141 under `pipefail`, and prints nothing).
/// Everything else must be torn down already.
pub fn finish(code: ExitCode) -> ExitCode {
    drain();
    if !stdout_closed() {
        return code;
    }
    // SAFETY: restores SIGPIPE's default action (Rust's runtime ignores it),
    // unblocks it for this thread and raises it: the process ends here.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
    }
    // Not reached; the shell's code for death by SIGPIPE otherwise.
    ExitCode::from(128 + libc::SIGPIPE as u8)
}

/// The JSON lines' writer: each `write` is queued whole for the real stdout,
/// or dropped whole when a stalled reader left no room. Never blocks.
pub struct Sink(Arc<Outlet>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A bounded buffer in front of one output file, and the thread that writes it.
struct Outlet {
    state: Mutex<State>,
    /// Signalled on new input, end of input and a finished batch.
    changed: Condvar,
    /// `Some` for the real stdout: set when its reader has gone.
    stop_on_close: Option<&'static AtomicBool>,
    /// Whether dropped bytes are reported in the stream.
    report_drops: bool,
}

#[derive(Default)]
struct State {
    /// Bytes the writer has not taken yet.
    queued: Vec<u8>,
    /// Bytes dropped since the last report in the stream.
    dropped: u64,
    /// The last byte queued was not a newline (a drop report then starts a line).
    mid_line: bool,
    /// No more input will come.
    input_ended: bool,
    /// The writer has written everything and stopped (or its reader has gone).
    done: bool,
    /// The reader has gone: everything is discarded.
    closed: bool,
}

impl Outlet {
    /// An outlet on `file`, with its writer thread (`name`-writer).
    fn spawn(
        name: &str,
        file: File,
        stop_on_close: Option<&'static AtomicBool>,
        report_drops: bool,
    ) -> io::Result<Arc<Outlet>> {
        let outlet = Arc::new(Outlet {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop_on_close,
            report_drops,
        });
        let writer = outlet.clone();
        std::thread::Builder::new()
            .name(format!("{name}-writer"))
            .spawn(move || writer.write_out(file))?;
        Ok(outlet)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `bytes` whole, or drops them whole when they do not fit.
    fn push(&self, bytes: &[u8]) {
        let mut s = self.lock();
        if s.closed || s.input_ended || bytes.is_empty() {
            return;
        }
        if s.dropped > 0 && self.report_drops {
            let report = format!(
                "{}[vnf-fwd: {} bytes of output dropped: the reader did not keep up]\n",
                if s.mid_line { "\n" } else { "" },
                s.dropped
            );
            if s.queued.len() + report.len() + bytes.len() > CAPACITY {
                s.dropped += bytes.len() as u64;
                return;
            }
            s.queued.extend_from_slice(report.as_bytes());
            s.dropped = 0;
        }
        if s.queued.len() + bytes.len() > CAPACITY {
            s.dropped += bytes.len() as u64;
            return;
        }
        s.queued.extend_from_slice(bytes);
        s.mid_line = bytes.last() != Some(&b'\n');
        self.changed.notify_all();
    }

    /// No more input: the writer stops once it has written what is queued.
    fn end_input(&self) {
        self.lock().input_ended = true;
        self.changed.notify_all();
    }

    /// Waits until the writer is done or `deadline` has passed.
    fn wait_written(&self, deadline: Instant) {
        let mut s = self.lock();
        while !s.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The writer thread: takes the queue in batches and writes them to `file`.
    fn write_out(&self, mut file: File) {
        let mut batch = Vec::new();
        loop {
            {
                let mut s = self.lock();
                while s.queued.is_empty() && !s.input_ended {
                    s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
                if s.queued.is_empty() {
                    s.done = true;
                    self.changed.notify_all();
                    return;
                }
                std::mem::swap(&mut batch, &mut s.queued);
            }
            match write_all(&mut file, &batch) {
                Ok(()) => {}
                Err((e, _)) if e.kind() == io::ErrorKind::BrokenPipe => self.reader_gone(),
                // A full disk or a device error: count the bytes as dropped
                // and try again with the next batch.
                Err((_, unwritten)) => self.lock().dropped += unwritten as u64,
            }
            batch.clear();
        }
    }

    /// The reader has gone: discard everything from now on, and stop the
    /// process if this is the real stdout.
    fn reader_gone(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.queued.clear();
        if let Some(stop) = self.stop_on_close {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Writes all of `buf`, waiting out `EAGAIN` on a non-blocking descriptor
/// (a terminal shared with a program that set `O_NONBLOCK`). On error,
/// returns it with the count of bytes not written.
fn write_all(file: &mut File, mut buf: &[u8]) -> Result<(), (io::Error, usize)> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), buf.len())),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(file.as_raw_fd()),
            Err(e) => return Err((e, buf.len())),
        }
    }
    Ok(())
}

/// Blocks until `fd` can take a write (or reports an error, which the next
/// write then returns).
fn wait_writable(fd: RawFd) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd that lives across the call.
    unsafe { libc::poll(&mut pfd, 1, -1) };
}

/// The relay thread: moves what is written to fd 1 into `log` as soon as it
/// arrives, until end-of-file (see [`drain`]).
fn relay(mut pipe: File, log: &Outlet) {
    let mut chunk = vec![0u8; RELAY_CHUNK];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => log.push(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A pipe's read end fails only on EINTR: nothing else to wait for.
            Err(_) => break,
        }
    }
    log.end_input();
}

/// Points descriptors 0 to 2 at `/dev/null` where they are closed, so that
/// the pipe does not take their numbers and a process started with stdout
/// closed (`>&-`) runs with its output discarded.
fn open_missing_std_fds() -> io::Result<()> {
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: F_GETFD only queries the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            continue;
        }
        let null = File::options().read(true).write(true).open("/dev/null")?;
        // SAFETY: dup2 of an open descriptor onto a closed standard one.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A close-on-exec duplicate of `fd`, as a file this module owns.
fn dup_cloexec(fd: RawFd) -> io::Result<File> {
    // SAFETY: F_DUPFD_CLOEXEC duplicates an open descriptor into a new one.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just created and is owned by nothing else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// A close-on-exec pipe: (read end, write end).
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array with two new descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outlet on one end of a pipe, with the other end to read from.
    fn outlet(report_drops: bool) -> (Arc<Outlet>, File) {
        let (read, write) = pipe_cloexec().unwrap();
        let outlet = Outlet::spawn("test", File::from(write), None, report_drops).unwrap();
        (outlet, File::from(read))
    }

    /// Polls `cond` for up to 10 s.
    fn wait_until(cond: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < end, "condition not met within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn writes_everything_in_order_then_stops() {
        let (out, mut read) = outlet(true);
        for i in 0..1000 {
            out.push(format!("line {i}\n").as_bytes());
        }
        out.end_input();
        out.wait_written(Instant::now() + Duration::from_secs(10));
        assert!(out.lock().done);
        // The writer's end is closed once it is done: read to end-of-file.
        let mut text = String::new();
        read.read_to_string(&mut text).unwrap();
        let want: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, want);
    }

    #[test]
    fn a_stalled_reader_costs_bytes_not_time() {
        let (out, mut read) = outlet(true);
        let line = [b'x'; 1023]
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<u8>>();
        // Nobody reads: the pipe fills (64 KiB), then the buffer (1 MiB).
        let start = Instant::now();
        for _ in 0..4 * CAPACITY / line.len() {
            out.push(&line);
        }
        assert!(start.elapsed() < Duration::from_secs(1), "push blocked");
        // The reader wakes up: what was kept comes out, with a report of what
        // was dropped where room came back, then what is written after.
        let mut text = Vec::new();
        let reader = std::thread::spawn(move || {
            read.read_to_end(&mut text).unwrap();
            text
        });
        wait_until(|| out.lock().queued.is_empty());
        out.push(b"after\n");
        out.end_input();
        out.wait_written(Instant::now() + Duration::from_secs(10));
        let text = String::from_utf8(reader.join().unwrap()).unwrap();
        assert!(text.starts_with("xxx"), "{}", &text[..80]);
        assert!(text.ends_with("\nafter\n"), "tail");
        // Whole lines only, and every byte accounted for: the lines kept plus
        // the bytes the reports say were dropped are all that was pushed.
        // (How many reports depends on when the writer first blocked.)
        let (mut kept, mut reported, mut reports) = (0, 0, 0);
        for l in text.lines() {
            if l.len() == 1023 {
                kept += 1;
            } else if let Some(n) = l.strip_prefix("[vnf-fwd: ").and_then(|r| {
                r.strip_suffix(" bytes of output dropped: the reader did not keep up]")
            }) {
                reported += n.parse::<usize>().expect("a byte count");
                reports += 1;
            } else {
                assert_eq!(l, "after", "a line cut or foreign");
            }
        }
        assert!(reports > 0, "no drop report");
        assert_eq!(
            kept * line.len() + reported,
            4 * CAPACITY / line.len() * line.len()
        );
    }

    #[test]
    fn a_gone_reader_discards_and_ends_the_writer() {
        let (out, read) = outlet(false);
        drop(read);
        out.push(b"into the void\n");
        wait_until(|| out.lock().closed);
        let s = out.lock();
        assert!(s.queued.is_empty());
        assert!(!s.done, "the writer waits for the end of input");
        drop(s);
        out.push(b"more\n");
        assert!(out.lock().queued.is_empty());
        out.end_input();
        out.wait_written(Instant::now() + Duration::from_secs(10));
        assert!(out.lock().done);
    }
}
