//! Packet-buffer pools.

use super::{Eal, Errno, Error};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a [`Mempool`] is alive: there is one at a time, so every mbuf a
/// tx queue with fast mbuf free sends comes from the same pool, as that
/// offload requires.
static ALIVE: AtomicBool = AtomicBool::new(false);

/// An `rte_pktmbuf` pool, freed on drop. Ports borrow it, so it outlives them.
/// The process has one at a time (see [`Mempool::new`]).
pub struct Mempool<'eal> {
    ptr: NonNull<ffi::rte_mempool>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe (ring backed,
// with per-lcore caches), so a pool may be shared and used from any lcore.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as for Send: every operation on a mempool is thread-safe.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    /// Creates a pool of `count` mbufs with `cache` mbufs cached per lcore and
    /// the default data room (2048 bytes plus headroom), on `socket`. Fails
    /// while another pool is alive.
    pub fn new(
        _eal: &'eal Eal,
        name: &str,
        count: u32,
        cache: u32,
        socket: i32,
    ) -> Result<Self, Error> {
        let c_name = CString::new(name).map_err(|_| Error::NulInArgument(name.to_owned()))?;
        if ALIVE.swap(true, Ordering::AcqRel) {
            return Err(Error::SecondMempool {
                name: name.to_owned(),
            });
        }
        // SAFETY: the EAL is initialised (borrowed) and the name is a valid C string
        // that DPDK copies.
        let ptr = unsafe {
            ffi::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                count,
                cache,
                0,
                ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool {
                ptr,
                _eal: PhantomData,
            })
            .ok_or_else(|| {
                let errno = Errno::last();
                ALIVE.store(false, Ordering::Release);
                Error::Mempool {
                    name: name.to_owned(),
                    count,
                    errno,
                }
            })
    }

    /// How many mbufs are out of the pool (in queues, bursts or caches).
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive; the count is a read-only query.
        unsafe { ffi::vnf_rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    pub(super) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: ports borrow the pool, so they are closed and no queue refers
        // to it any more; the pointer came from rte_pktmbuf_pool_create.
        unsafe { ffi::rte_mempool_free(self.ptr.as_ptr()) };
        ALIVE.store(false, Ordering::Release);
    }
}
