//! Keeping stdout for machine-readable lines only.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;

/// Points the process's stdout (file descriptor 1) at stderr and returns a
/// handle on the original stdout. Every later `print!` of ours, and any
/// `printf` in DPDK's C code, lands on stderr, so the returned handle carries
/// only what is written to it (`--stats-format json`'s lines).
pub fn divert_stdout_to_stderr() -> io::Result<File> {
    let stdout = io::stdout();
    stdout.lock().flush()?;
    let original = stdout.as_fd().try_clone_to_owned()?;
    // SAFETY: dup2 on descriptors 2 and 1, both open for the process's life;
    // it only makes 1 refer to what 2 refers to. Rust's stdout buffer was
    // flushed above, so nothing buffered moves streams.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(original))
}
