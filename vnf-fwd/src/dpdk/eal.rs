//! The EAL guard: initialisation from argv, lcore queries and launch, cleanup on drop.

use super::{Errno, Error, Pause};
use std::any::Any;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// `rte_eal_init` may run once per process, even after `rte_eal_cleanup`.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised Environment Abstraction Layer. Dropping it calls
/// `rte_eal_cleanup()`, which releases hugepages and the runtime directory; every
/// other DPDK object borrows it and so is gone by then.
pub struct Eal {
    /// Whether drop calls `rte_eal_cleanup` (see [`Eal::skip_cleanup`]).
    cleanup: bool,
    /// EAL keeps pointers into argv (e.g. the program name): they live as long as the EAL.
    _args: Vec<CString>,
    /// The EAL belongs to the thread that initialised it (the main lcore).
    _not_send: PhantomData<*const ()>,
}

impl Eal {
    /// Initialises the EAL with `args` (argv\[0\] first, then EAL options).
    pub fn init(args: &[String]) -> Result<Eal, Error> {
        let owned = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| Error::NulInArgument(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(Error::EalTwice);
        }
        // rte_eal_init permutes argv, so it gets its own pointer array.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(argv.len()).map_err(|_| Error::EalInit(Errno(libc::E2BIG)))?;
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the EAL
        // (kept in `_args`); EAL only reorders the pointer array.
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::EalInit(Errno::last()));
        }
        Ok(Eal {
            cleanup: true,
            _args: owned,
            _not_send: PhantomData,
        })
    }

    /// Makes drop skip `rte_eal_cleanup` (it still removes the runtime
    /// directory): for a process that leaves devices open because closing
    /// them would crash DPDK (see `Port::leave_open_at_exit`); the kernel
    /// releases the memory at exit.
    pub fn skip_cleanup(&mut self) {
        self.cleanup = false;
    }

    /// The lcore that runs `main` (it forwards too, as in l2fwd).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: the EAL is initialised.
        unsafe { ffi::rte_get_main_lcore() }
    }

    /// Enabled lcore ids in ascending order, the main lcore included.
    pub fn lcores(&self) -> Vec<u32> {
        (0..ffi::RTE_MAX_LCORE)
            // SAFETY: any id below RTE_MAX_LCORE may be queried.
            .filter(|&id| unsafe { ffi::rte_lcore_is_enabled(id) } != 0)
            .collect()
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised (it calibrated the TSC).
        unsafe { ffi::rte_get_tsc_hz() }
    }

    /// Ids of the usable Ethernet ports, ascending (`RTE_ETH_FOREACH_DEV`).
    pub fn ports(&self) -> Vec<u16> {
        let mut ports = Vec::new();
        let mut id = 0u64;
        loop {
            // SAFETY: plain query; RTE_ETH_FOREACH_DEV iterates the same way
            // (owner 0 = ports not owned by another entity).
            id = unsafe { ffi::rte_eth_find_next_owned_by(id as u16, 0) };
            if id >= u64::from(ffi::RTE_MAX_ETHPORTS) {
                return ports;
            }
            ports.push(id as u16);
            id += 1;
        }
    }

    /// Runs `f(work)` for every `(lcore, work)` entry on that worker lcore
    /// (`rte_eal_remote_launch`), then `on_main` on the calling thread, the main
    /// lcore, and returns once every lcore is done, so `f`, `work` and `on_main`
    /// may borrow from the caller. When `on_main` returns, or a launch fails
    /// (then `on_main` is skipped and the error returned), or anything unwinds
    /// out of here, `stop` is set and every launched lcore waited for first: a
    /// guard does it, so nothing the lcores use can be dropped under them. A
    /// panic on a worker lcore sets `stop` too, and is resumed here once every
    /// lcore has returned.
    pub fn launch<W: Send>(
        &self,
        work: Vec<(u32, W)>,
        f: &(dyn Fn(W) + Sync),
        stop: &AtomicBool,
        on_main: impl FnOnce(),
    ) -> Result<(), Error> {
        self.launch_pausable(work, f, stop, &Pause::default(), on_main)
    }

    /// As [`Eal::launch`], with the workers counted in `pause`, so that
    /// `on_main` can hold them all parked ([`Pause::hold`]) where `f` calls
    /// [`Pause::check`].
    pub fn launch_pausable<W: Send>(
        &self,
        work: Vec<(u32, W)>,
        f: &(dyn Fn(W) + Sync),
        stop: &AtomicBool,
        pause: &Pause,
        on_main: impl FnOnce(),
    ) -> Result<(), Error> {
        let main = self.main_lcore();
        let mut slots: Vec<(u32, LaunchSlot<'_, W>)> = work
            .into_iter()
            .map(|(lcore, w)| {
                let slot = LaunchSlot {
                    work: Some(w),
                    f,
                    stop,
                    pause,
                    panic: None,
                };
                (lcore, slot)
            })
            .collect();
        // Declared after `slots`, so dropped before them on every path.
        let wait = StopAndWait { stop };
        let mut result = Ok(());
        for (lcore, slot) in slots.iter_mut() {
            if *lcore == main {
                result = Err(Error::Launch {
                    lcore: main,
                    errno: Errno(libc::EBUSY),
                });
                break;
            }
            let arg: *mut LaunchSlot<'_, W> = slot;
            // Counted before it can run, so a pause never misses it.
            pause.launched();
            // SAFETY: `slot` stays in place (the vector is not resized) and alive
            // until `wait` has seen every lcore finish (it is dropped first);
            // each lcore gets its own slot, so no two threads share one.
            let ret =
                unsafe { ffi::rte_eal_remote_launch(Some(run_slot::<W>), arg.cast(), *lcore) };
            if ret != 0 {
                pause.finished();
                result = Err(Error::Launch {
                    lcore: *lcore,
                    errno: Errno::from_ret(ret),
                });
                break;
            }
        }
        if result.is_ok() {
            on_main();
        }
        drop(wait);
        if let Some(panic) = slots.iter_mut().find_map(|(_, s)| s.panic.take()) {
            std::panic::resume_unwind(panic);
        }
        result
    }
}

