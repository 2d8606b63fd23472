//! testpmd's `5tswap` forwarding mode.

use super::wire::{
    EthernetFrame, Ipv4Packet, Ipv6Packet, L4Ports, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP,
    IPPROTO_UDP, IPV4_MIN_HDR_LEN, IPV6_HDR_LEN,
};
use super::Engine;

/// testpmd's `5tswap` mode (app/test-pmd/5tswap.c, DPDK 22.11): swaps the
/// MACs, the IPv4 or IPv6 addresses and the TCP or UDP ports, so the frame
/// goes back the way it came.
///
/// Walks VLAN and QinQ tags like testpmd, uses the IPv4 IHL to find L4 and
/// does not walk IPv6 extension headers. Unlike testpmd it checks every header
/// against the frame's length: it stops at the first header that does not fit,
/// keeping what it already swapped, and still reports success because the
/// frame is forwardable. Only a frame without a whole Ethernet header (14
/// bytes) is rejected.
#[derive(Debug, Clone, Copy, Default)]
pub struct FiveTupleSwap;

impl Engine for FiveTupleSwap {
    #[inline]
    fn rewrite(&self, frame: &mut [u8]) -> bool {
        let Some(mut eth) = EthernetFrame::new_checked(&mut *frame) else {
            return false;
        };
        eth.swap_addrs();
        if let Some((ethertype, l3)) = eth.skip_vlan_tags() {
            swap_l3_l4(frame, ethertype, l3);
        }
        true
    }
}

