//! Pausing the worker lcores between two loop iterations, so that the main
//! lcore can work on ports under them (a re-attach): a [`Paused`] proves that
//! every worker [`Eal::launch_pausable`](super::Eal::launch_pausable) started
//! is parked (or has returned), so none is inside a DPDK call.

use std::sync::atomic::{
    AtomicBool, AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::time::{Duration, Instant};

/// How long a parked lcore, or the main lcore waiting for it, sleeps between
/// two looks: a parked worker gives its CPU to the main lcore's work (lcores
/// may share a CPU), and resumes at most this late.
const NAP: Duration = Duration::from_micros(100);

/// The pause shared by the main lcore and the workers of one launch. Workers
/// look at it with [`Pause::check`] (one relaxed load) where they hold
/// nothing of DPDK's: between two loop iterations.
#[derive(Debug, Default)]
pub struct Pause {
    requested: AtomicBool,
    /// Workers launched with this pause.
    launched: AtomicU32,
    /// Workers parked in [`Pause::check`] right now.
    parked: AtomicU32,
    /// Workers whose function has returned (or panicked): they never park.
    finished: AtomicU32,
}

/// Every worker of the launch is parked or has returned, until this is
/// dropped (then they resume).
#[must_use = "the workers resume when this is dropped"]
pub struct Paused<'a>(&'a Pause);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.requested.store(false, Release);
        // Every parked worker leaves before another pause can count it.
        while self.0.parked.load(Acquire) > 0 {
            std::thread::sleep(NAP);
        }
    }
}

impl Pause {
    /// Asks every worker to park and waits until each one has (or has
    /// returned). `None` if `stop` is set or `timeout` passes first; the
    /// request is withdrawn then.
    pub fn hold(&self, stop: &AtomicBool, timeout: Duration) -> Option<Paused<'_>> {
        let end = Instant::now() + timeout;
        self.requested.store(true, Release);
        let paused = Paused(self);
        // Acquire: whatever the workers did before parking happens before
        // what the holder does next.
        while self.parked.load(Acquire) + self.finished.load(Acquire) < self.launched.load(Acquire)
        {
            if stop.load(Relaxed) || Instant::now() >= end {
                return None;
            }
            std::thread::sleep(NAP);
        }
        Some(paused)
    }

    /// On a worker lcore, where it is inside no DPDK call: parks while a
    /// pause is requested, until it ends or `stop` is set.
    #[inline]
    pub fn check(&self, stop: &AtomicBool) {
        if self.requested.load(Relaxed) {
            self.park(stop);
        }
    }

    #[cold]
    fn park(&self, stop: &AtomicBool) {
        self.parked.fetch_add(1, AcqRel);
        while self.requested.load(Acquire) && !stop.load(Relaxed) {
            std::thread::sleep(NAP);
        }
        self.parked.fetch_sub(1, AcqRel);
    }

    /// A worker was launched with this pause (before it can run).
    pub(super) fn launched(&self) {
        self.launched.fetch_add(1, AcqRel);
    }

    /// A worker's function returned.
    pub(super) fn finished(&self) {
        self.finished.fetch_add(1, AcqRel);
    }
}
