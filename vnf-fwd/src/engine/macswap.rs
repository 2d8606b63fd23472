//! testpmd's `macswap` forwarding mode.

use super::wire::EthernetFrame;
use super::Engine;

/// testpmd's `macswap` mode: swaps the destination and source MACs.
///
/// Only bytes 0..12 change. Needs a whole Ethernet header (14 bytes), as
/// testpmd assumes one.
#[derive(Debug, Clone, Copy, Default)]
pub struct MacSwap;

impl Engine for MacSwap {
    #[inline]
    fn rewrite(&self, frame: &mut [u8]) -> bool {
        // The only length check on this hot path; the swap after it is
        // branch-free loads and stores.
        match EthernetFrame::new_checked(frame) {
            Some(mut eth) => {
                eth.swap_addrs();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eth, filler, DST, FULL_LENS, SRC};
    use super::*;

    #[test]
    fn rejects_short_frames_untouched() {
        for len in 0..=13 {
            let mut frame = filler(len);
            assert!(!MacSwap.rewrite(&mut frame), "len {len}");
            assert_eq!(frame, filler(len), "len {len}");
        }
    }

    #[test]
    fn swaps_macs_only() {
        for len in FULL_LENS {
            let payload = filler(len - 14);
            let mut frame = [eth(DST, SRC, 0x0800), payload.clone()].concat();
            assert!(MacSwap.rewrite(&mut frame), "len {len}");
            assert_eq!(frame, [eth(SRC, DST, 0x0800), payload.clone()].concat());
            // A second swap restores the original frame.
            assert!(MacSwap.rewrite(&mut frame), "len {len}");
            assert_eq!(frame, [eth(DST, SRC, 0x0800), payload].concat());
        }
    }

    #[test]
    fn explicit_bytes() {
        let mut frame = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x88, 0xa8,
            0xfe,
        ];
        assert!(MacSwap.rewrite(&mut frame));
        assert_eq!(
            frame,
            [
                0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x88, 0xa8,
                0xfe,
            ]
        );
    }
}
