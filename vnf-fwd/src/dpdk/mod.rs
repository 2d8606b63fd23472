//! The safe layer over `dpdk-sys`: with [`crate::os`], the only module of the
//! crate with `unsafe`.
//!
//! Resources free themselves in `Drop` and borrow what they depend on, so the
//! compiler enforces DPDK's teardown order: queues before their [`Port`], ports
//! and [`MbufBurst`]s before the [`Mempool`] their mbufs come from, everything
//! before the [`Eal`] guard, which calls `rte_eal_cleanup()` last. The types'
//! docs show, as `compile_fail` examples, the misuses that do not compile.

#![allow(unsafe_code)]

mod eal;
mod hotplug;
mod mbuf;
mod mempool;
mod pause;
mod port;
mod telemetry;

pub use eal::{remove_runtime_dir, runtime_dir, Eal};
pub use hotplug::Step as ReattachStep;
pub use mbuf::{Freed, MbufBurst, MAX_BURST};
pub use mempool::Mempool;
pub use pause::{Pause, Paused};
pub use port::{Link, Port, PortConfig, PortQueues, PortStats, RxQueue, TxOutcome, TxQueue};
pub use telemetry::{register_command as register_telemetry_command, TelemetryValue};

use std::ffi::CStr;
use std::fmt;

/// A DPDK error code (a positive errno value, or one of DPDK's own above 1000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's `rte_errno`.
    pub fn last() -> Self {
        // SAFETY: the shim only reads DPDK's per-thread errno variable.
        Errno(unsafe { ffi::vnf_rte_errno() })
    }

    /// From a DPDK return value that carries `-errno`.
    pub fn from_ret(ret: i32) -> Self {
        Errno(ret.saturating_abs())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror accepts any value and returns a pointer to a
        // static or per-thread NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(ffi::rte_strerror(self.0)) };
        write!(f, "{} (errno {})", msg.to_string_lossy(), self.0)
    }
}

/// Set-up and teardown errors of the DPDK layer. The fast path has none.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("EAL initialisation failed: {0} (see the EAL messages above)")]
    EalInit(Errno),
    #[error("the EAL can be initialised only once per process")]
    EalTwice,
    #[error("EAL argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    #[error("cannot create mempool '{name}' with {count} mbufs: {errno}")]
    Mempool {
        name: String,
        count: u32,
        errno: Errno,
    },
    #[error("cannot create mempool '{name}': the process has one at a time (fast mbuf free needs every frame of a tx queue from one pool)")]
    SecondMempool { name: String },
    #[error("port {port} is already configured (one Port per port id)")]
    PortClaimed { port: u16 },
    #[error("port {port}: {op} failed: {errno}")]
    Port {
        port: u16,
        op: &'static str,
        errno: Errno,
    },
    #[error("port {port} queue {queue}: {op} failed: {errno}")]
    Queue {
        port: u16,
        queue: u16,
        op: &'static str,
        errno: Errno,
    },
    #[error("port {port}: {asked} {kind} queues requested, the device has at most {max} (a virtio_user vdev has as many as its queues=N)")]
    TooManyQueues {
        port: u16,
        kind: &'static str,
        asked: u16,
        max: u16,
    },
    #[error("port {port}: the device came back as port {now:?} after a re-attach; its queues would address another device")]
    PortMoved { port: u16, now: Option<u16> },
    #[error(
        "port {port}: the device came back unable to send mbuf chains as before, or newly able to"
    )]
    CapabilityChanged { port: u16 },
    #[error("cannot launch lcore {lcore}: {errno}")]
    Launch { lcore: u32, errno: Errno },
    #[error("cannot register telemetry command {command}: {errno}")]
    Telemetry { command: String, errno: Errno },
}

/// Reads the TSC, as `rte_rdtsc` (inlined here rather than called through the shim).
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC only reads the time-stamp counter; no memory is touched.
    return unsafe { std::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the shim's rte_rdtsc reads the cycle counter; no memory is touched.
    return unsafe { ffi::vnf_rte_rdtsc() };
}
