//! Zero-copy views of the headers the engines rewrite.
//!
//! Modeled on smoltcp's `wire` module: a view wraps a byte buffer, its
//! `new_checked` constructor checks the length once, and the accessors then
//! index constant field ranges below that length, so once inlined the
//! compiler drops their bounds checks. Only the fields the engines touch are
//! exposed; nothing here allocates, fails or panics.

/// Length of an Ethernet II header: destination MAC, source MAC, EtherType.
pub const ETHER_HDR_LEN: usize = 14;
/// Length of one 802.1Q or 802.1ad tag: TCI, then the next EtherType.
pub const VLAN_TAG_LEN: usize = 4;
/// Length of an IPv4 header without options (IHL = 5).
pub const IPV4_MIN_HDR_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub const IPV6_HDR_LEN: usize = 40;
/// Length of the source and destination ports that start both TCP and UDP headers.
pub const PORTS_LEN: usize = 4;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// EtherType announcing an 802.1Q (VLAN) tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType announcing an 802.1ad (QinQ) service tag.
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Field positions, relative to the start of their own header.
mod field {
    /// A byte range within a header.
    pub type Field = core::ops::Range<usize>;

    /// Both Ethernet MACs: destination (0..6), then source (6..12).
    pub const ETH_ADDRS: Field = 0..12;
    /// Ethernet EtherType.
    pub const ETH_TYPE: Field = 12..14;

    /// EtherType of what follows a VLAN tag (after its 2-byte TCI).
    pub const VLAN_TYPE: Field = 2..4;

    /// IPv4 version (high nibble) and IHL (low nibble).
    pub const IPV4_VER_IHL: usize = 0;
    /// IPv4 protocol of the payload.
    pub const IPV4_PROTOCOL: usize = 9;
    /// IPv4 source address.
    pub const IPV4_SRC: Field = 12..16;
    /// IPv4 destination address.
    pub const IPV4_DST: Field = 16..20;

    /// IPv6 next header.
    pub const IPV6_NEXT_HEADER: usize = 6;
    /// IPv6 source address.
    pub const IPV6_SRC: Field = 8..24;
    /// IPv6 destination address.
    pub const IPV6_DST: Field = 24..40;

    /// TCP/UDP source port.
    pub const SRC_PORT: Field = 0..2;
    /// TCP/UDP destination port.
    pub const DST_PORT: Field = 2..4;
}

use field::Field;

/// Reads the big-endian 16-bit `field` of `buf`.
#[inline]
fn read_u16(buf: &[u8], field: Field) -> u16 {
    let mut bytes = [0; 2];
    bytes.copy_from_slice(&buf[field]);
    u16::from_be_bytes(bytes)
}

/// Swaps the equal-length fields `a` and `b` of `buf`; `a` must end before `b` starts.
#[inline]
fn swap_fields(buf: &mut [u8], a: Field, b: Field) {
    // Splitting at `b` gives two disjoint borrows, so the swap needs no temporary buffer.
    let len = b.end - b.start;
    let (head, tail) = buf.split_at_mut(b.start);
    head[a].swap_with_slice(&mut tail[..len]);
}

