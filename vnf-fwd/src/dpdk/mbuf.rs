//! A burst of mbufs owned by one lcore: rx fills it, tx drains it, and whatever
//! is still in it is freed exactly once.

use super::{Mempool, TxQueue};
use std::marker::PhantomData;
use std::ptr;

/// The largest burst `rx_burst` is asked for: the upper bound of `--burst`
/// (vnf-fwd and vnf-gen take their limit from here).
pub const MAX_BURST: usize = 512;

/// Frames rewritten together while the next as many are prefetched.
const GROUP: usize = 4;

/// Up to `MAX_BURST` mbufs owned by the holder. Dropping the burst frees them.
///
/// `'pool` is a borrow of the pools its mbufs come from: [`MbufBurst::alloc`]
/// and [`RxQueue::rx_burst`](super::RxQueue::rx_burst) tie it to the pool
/// (and the port) they fill it from, so the burst, and every mbuf in it,
/// cannot outlive that pool or the [`Eal`](super::Eal):
///
/// ```compile_fail,E0505
/// # use vnf_fwd::dpdk::{Eal, MbufBurst, Mempool};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// let eal = Eal::init(&["doc".to_string()])?;
/// let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// let mut burst = MbufBurst::new();
/// burst.alloc(&pool, 1, 64, |_, frame| frame.fill(0));
/// drop(pool); // error[E0505]: cannot move out of `pool` because it is borrowed
/// burst.clear();
/// # Ok(()) }
/// ```
///
/// ```compile_fail,E0505
/// # use vnf_fwd::dpdk::{Eal, MbufBurst, Mempool};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// let eal = Eal::init(&["doc".to_string()])?;
/// let pool: &Mempool = Box::leak(Box::new(Mempool::new(&eal, "pool", 1023, 0, -1)?));
/// let mut burst = MbufBurst::new();
/// burst.alloc(pool, 1, 64, |_, frame| frame.fill(0));
/// drop(eal); // error[E0505]: cannot move out of `eal` because it is borrowed
/// burst.clear();
/// # Ok(()) }
/// ```
///
/// Emptied (or dropped) first, it is fine:
///
/// ```no_run
/// # use vnf_fwd::dpdk::{Eal, MbufBurst, Mempool};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// let eal = Eal::init(&["doc".to_string()])?;
/// let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// let mut burst = MbufBurst::new();
/// burst.alloc(&pool, 1, 64, |_, frame| frame.fill(0));
/// burst.clear();
/// drop(burst);
/// drop(pool);
/// drop(eal);
/// # Ok(()) }
/// ```
pub struct MbufBurst<'pool> {
    mbufs: [*mut ffi::rte_mbuf; MAX_BURST],
    len: usize,
    /// False once every frame held is known to be one segment (allocated
    /// here, or through a chain filter); rx sets it.
    may_chain: bool,
    _pool: PhantomData<&'pool ()>,
}

/// Frames [`MbufBurst::retain_frames`] freed, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freed {
    /// Refused by `keep`.
    pub refused: usize,
    /// Mbuf chains the tx port cannot send (never passed to `keep`).
    pub chained: usize,
}