/// Swaps the addresses of the L3 header of type `ethertype` at offset `l3`,
/// then the ports of a TCP or UDP header after it.
///
/// Returns `None` where it stops early (unknown protocol, header cut short,
/// bogus IHL); that is not an error, so the caller ignores it.
#[inline]
fn swap_l3_l4(frame: &mut [u8], ethertype: u16, l3: usize) -> Option<()> {
    let packet = frame.get_mut(l3..)?;
    let (next_header, l4) = match ethertype {
        ETHERTYPE_IPV4 => {
            let mut ip = Ipv4Packet::new_checked(&mut *packet)?;
            ip.swap_addrs();
            let header_len = ip.header_len();
            // testpmd would take ports from inside the IPv4 header; a short
            // IHL means there is no trustworthy L4 offset.
            if header_len < IPV4_MIN_HDR_LEN {
                return None;
            }
            (ip.next_header(), header_len)
        }
        ETHERTYPE_IPV6 => {
            let mut ip = Ipv6Packet::new_checked(&mut *packet)?;
            ip.swap_addrs();
            (ip.next_header(), IPV6_HDR_LEN)
        }
        _ => return None,
    };
    if next_header == IPPROTO_UDP || next_header == IPPROTO_TCP {
        L4Ports::new_checked(packet.get_mut(l4..)?)?.swap_ports();
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eth, filler, DST, FULL_LENS, SRC};
    use super::*;

    /// First IPv4 address.
    const IP4_A: [u8; 4] = [192, 168, 0, 1];
    /// Second IPv4 address.
    const IP4_B: [u8; 4] = [10, 20, 30, 40];
    /// First IPv6 address.
    const IP6_A: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa0, 0x01,
    ];
    /// Second IPv6 address.
    const IP6_B: [u8; 16] = [
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
    ];
    /// Application bytes after the L4 header.
    const PAYLOAD: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
    /// IP protocol number of ICMP.
    const ICMP: u8 = 1;
    /// IP protocol number of TCP.
    const TCP: u8 = 6;
    /// IP protocol number of UDP.
    const UDP: u8 = 17;

    /// An IPv4 header without options; `ver_ihl` is its first byte.
    fn ipv4(ver_ihl: u8, proto: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let fixed = [
            ver_ihl, 0x00, 0x00, 0x30, 0xbe, 0xef, 0x40, 0x00, 0x40, proto, 0x12, 0x34,
        ];
        [&fixed[..], &src[..], &dst[..]].concat()
    }

    /// An IPv6 header.
    fn ipv6(next_header: u8, src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
        let fixed = [0x60, 0x01, 0x23, 0x45, 0x00, 0x0c, next_header, 0x40];
        [&fixed[..], &src[..], &dst[..]].concat()
    }

    /// A UDP header.
    fn udp(src: u16, dst: u16) -> Vec<u8> {
        [
            &src.to_be_bytes()[..],
            &dst.to_be_bytes()[..],
            &[0x00, 0x0c, 0xab, 0xcd],
        ]
        .concat()
    }

    /// A TCP header without options.
    fn tcp(src: u16, dst: u16) -> Vec<u8> {
        let rest = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x50, 0x18, 0xff, 0xff, 0xab, 0xcd,
            0x00, 0x00,
        ];
        [&src.to_be_bytes()[..], &dst.to_be_bytes()[..], &rest[..]].concat()
    }

    /// Rewrites `input`, expects `expected`, then rewrites again and expects `input`.
    fn check(input: &[u8], expected: &[u8]) {
        let mut frame = input.to_vec();
        assert!(FiveTupleSwap.rewrite(&mut frame));
        assert_eq!(frame, expected, "first swap");
        assert!(FiveTupleSwap.rewrite(&mut frame));
        assert_eq!(frame, input, "double swap");
    }

    /// Cuts `input` at every length from 14 to its own and checks each cut.
    ///
    /// `stages` lists, by increasing length, how long the frame must be for a
    /// header to be swapped and the whole frame as it is once that header is.
    fn check_truncations(input: &[u8], stages: &[(usize, Vec<u8>)]) {
        for len in 14..=input.len() {
            let mut frame = input[..len].to_vec();
            assert!(FiveTupleSwap.rewrite(&mut frame), "len {len}");
            let (_, expected) = stages.iter().rev().find(|(min, _)| len >= *min).unwrap();
            assert_eq!(frame, expected[..len], "len {len}");
        }
    }

    #[test]
    fn rejects_short_frames_untouched() {
        for len in 0..=13 {
            let mut frame = filler(len);
            assert!(!FiveTupleSwap.rewrite(&mut frame), "len {len}");
            assert_eq!(frame, filler(len), "len {len}");
        }
    }

    #[test]
    fn standard_lengths() {
        let mut frame = eth(DST, SRC, 0x0800);
        assert!(FiveTupleSwap.rewrite(&mut frame));
        assert_eq!(frame, eth(SRC, DST, 0x0800));
        for len in FULL_LENS.into_iter().skip(1) {
            let pad = filler(len - 42);
            let input = [
                eth(DST, SRC, 0x0800),
                ipv4(0x45, UDP, IP4_A, IP4_B),
                udp(1234, 5678),
                pad.clone(),
            ]
            .concat();
            let expected = [
                eth(SRC, DST, 0x0800),
                ipv4(0x45, UDP, IP4_B, IP4_A),
                udp(5678, 1234),
                pad,
            ]
            .concat();
            assert_eq!(input.len(), len);
            check(&input, &expected);
        }
    }

    #[test]
    fn ipv4_udp() {
        let input = [
            eth(DST, SRC, 0x0800),
            ipv4(0x45, UDP, IP4_A, IP4_B),
            udp(1234, 5678),
            PAYLOAD.to_vec(),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x0800),
            ipv4(0x45, UDP, IP4_B, IP4_A),
            udp(5678, 1234),
            PAYLOAD.to_vec(),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn ipv4_udp_explicit_bytes() {
        #[rustfmt::skip]
        let input = [
            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
            0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0x02,
            0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0x00, 0x00,
            0xde, 0xad, 0xbe, 0xef,
        ];
        #[rustfmt::skip]
        let expected = [
            0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
            0xc0, 0xa8, 0x00, 0x02, 0xc0, 0xa8, 0x00, 0x01,
            0x16, 0x2e, 0x04, 0xd2, 0x00, 0x0c, 0x00, 0x00,
            0xde, 0xad, 0xbe, 0xef,
        ];
        check(&input, &expected);
    }

    #[test]
    fn ipv4_tcp() {
        let input = [
            eth(DST, SRC, 0x0800),
            ipv4(0x45, TCP, IP4_A, IP4_B),
            tcp(80, 50000),
            PAYLOAD.to_vec(),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x0800),
            ipv4(0x45, TCP, IP4_B, IP4_A),
            tcp(50000, 80),
            PAYLOAD.to_vec(),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn ipv4_with_options() {
        // IHL 6: four option bytes (NOP, NOP, NOP, EOL), so the ports are at 38, not 34.
        let options = vec![0x01, 0x01, 0x01, 0x00];
        let input = [
            eth(DST, SRC, 0x0800),
            ipv4(0x46, UDP, IP4_A, IP4_B),
            options.clone(),
            udp(1234, 5678),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x0800),
            ipv4(0x46, UDP, IP4_B, IP4_A),
            options,
            udp(5678, 1234),
        ]
        .concat();
        assert_eq!(expected[38..42], [0x16, 0x2e, 0x04, 0xd2]);
        check(&input, &expected);
    }

    #[test]
    fn ipv6_udp() {
        let input = [
            eth(DST, SRC, 0x86dd),
            ipv6(UDP, IP6_A, IP6_B),
            udp(53, 40000),
            PAYLOAD.to_vec(),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x86dd),
            ipv6(UDP, IP6_B, IP6_A),
            udp(40000, 53),
            PAYLOAD.to_vec(),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn ipv6_tcp() {
        let input = [
            eth(DST, SRC, 0x86dd),
            ipv6(TCP, IP6_A, IP6_B),
            tcp(443, 61000),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x86dd),
            ipv6(TCP, IP6_B, IP6_A),
            tcp(61000, 443),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn ipv6_extension_headers_are_not_walked() {
        // Hop-by-hop options (0) before UDP: like testpmd, the ports stay put.
        let hop_by_hop = vec![UDP, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00];
        let input = [
            eth(DST, SRC, 0x86dd),
            ipv6(0, IP6_A, IP6_B),
            hop_by_hop.clone(),
            udp(53, 40000),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x86dd),
            ipv6(0, IP6_B, IP6_A),
            hop_by_hop,
            udp(53, 40000),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn single_vlan() {
        let tag = vec![0x00, 0x64, 0x08, 0x00];
        let input = [
            eth(DST, SRC, 0x8100),
            tag.clone(),
            ipv4(0x45, UDP, IP4_A, IP4_B),
            udp(1234, 5678),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x8100),
            tag,
            ipv4(0x45, UDP, IP4_B, IP4_A),
            udp(5678, 1234),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn qinq() {
        let tags = vec![0x00, 0xc8, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00];
        let input = [
            eth(DST, SRC, 0x88a8),
            tags.clone(),
            ipv4(0x45, UDP, IP4_A, IP4_B),
            udp(1234, 5678),
            PAYLOAD.to_vec(),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x88a8),
            tags.clone(),
            ipv4(0x45, UDP, IP4_B, IP4_A),
            udp(5678, 1234),
            PAYLOAD.to_vec(),
        ]
        .concat();
        check(&input, &expected);
        let macs_only = [
            eth(SRC, DST, 0x88a8),
            tags.clone(),
            ipv4(0x45, UDP, IP4_A, IP4_B),
            udp(1234, 5678),
            PAYLOAD.to_vec(),
        ]
        .concat();
        let macs_and_addrs = [
            eth(SRC, DST, 0x88a8),
            tags,
            ipv4(0x45, UDP, IP4_B, IP4_A),
            udp(1234, 5678),
            PAYLOAD.to_vec(),
        ]
        .concat();
        check_truncations(
            &input,
            &[(14, macs_only), (42, macs_and_addrs), (46, expected)],
        );
    }

    #[test]
    fn arp_swaps_macs_only() {
        let arp = [
            vec![0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01],
            SRC.to_vec(),
            IP4_A.to_vec(),
            vec![0; 6],
            IP4_B.to_vec(),
        ]
        .concat();
        let input = [eth([0xff; 6], SRC, 0x0806), arp.clone()].concat();
        let expected = [eth(SRC, [0xff; 6], 0x0806), arp].concat();
        check(&input, &expected);
    }

    #[test]
    fn ipv4_icmp_swaps_macs_and_addresses() {
        let echo = vec![0x08, 0x00, 0xf7, 0xff, 0x00, 0x01, 0x00, 0x01];
        let input = [
            eth(DST, SRC, 0x0800),
            ipv4(0x45, ICMP, IP4_A, IP4_B),
            echo.clone(),
        ]
        .concat();
        let expected = [eth(SRC, DST, 0x0800), ipv4(0x45, ICMP, IP4_B, IP4_A), echo].concat();
        check(&input, &expected);
    }

    #[test]
    fn ipv4_short_ihl_swaps_addresses_and_stops() {
        for ver_ihl in [0x40, 0x44] {
            let input = [
                eth(DST, SRC, 0x0800),
                ipv4(ver_ihl, UDP, IP4_A, IP4_B),
                udp(1234, 5678),
            ]
            .concat();
            let expected = [
                eth(SRC, DST, 0x0800),
                ipv4(ver_ihl, UDP, IP4_B, IP4_A),
                udp(1234, 5678),
            ]
            .concat();
            check(&input, &expected);
        }
    }

    #[test]
    fn ipv4_ihl_past_the_end_keeps_ports() {
        // IHL 15 puts L4 at 60 bytes into a 28-byte packet.
        let input = [
            eth(DST, SRC, 0x0800),
            ipv4(0x4f, UDP, IP4_A, IP4_B),
            udp(1234, 5678),
        ]
        .concat();
        let expected = [
            eth(SRC, DST, 0x0800),
            ipv4(0x4f, UDP, IP4_B, IP4_A),
            udp(1234, 5678),
        ]
        .concat();
        check(&input, &expected);
    }

    #[test]
    fn truncated_ipv4_tcp() {
        let input = [
            eth(DST, SRC, 0x0800),
            ipv4(0x45, TCP, IP4_A, IP4_B),
            tcp(80, 50000),
        ]
        .concat();
        let macs_only = [
            eth(SRC, DST, 0x0800),
            ipv4(0x45, TCP, IP4_A, IP4_B),
            tcp(80, 50000),
        ]
        .concat();
        let macs_and_addrs = [
            eth(SRC, DST, 0x0800),
            ipv4(0x45, TCP, IP4_B, IP4_A),
            tcp(80, 50000),
        ]
        .concat();
        let all = [
            eth(SRC, DST, 0x0800),
            ipv4(0x45, TCP, IP4_B, IP4_A),
            tcp(50000, 80),
        ]
        .concat();
        check_truncations(&input, &[(14, macs_only), (34, macs_and_addrs), (38, all)]);
    }

    #[test]
    fn truncated_ipv6_udp() {
        let input = [
            eth(DST, SRC, 0x86dd),
            ipv6(UDP, IP6_A, IP6_B),
            udp(53, 40000),
        ]
        .concat();
        let macs_only = [
            eth(SRC, DST, 0x86dd),
            ipv6(UDP, IP6_A, IP6_B),
            udp(53, 40000),
        ]
        .concat();
        let macs_and_addrs = [
            eth(SRC, DST, 0x86dd),
            ipv6(UDP, IP6_B, IP6_A),
            udp(53, 40000),
        ]
        .concat();
        let all = [
            eth(SRC, DST, 0x86dd),
            ipv6(UDP, IP6_B, IP6_A),
            udp(40000, 53),
        ]
        .concat();
        check_truncations(&input, &[(14, macs_only), (54, macs_and_addrs), (58, all)]);
    }
}