/// A view of the Ethernet II header at the start of a frame.
#[derive(Debug)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    /// The frame; at least [`ETHER_HDR_LEN`] bytes long.
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer`, or returns `None` if it is too short for an Ethernet header.
    #[inline]
    pub fn new_checked(buffer: T) -> Option<Self> {
        if buffer.as_ref().len() < ETHER_HDR_LEN {
            return None;
        }
        Some(Self { buffer })
    }

    /// EtherType of the frame (announcing the outer tag, if tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETH_TYPE)
    }

    /// Walks past the VLAN and QinQ tags that follow the Ethernet header, as many
    /// as there are, in any order (as testpmd does).
    ///
    /// Returns the EtherType of the first header that is not a tag and its offset
    /// in the frame, or `None` if a tag is cut short by the end of the buffer.
    #[inline]
    pub fn skip_vlan_tags(&self) -> Option<(u16, usize)> {
        let buf = self.buffer.as_ref();
        let mut ethertype = self.ethertype();
        let mut offset = ETHER_HDR_LEN;
        // Terminates: every tag moves `offset` forward and `get` fails past the end.
        while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
            let tag = buf.get(offset..offset + VLAN_TAG_LEN)?;
            ethertype = read_u16(tag, field::VLAN_TYPE);
            offset += VLAN_TAG_LEN;
        }
        Some((ethertype, offset))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Swaps the destination and source MACs.
    #[inline]
    pub fn swap_addrs(&mut self) {
        // The two MACs as one 8-byte and one 4-byte word: two loads, a few
        // shifts, two stores. A byte-wise swap costs measurably more per packet.
        let addrs = &mut self.buffer.as_mut()[field::ETH_ADDRS];
        let (lo, hi) = addrs.split_at_mut(8);
        let (Ok(lo), Ok(hi)) = (<&mut [u8; 8]>::try_from(lo), <&mut [u8; 4]>::try_from(hi)) else {
            return; // unreachable: ETH_ADDRS is 12 bytes long
        };
        let w0 = u64::from_le_bytes(*lo);
        let w1 = u64::from(u32::from_le_bytes(*hi));
        const MAC: u64 = (1 << 48) - 1;
        let dst = w0 & MAC;
        let src = (w0 >> 48) | (w1 << 16);
        *lo = (src | (dst << 48)).to_le_bytes();
        *hi = ((dst >> 16) as u32).to_le_bytes();
    }

    /// Overwrites both MACs with `addrs`: the destination, then the source.
    ///
    /// Taking both at once lets a caller that knows them in advance do one copy.
    #[inline]
    pub fn set_addrs(&mut self, addrs: &[u8; 12]) {
        self.buffer.as_mut()[field::ETH_ADDRS].copy_from_slice(addrs);
    }
}

/// A view of an IPv4 header.
#[derive(Debug)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    /// The packet; at least [`IPV4_MIN_HDR_LEN`] bytes long.
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer`, or returns `None` if it is too short for an IPv4 header
    /// without options.
    ///
    /// The IHL is deliberately not checked: the addresses sit at fixed offsets,
    /// so they can be swapped even when the IHL is bogus, as testpmd does.
    #[inline]
    pub fn new_checked(buffer: T) -> Option<Self> {
        if buffer.as_ref().len() < IPV4_MIN_HDR_LEN {
            return None;
        }
        Some(Self { buffer })
    }

    /// Header length in bytes (IHL × 4); below [`IPV4_MIN_HDR_LEN`] in a malformed packet.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::IPV4_VER_IHL] & 0x0f) * 4
    }

    /// Protocol of the payload (e.g. [`IPPROTO_UDP`]).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::IPV4_PROTOCOL]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Swaps the source and destination addresses.
    #[inline]
    pub fn swap_addrs(&mut self) {
        swap_fields(self.buffer.as_mut(), field::IPV4_SRC, field::IPV4_DST);
    }
}

