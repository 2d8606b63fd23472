//! DPDK l2fwd's MAC updating.

use super::wire::EthernetFrame;
use super::Engine;

/// DPDK l2fwd's `l2fwd_mac_updating`: the destination MAC becomes
/// `02:00:00:00:00:XX`, XX being the low byte of the TX port id, and the
/// source MAC becomes the TX port's MAC.
///
/// Needs a whole Ethernet header (14 bytes).
#[derive(Debug, Clone, Copy)]
pub struct L2fwdMac {
    /// Both MACs as written to the frame, destination first, computed once so
    /// the per-frame work is a single 12-byte copy.
    addrs: [u8; 12],
}

impl L2fwdMac {
    /// Builds the rewrite for frames sent on port `tx_port`, whose MAC is `tx_mac`.
    pub fn new(tx_port: u16, tx_mac: [u8; 6]) -> Self {
        // l2fwd stores the little-endian u64 `0x02 + (port << 40)` over the
        // destination MAC, so byte 5 is the port's low byte. The store's bytes 6
        // and 7 spill into the source MAC, which l2fwd overwrites right after:
        // only the first 6 bytes matter.
        let dst = (0x02 + (u64::from(tx_port) << 40)).to_le_bytes();
        let mut addrs = [0; 12];
        addrs[..6].copy_from_slice(&dst[..6]);
        addrs[6..].copy_from_slice(&tx_mac);
        Self { addrs }
    }
}

impl Engine for L2fwdMac {
    #[inline]
    fn rewrite(&self, frame: &mut [u8]) -> bool {
        match EthernetFrame::new_checked(frame) {
            Some(mut eth) => {
                eth.set_addrs(&self.addrs);
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

    /// MAC of the TX port.
    const TX_MAC: [u8; 6] = [0x3c, 0xfd, 0xfe, 0xa1, 0xb2, 0xc3];

    #[test]
    fn rejects_short_frames_untouched() {
        let engine = L2fwdMac::new(1, TX_MAC);
        for len in 0..=13 {
            let mut frame = filler(len);
            assert!(!engine.rewrite(&mut frame), "len {len}");
            assert_eq!(frame, filler(len), "len {len}");
        }
    }

    #[test]
    fn destination_carries_low_byte_of_port() {
        let cases: [(u16, [u8; 6]); 5] = [
            (0, [0x02, 0x00, 0x00, 0x00, 0x00, 0x00]),
            (1, [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]),
            (255, [0x02, 0x00, 0x00, 0x00, 0x00, 0xff]),
            (256, [0x02, 0x00, 0x00, 0x00, 0x00, 0x00]),
            (300, [0x02, 0x00, 0x00, 0x00, 0x00, 0x2c]),
        ];
        for (port, dst) in cases {
            let engine = L2fwdMac::new(port, TX_MAC);
            for len in FULL_LENS {
                let payload = filler(len - 14);
                let mut frame = [eth(DST, SRC, 0x0800), payload.clone()].concat();
                assert!(engine.rewrite(&mut frame), "port {port} len {len}");
                let expected = [eth(dst, TX_MAC, 0x0800), payload].concat();
                assert_eq!(frame, expected, "port {port} len {len}");
            }
        }
    }

    #[test]
    fn explicit_bytes() {
        let mut frame = [0xffu8; 16];
        assert!(L2fwdMac::new(0x0107, TX_MAC).rewrite(&mut frame));
        assert_eq!(
            frame,
            [
                0x02, 0x00, 0x00, 0x00, 0x00, 0x07, 0x3c, 0xfd, 0xfe, 0xa1, 0xb2, 0xc3, 0xff, 0xff,
                0xff, 0xff,
            ]
        );
    }
}