impl<'pool> MbufBurst<'pool> {
    /// An empty burst.
    pub fn new() -> Self {
        MbufBurst {
            mbufs: [ptr::null_mut(); MAX_BURST],
            len: 0,
            may_chain: false,
            _pool: PhantomData,
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

    /// Records that the first `n` slots now hold mbufs from rx, which may be chains.
    #[inline]
    pub(super) fn set_received(&mut self, n: usize) {
        debug_assert!(n <= MAX_BURST);
        self.len = n;
        self.may_chain = true;
    }

    /// Empties the burst without freeing: the driver took what it held.
    #[inline]
    pub(super) fn handed_over(&mut self) {
        self.len = 0;
    }

    /// The held mbufs, for tx.
    #[inline]
    pub(super) fn as_mut_ptr(&mut self) -> *mut *mut ffi::rte_mbuf {
        self.mbufs.as_mut_ptr()
    }

    /// Whether some frame held may be an mbuf chain.
    #[inline]
    pub(super) fn may_chain(&self) -> bool {
        self.may_chain
    }

    /// Calls `keep` on the first segment's bytes of every frame, in order, and
    /// frees the frames for which it returns false. Frames that are mbuf
    /// chains are freed without a call when `tx` cannot send them, so what is
    /// left can go out of `tx` whole.
    #[inline]
    pub fn retain_frames(
        &mut self,
        tx: &TxQueue<'_, '_>,
        keep: impl FnMut(&mut [u8]) -> bool,
    ) -> Freed {
        if tx.sends_chains() {
            self.retain::<false>(keep)
        } else {
            self.retain::<true>(keep)
        }
    }

    /// [`Self::retain_frames`], with chains freed when `DROP_CHAINS`.
    #[inline(always)]
    fn retain<const DROP_CHAINS: bool>(
        &mut self,
        mut keep: impl FnMut(&mut [u8]) -> bool,
    ) -> Freed {
        if DROP_CHAINS {
            self.may_chain = false;
        }
        let mbufs = &mut self.mbufs[..self.len];
        let n = mbufs.len();
        // Fast path, while every frame is kept: nothing moves. Four frames at a
        // time with the next four prefetched, as testpmd's macswap does: whole
        // groups need no per-frame bounds or prefetch-distance branches.
        for &m in mbufs.iter().take(GROUP) {
            // SAFETY: the first `len` slots hold valid mbufs.
            unsafe { prefetch_data(m) };
        }
        let (i, first) = 'fast: {
            let mut groups = mbufs.chunks_exact(GROUP);
            for (g, group) in groups.by_ref().enumerate() {
                if let Some(next) = mbufs.get((g + 1) * GROUP..(g + 2) * GROUP) {
                    // SAFETY: the first `len` slots hold valid mbufs.
                    next.iter().for_each(|&m| unsafe { prefetch_data(m) });
                }
                for (k, &m) in group.iter().enumerate() {
                    // SAFETY: each slot holds a valid mbuf owned by the burst alone.
                    match unsafe { judge::<DROP_CHAINS>(m, &mut keep) } {
                        Verdict::Keep => {}
                        v => break 'fast (g * GROUP + k, v),
                    }
                }
            }
            let tail = n - groups.remainder().len();
            for (k, &m) in groups.remainder().iter().enumerate() {
                // SAFETY: each slot holds a valid mbuf owned by the burst alone.
                match unsafe { judge::<DROP_CHAINS>(m, &mut keep) } {
                    Verdict::Keep => {}
                    v => break 'fast (tail + k, v),
                }
            }
            return Freed::default();
        };
        // From the first freed frame on, the kept ones move down over the freed.
        let mut freed = Freed::default();
        let mut kept = i;
        for j in i..n {
            let m = mbufs[j];
            if let Some(&ahead) = mbufs.get(j + GROUP) {
                // SAFETY: the slot holds a valid mbuf.
                unsafe { prefetch_data(ahead) };
            }
            let verdict = if j == i {
                first
            } else {
                // SAFETY: each slot holds a valid mbuf owned by the burst alone.
                unsafe { judge::<DROP_CHAINS>(m, &mut keep) }
            };
            match verdict {
                Verdict::Keep => {
                    mbufs[kept] = m;
                    kept += 1;
                    continue;
                }
                Verdict::Refused => freed.refused += 1,
                Verdict::Chained => freed.chained += 1,
            }
            // SAFETY: owned by the burst and removed from it right here.
            unsafe { ffi::vnf_rte_pktmbuf_free(m) };
        }
        self.len = kept;
        freed
    }

    /// Frees the frames that are mbuf chains; returns how many. Reads only
    /// the mbufs' headers, not the frames.
    #[inline]
    pub(super) fn drop_chains(&mut self) -> usize {
        self.may_chain = false;
        let mbufs = &mut self.mbufs[..self.len];
        // SAFETY: the first `len` slots hold valid mbufs owned by the burst.
        let Some(i) = mbufs.iter().position(|&m| unsafe { is_chain(m) }) else {
            return 0;
        };
        let mut kept = i;
        for j in i..mbufs.len() {
            let m = mbufs[j];
            // SAFETY: the slot holds a valid mbuf.
            if unsafe { is_chain(m) } {
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
    /// `pool`, each holding `len` bytes in one segment, and lets `write` fill
    /// frame `i`. Returns false (and holds nothing) when the pool is empty or
    /// `len` does not fit in one mbuf.
    pub fn alloc(
        &mut self,
        pool: &'pool Mempool<'_>,
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
        self.may_chain = false;
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
            // SAFETY: the mbuf is held by the burst alone; the slice lives
            // only for the call to `write`.
            write(i, unsafe { first_segment(self.mbufs[i]) });
        }
        true
    }

    /// Calls `f` on the first segment's bytes of every frame held.
    pub fn for_each_frame(&mut self, mut f: impl FnMut(&[u8])) {
        for &m in &self.mbufs[..self.len] {
            // SAFETY: held by the burst alone; the slice lives only for the call.
            f(unsafe { first_segment(m) });
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

impl Default for MbufBurst<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MbufBurst<'_> {
    fn drop(&mut self) {
        self.free_from(0);
    }
}

/// What becomes of one frame in [`MbufBurst::retain_frames`].
#[derive(Clone, Copy)]
enum Verdict {
    Keep,
    Refused,
    Chained,
}

/// A chain when `DROP_CHAINS` (without calling `keep`), otherwise what
/// `keep` says of the first segment's bytes.
///
/// # Safety
///
/// As for [`first_segment`].
#[inline(always)]
unsafe fn judge<const DROP_CHAINS: bool>(
    m: *mut ffi::rte_mbuf,
    keep: &mut impl FnMut(&mut [u8]) -> bool,
) -> Verdict {
    // SAFETY: `m` is a valid mbuf by the caller's contract.
    if DROP_CHAINS && unsafe { is_chain(m) } {
        return Verdict::Chained;
    }
    // SAFETY: the caller holds `m` alone; the slice lives only for the call.
    if keep(unsafe { first_segment(m) }) {
        Verdict::Keep
    } else {
        Verdict::Refused
    }
}

/// The bytes of an mbuf's first segment (`rte_pktmbuf_mtod`, `data_len` long).
///
/// # Safety
///
/// `m` points to a valid mbuf that the caller owns and shares with no one
/// (from rx or alloc, held in one burst slot), and the returned slice is
/// used only while the caller still holds the mbuf and makes no other slice
/// of it.
#[inline(always)]
unsafe fn first_segment<'a>(m: *mut ffi::rte_mbuf) -> &'a mut [u8] {
    // SAFETY: by the caller's contract `m` is a valid, unshared mbuf, so its
    // first segment's `data_len` bytes at `buf_addr + data_off` (DPDK memory,
    // mapped and initialised) are ours to read and write while it is held.
    unsafe {
        let m = &*m;
        std::slice::from_raw_parts_mut(
            m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
            usize::from(m.data_len),
        )
    }
}

/// Whether the mbuf is a chain of more than one segment.
///
/// # Safety
///
/// `m` points to a valid mbuf.
#[inline(always)]
unsafe fn is_chain(m: *mut ffi::rte_mbuf) -> bool {
    // SAFETY: by the caller's contract `m` is a valid mbuf; only its header is read.
    unsafe { (*m).nb_segs > 1 }
}

/// Prefetches the first cache line of an mbuf's data (`rte_prefetch0(mtod(m))`).
///
/// # Safety
///
/// `m` points to a valid mbuf (its header is read; the prefetched address
/// may be anything).
#[inline(always)]
unsafe fn prefetch_data(m: *mut ffi::rte_mbuf) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `m` is a valid mbuf by the caller's contract; a prefetch
        // never faults, whatever the address.
        unsafe {
            let m = &*m;
            let p = m.buf_addr.cast::<i8>().add(usize::from(m.data_off));
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = m;
}