/// A view of the fixed IPv6 header.
#[derive(Debug)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    /// The packet; at least [`IPV6_HDR_LEN`] bytes long.
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer`, or returns `None` if it is too short for the fixed IPv6 header.
    #[inline]
    pub fn new_checked(buffer: T) -> Option<Self> {
        if buffer.as_ref().len() < IPV6_HDR_LEN {
            return None;
        }
        Some(Self { buffer })
    }

    /// Next header of the fixed header (extension headers are not walked).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::IPV6_NEXT_HEADER]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Swaps the source and destination addresses.
    #[inline]
    pub fn swap_addrs(&mut self) {
        swap_fields(self.buffer.as_mut(), field::IPV6_SRC, field::IPV6_DST);
    }
}

/// A view of the source and destination ports that start TCP and UDP headers.
///
/// One view serves both protocols because the ports are all the engines touch.
#[derive(Debug)]
pub struct L4Ports<T: AsRef<[u8]>> {
    /// The L4 header; at least [`PORTS_LEN`] bytes long.
    buffer: T,
}

impl<T: AsRef<[u8]>> L4Ports<T> {
    /// Wraps `buffer`, or returns `None` if it is too short to hold both ports.
    #[inline]
    pub fn new_checked(buffer: T) -> Option<Self> {
        if buffer.as_ref().len() < PORTS_LEN {
            return None;
        }
        Some(Self { buffer })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> L4Ports<T> {
    /// Swaps the source and destination ports.
    #[inline]
    pub fn swap_ports(&mut self) {
        swap_fields(self.buffer.as_mut(), field::SRC_PORT, field::DST_PORT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_check_exact_minimum_lengths() {
        let buf = [0u8; 40];
        for len in 0..=40 {
            let b = &buf[..len];
            assert_eq!(EthernetFrame::new_checked(b).is_some(), len >= 14, "{len}");
            assert_eq!(Ipv4Packet::new_checked(b).is_some(), len >= 20, "{len}");
            assert_eq!(Ipv6Packet::new_checked(b).is_some(), len >= 40, "{len}");
            assert_eq!(L4Ports::new_checked(b).is_some(), len >= 4, "{len}");
        }
    }

    #[test]
    fn ethernet_fields() {
        let mut buf = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x86, 0xdd, 0xee, //
        ];
        let mut eth = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        assert_eq!(eth.ethertype(), 0x86dd);
        eth.swap_addrs();
        assert_eq!(
            buf,
            [7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 0x86, 0xdd, 0xee]
        );
        let mut eth = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        eth.set_addrs(&[21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]);
        assert_eq!(
            buf,
            [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0x86, 0xdd, 0xee]
        );
    }

    #[test]
    fn vlan_walk() {
        let mut buf = [0u8; 26];
        // Untagged: the L3 header follows the Ethernet header.
        buf[12..14].copy_from_slice(&[0x08, 0x00]);
        let eth = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(eth.skip_vlan_tags(), Some((0x0800, 14)));
        // QinQ then VLAN then IPv6.
        buf[12..22].copy_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x0b, 0x86, 0xdd]);
        let eth = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(eth.skip_vlan_tags(), Some((0x86dd, 22)));
        // The same, cut inside the second tag.
        let eth = EthernetFrame::new_checked(&buf[..21]).unwrap();
        assert_eq!(eth.skip_vlan_tags(), None);
        // A tag exactly at the end: its EtherType is known, nothing follows.
        let eth = EthernetFrame::new_checked(&buf[..22]).unwrap();
        assert_eq!(eth.skip_vlan_tags(), Some((0x86dd, 22)));
    }

    #[test]
    fn ipv4_fields() {
        let mut buf = [
            0x46, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0xaa, //
        ];
        let mut ip = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(ip.header_len(), 24);
        assert_eq!(ip.next_header(), 17);
        ip.swap_addrs();
        assert_eq!(
            buf,
            [0x46, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1, 0xaa]
        );
    }

    #[test]
    fn ipv6_fields() {
        let mut buf = [0u8; 41];
        buf[6] = 6;
        buf[8..24].copy_from_slice(&[0xa; 16]);
        buf[24..40].copy_from_slice(&[0xb; 16]);
        buf[40] = 0xcc;
        let mut ip = Ipv6Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(ip.next_header(), 6);
        ip.swap_addrs();
        assert_eq!(buf[..8], [0, 0, 0, 0, 0, 0, 6, 0]);
        assert_eq!(buf[8..24], [0xb; 16]);
        assert_eq!(buf[24..40], [0xa; 16]);
        assert_eq!(buf[40], 0xcc);
    }

    #[test]
    fn ports() {
        let mut buf = [0x12, 0x34, 0x56, 0x78, 0x9a];
        L4Ports::new_checked(&mut buf[..]).unwrap().swap_ports();
        assert_eq!(buf, [0x56, 0x78, 0x12, 0x34, 0x9a]);
    }
}
