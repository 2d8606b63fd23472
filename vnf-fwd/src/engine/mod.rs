//! Forwarding engines: what happens to a frame between receive and transmit.
//!
//! Each engine reproduces the data change of a DPDK forwarding mode (l2fwd's
//! MAC updating, testpmd's `io`, `macswap` and `5tswap`) as a pure function
//! over the bytes of the frame's first segment, so it can be unit tested
//! without DPDK. Engines never allocate, never fail with an error and never
//! panic: a frame too short for what they must rewrite is reported with
//! `false` and left untouched.

mod five_tuple_swap;
mod io;
mod l2fwd_mac;
mod macswap;
pub mod wire;

pub use five_tuple_swap::FiveTupleSwap;
pub use io::Io;
pub use l2fwd_mac::L2fwdMac;
pub use macswap::MacSwap;
pub use wire::ETHER_HDR_LEN;

/// A forwarding engine: rewrites one frame in place before it is sent.
pub trait Engine: Send + Sync {
    /// Whether the engine looks at frames at all. The poll loop skips the
    /// per-frame walk (and its data prefetch) for engines that do not.
    const REWRITES: bool = true;

    /// Rewrites `frame` (the bytes of the packet's first segment) in place.
    /// Returns `false` when the frame is too short to hold the headers this engine
    /// must rewrite; the caller then drops it and counts it as malformed.
    fn rewrite(&self, frame: &mut [u8]) -> bool;
}

/// Helpers shared by the engines' tests.
#[cfg(test)]
mod testutil {
    /// Destination MAC of the test frames.
    pub const DST: [u8; 6] = [0x11, 0x12, 0x13, 0x14, 0x15, 0x16];
    /// Source MAC of the test frames.
    pub const SRC: [u8; 6] = [0x21, 0x22, 0x23, 0x24, 0x25, 0x26];
    /// Lengths of frames that hold an Ethernet header: bare, minimum without and
    /// with FCS, and maximum untagged.
    pub const FULL_LENS: [usize; 4] = [14, 60, 64, 1518];

    /// An Ethernet header with MACs `dst` and `src` and EtherType `ethertype`.
    pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
        [&dst[..], &src[..], &ethertype.to_be_bytes()[..]].concat()
    }

    /// `len` payload bytes that differ from their neighbours, to catch shifted writes.
    pub fn filler(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 0x30) as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::wire::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
    use super::*;

    /// Marsaglia's xorshift64: deterministic, good enough to shake out panics.
    struct XorShift(u64);

    impl XorShift {
        /// The next pseudo-random value.
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// A pseudo-random value in `0..n`.
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    /// Writes `bytes` at `at`, dropping whatever falls past the end of `buf`.
    fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(slot) = buf.get_mut(at + i) {
                *slot = b;
            }
        }
    }

    /// Random bytes, most of them shaped like a tagged or untagged IP frame so
    /// the deep paths of `FiveTupleSwap` (tags, IHL, L4 offsets) are reached.
    fn random_frame(rng: &mut XorShift, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            *b = rng.next() as u8;
        }
        if rng.below(4) == 0 {
            return;
        }
        let mut at = 12;
        for _ in 0..rng.below(3) {
            let tag = [ETHERTYPE_VLAN, ETHERTYPE_QINQ][rng.below(2)];
            put(buf, at, &tag.to_be_bytes());
            at += 4;
        }
        let l3 = at + 2;
        let proto = [6, 17][rng.below(2)];
        if rng.below(2) == 0 {
            put(buf, at, &ETHERTYPE_IPV4.to_be_bytes());
            // Any IHL, including the malformed ones below 5.
            put(buf, l3, &[0x40 | rng.below(16) as u8]);
            put(buf, l3 + 9, &[proto]);
        } else {
            put(buf, at, &ETHERTYPE_IPV6.to_be_bytes());
            put(buf, l3 + 6, &[proto]);
        }
    }

    #[test]
    fn random_frames_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let l2fwd = L2fwdMac::new(3, [0xaa; 6]);
        let mut storage = [0u8; 200];
        let mut deep_rewrites = 0;
        for _ in 0..100_000 {
            let len = rng.below(201);
            let frame = &mut storage[..len];
            random_frame(&mut rng, frame);
            let original = frame.to_vec();
            let long_enough = len >= ETHER_HDR_LEN;

            assert!(Io.rewrite(frame));
            assert_eq!(frame, &original[..]);

            assert_eq!(MacSwap.rewrite(frame), long_enough);
            assert_eq!(frame[12.min(len)..], original[12.min(len)..]);
            assert_eq!(MacSwap.rewrite(frame), long_enough);
            assert_eq!(frame, &original[..]);

            assert_eq!(l2fwd.rewrite(frame), long_enough);
            assert_eq!(frame[12.min(len)..], original[12.min(len)..]);
            frame.copy_from_slice(&original);

            assert_eq!(FiveTupleSwap.rewrite(frame), long_enough);
            if frame[14.min(len)..] != original[14.min(len)..] {
                deep_rewrites += 1;
            }
            // Swaps never touch the bytes that steer the walk, so the second pass
            // takes the same path and undoes the first, whatever the input.
            assert_eq!(FiveTupleSwap.rewrite(frame), long_enough);
            assert_eq!(frame, &original[..]);
        }
        // The generator must actually exercise the L3/L4 swaps.
        assert!(deep_rewrites > 30_000, "{deep_rewrites}");
    }
}