/// Sets the stop flag and waits for every worker lcore when dropped, on the
/// main lcore: at the end of [`Eal::launch`], whether it returns or unwinds.
struct StopAndWait<'s> {
    stop: &'s AtomicBool,
}

impl Drop for StopAndWait<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // SAFETY: waits for every worker lcore; called from the main lcore
        // (the Eal, which `launch` borrows, is not Send).
        unsafe { ffi::rte_eal_mp_wait_lcore() };
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: returns a pointer to the EAL's NUL-terminated runtime directory
        // path, valid until cleanup; copied out right away.
        let runtime_dir = unsafe { CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: plain query of the initialised EAL's configuration.
        let primary = unsafe { ffi::rte_eal_process_type() } == ffi::RTE_PROC_PRIMARY;
        if self.cleanup {
            // SAFETY: every DPDK object borrows the Eal, so none is alive any
            // more, and no lcore is running (launch waits for all of them).
            unsafe { ffi::rte_eal_cleanup() };
        }
        remove_runtime_dir(Path::new(&runtime_dir), primary);
    }
}

/// The runtime directory DPDK 22.11 gives a process started with
/// `--file-prefix PREFIX` (`rte` without): `/var/run/dpdk/PREFIX` for root,
/// else under `$XDG_RUNTIME_DIR` or `/tmp` (`eal_create_runtime_dir`). For
/// cleaning up after an EAL that never finished initialising.
pub fn runtime_dir(file_prefix: Option<&str>) -> PathBuf {
    // SAFETY: getuid cannot fail and touches no memory.
    let base = if unsafe { libc::getuid() } == 0 {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    };
    base.join("dpdk").join(file_prefix.unwrap_or("rte"))
}

/// Removes what an exiting process leaves in its runtime directory `dir`:
/// DPDK 22.11 leaves the directory behind even with `--in-memory`, and
/// unlinks its telemetry socket only in an atexit handler. Removes that
/// socket, a primary's shared files, then the directory if it is empty: a
/// directory other processes of the prefix still use keeps their files and stays.
pub fn remove_runtime_dir(dir: &Path, primary: bool) {
    let _ = std::fs::remove_file(dir.join("dpdk_telemetry.v2"));
    if primary {
        remove_primary_files(dir);
    }
    let _ = std::fs::remove_dir(dir);
}

/// Removes the files a primary process without `--in-memory` shares with
/// its secondaries (`config`, `hugepage_info`, `fbarray_*`, `mp_socket*`):
/// DPDK 22.11 keeps them after `rte_eal_cleanup`, so every run of a new
/// `--file-prefix` would leave a directory behind. A secondary still attached
/// keeps its mappings; the primary's lock on `config` goes with the process.
fn remove_primary_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "config"
            || name == "hugepage_info"
            || name.starts_with("fbarray_")
            || name.starts_with("mp_socket")
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What one worker lcore runs: its work item and the shared function.
struct LaunchSlot<'f, W> {
    work: Option<W>,
    f: &'f (dyn Fn(W) + Sync),
    /// Set when `f` panics, so the other lcores stop.
    stop: &'f AtomicBool,
    /// Told when `f` returns: a returned worker never parks.
    pause: &'f Pause,
    /// `f`'s panic, for the main lcore to resume.
    panic: Option<Box<dyn Any + Send>>,
}

/// The `lcore_function_t` trampoline into a [`LaunchSlot`]. A panic must not
/// unwind into DPDK's C code (it would abort the process with every device
/// still open): it is caught, stops the other lcores, and waits in the slot.
extern "C" fn run_slot<W>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `LaunchSlot<W>` that `launch` handed to this lcore
    // alone, alive until `launch` has waited for the lcore.
    let slot = unsafe { &mut *arg.cast::<LaunchSlot<'_, W>>() };
    let Some(w) = slot.work.take() else {
        return 0;
    };
    let f = slot.f;
    // Unwind safety: after a panic nothing reads what `f` was changing; the
    // main lcore resumes the panic once every lcore has returned.
    let ret = match std::panic::catch_unwind(AssertUnwindSafe(|| f(w))) {
        Ok(()) => 0,
        Err(panic) => {
            slot.panic = Some(panic);
            slot.stop.store(true, Ordering::SeqCst);
            -1
        }
    };
    slot.pause.finished();
    ret
}
