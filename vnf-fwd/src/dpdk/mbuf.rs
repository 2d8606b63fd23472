//! A burst of mbufs owned by one lcore: rx fills it, tx drains it, and whatever
//! is still in it is freed exactly once.

use super::Mempool;
use std::ptr;

/// The largest burst `rx_burst` is asked for (`--burst` is checked against it).
pub const MAX_BURST: usize = 512;

/// Frames rewritten together while the next as many are prefetched.
const GROUP: usize = 4;

/// Up to `MAX_BURST` mbufs owned by the holder. Dropping the burst frees them.
pub struct MbufBurst {
    mbufs: [*mut ffi::rte_mbuf; MAX_BURST],
    len: usize,
}

impl MbufBurst {
    /// An empty burst.
    pub fn new() -> Self {
        MbufBurst {
            mbufs: [ptr::null_mut(); MAX_BURST],
            len: 0,
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the burst holds no mbuf.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Space for `rx_burst` to fill: the burst must be empty (`MbufBurst` is
    /// drained by tx or dropped between bursts).
    #[inline]
    pub(super) fn spare(&mut self, want: usize) -> (*mut *mut ffi::rte_mbuf, u16) {
        debug_assert!(self.is_empty());
        (self.mbufs.as_mut_ptr(), want.min(MAX_BURST) as u16)
    }

    /// Records that the first `n` slots now hold mbufs.
    #[inline]
    pub(super) fn set_len(&mut self, n: usize) {
        debug_assert!(n <= MAX_BURST);
        self.len = n;
    }

    /// The held mbufs, for tx.
    #[inline]
    pub(super) fn as_mut_ptr(&mut self) -> *mut *mut ffi::rte_mbuf {
        self.mbufs.as_mut_ptr()
    }

    /// Calls `keep` on the first segment's bytes of every frame, in order, and
    /// frees the frames for which it returns false. Returns how many were freed.
    #[inline]
    pub fn retain_frames(&mut self, mut keep: impl FnMut(&mut [u8]) -> bool) -> usize {
        let mbufs = &mut self.mbufs[..self.len];
        let n = mbufs.len();
        // Fast path, while every frame is kept: nothing moves. Four frames at a
        // time with the next four prefetched, as testpmd's macswap does: whole
        // groups need no per-frame bounds or prefetch-distance branches.
        for &m in mbufs.iter().take(GROUP) {
            prefetch_data(m);
        }
        let i = 'fast: {
            let mut groups = mbufs.chunks_exact(GROUP);
            for (g, group) in groups.by_ref().enumerate() {
                if let Some(next) = mbufs.get((g + 1) * GROUP..(g + 2) * GROUP) {
                    next.iter().for_each(|&m| prefetch_data(m));
                }
                for (k, &m) in group.iter().enumerate() {
                    if !keep(first_segment(m)) {
                        break 'fast g * GROUP + k;
                    }
                }
            }
            let tail = n - groups.remainder().len();
            for (k, &m) in groups.remainder().iter().enumerate() {
                if !keep(first_segment(m)) {
                    break 'fast tail + k;
                }
            }
            return 0;
        };
        // From the first refused frame on, the kept ones move down over the freed.
        let mut kept = i;
        for j in i..n {
            let m = mbufs[j];
            if let Some(&ahead) = mbufs.get(j + GROUP) {
                prefetch_data(ahead);
            }
            if j == i || !keep(first_segment(m)) {
                // SAFETY: owned by the burst and removed from it right here.
                unsafe { ffi::vnf_rte_pktmbuf_free(m) };
            } else {
                mbufs[kept] = m;
                kept += 1;
            }
        }
        let freed = self.len - kept;
        self.len = kept;
        freed
    }

    /// Fills the empty burst with `n` (at most [`MAX_BURST`]) fresh mbufs from
    /// `pool`, each holding `len` bytes, and lets `write` fill frame `i`.
    /// Returns false (and holds nothing) when the pool is empty or `len` does
    /// not fit in one mbuf.
    pub fn alloc(
        &mut self,
        pool: &Mempool<'_>,
        n: usize,
        len: u16,
        mut write: impl FnMut(usize, &mut [u8]),
    ) -> bool {
        debug_assert!(self.is_empty());
        let n = n.min(MAX_BURST);
        // SAFETY: the slots have room for `n` pointers; on success every slot
        // holds a freshly reset mbuf owned by the burst from now on.
        let ret = unsafe {
            ffi::vnf_rte_pktmbuf_alloc_bulk(pool.as_ptr(), self.mbufs.as_mut_ptr(), n as u32)
        };
        if ret != 0 {
            return false;
        }
        self.len = n;
        for i in 0..n {
            // SAFETY: the mbuf is ours; a fresh mbuf has one segment whose
            // buffer (DPDK memory, always mapped and initialised) holds
            // `buf_len - data_off` bytes, checked before growing it to `len`.
            let fits = unsafe {
                let m = &mut *self.mbufs[i];
                let room = m.buf_len.saturating_sub(m.data_off);
                if room >= len {
                    m.data_len = len;
                    m.pkt_len = u32::from(len);
                }
                room >= len
            };
            if !fits {
                self.free_from(0);
                return false;
            }
            write(i, first_segment(self.mbufs[i]));
        }
        true
    }

    /// Calls `f` on the first segment's bytes of every frame held.
    pub fn for_each_frame(&mut self, mut f: impl FnMut(&[u8])) {
        for &m in &self.mbufs[..self.len] {
            f(first_segment(m));
        }
    }

    /// Frees every frame held.
    pub fn clear(&mut self) {
        self.free_from(0);
    }

    /// Frees every mbuf from `from` on and shortens the burst to `from`.
    #[inline]
    pub(super) fn free_from(&mut self, from: usize) {
        if from < self.len {
            // SAFETY: slots from..len hold mbufs owned by the burst; they are
            // removed from it by the truncation below, so each is freed once.
            unsafe {
                ffi::rte_pktmbuf_free_bulk(
                    self.mbufs.as_mut_ptr().add(from),
                    (self.len - from) as u32,
                )
            };
        }
        self.len = from.min(self.len);
    }
}

impl Default for MbufBurst {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.free_from(0);
    }
}

/// The bytes of an mbuf's first segment (`rte_pktmbuf_mtod`, `data_len` long).
#[inline(always)]
fn first_segment<'a>(m: *mut ffi::rte_mbuf) -> &'a mut [u8] {
    // SAFETY: `m` is a valid mbuf owned by the calling burst (from rx_burst or
    // alloc) and not shared with any other holder, so its first segment's
    // `data_len` bytes at `buf_addr + data_off` are ours to read and write for
    // as long as the burst holds it; callers use the slice only within that.
    unsafe {
        let m = &*m;
        std::slice::from_raw_parts_mut(
            m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
            usize::from(m.data_len),
        )
    }
}

/// Prefetches the first cache line of an mbuf's data (`rte_prefetch0(mtod(m))`).
#[inline(always)]
fn prefetch_data(m: *mut ffi::rte_mbuf) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `m` is a valid mbuf; a prefetch never faults, whatever the address.
        unsafe {
            let m = &*m;
            let p = m.buf_addr.cast::<i8>().add(usize::from(m.data_off));
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
        }
    }
}
