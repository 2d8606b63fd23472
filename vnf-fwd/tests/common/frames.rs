//! Hand-built test frames: every header written out byte by byte.

pub const SRC_MAC: [u8; 6] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x05];
pub const DST_MAC: [u8; 6] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x02];

/// Ethernet header + `rest`, padded with a counting pattern to `len` bytes.
fn eth(ethertype: u16, l3: &[u8], len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    let mut i = 0u8;
    while f.len() < len {
        f.push(i);
        i = i.wrapping_add(1);
    }
    f.truncate(len);
    f
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], options: &[u8], l4: &[u8]) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let mut h = vec![0x40 | ihl as u8, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(options);
    h.extend_from_slice(l4);
    h
}

fn ipv6(next: u8, src: u8, dst: u8, l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0, 0, 0, next, 64];
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, src]);
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dst]);
    h.extend_from_slice(l4);
    h
}

/// UDP header: ports 1234 -> 5678.
pub const UDP: [u8; 8] = [0x04, 0xd2, 0x16, 0x2e, 0, 8, 0, 0];
/// TCP header: ports 80 -> 40000, data offset 5.
pub const TCP: [u8; 20] = [
    0x00, 0x50, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
];

pub fn ipv4_udp(len: usize) -> Vec<u8> {
    eth(
        0x0800,
        &ipv4(17, [198, 18, 0, 1], [198, 19, 0, 2], &[], &UDP),
        len,
    )
}

pub fn ipv4_tcp(len: usize) -> Vec<u8> {
    eth(
        0x0800,
        &ipv4(6, [198, 18, 0, 3], [198, 19, 0, 4], &[], &TCP),
        len,
    )
}

pub fn ipv4_options_udp(len: usize) -> Vec<u8> {
    eth(
        0x0800,
        &ipv4(17, [198, 18, 0, 5], [198, 19, 0, 6], &[1, 1, 1, 0], &UDP),
        len,
    )
}

pub fn ipv6_udp(len: usize) -> Vec<u8> {
    eth(0x86dd, &ipv6(17, 1, 2, &UDP), len)
}

pub fn ipv6_tcp(len: usize) -> Vec<u8> {
    eth(0x86dd, &ipv6(6, 3, 4, &TCP), len)
}

pub fn vlan_ipv4_udp(len: usize) -> Vec<u8> {
    let mut l3 = vec![0x00, 0x64, 0x08, 0x00]; // VLAN 100, then IPv4
    l3.extend(ipv4(17, [198, 18, 1, 1], [198, 19, 1, 2], &[], &UDP));
    eth(0x8100, &l3, len)
}

pub fn qinq_ipv4_tcp(len: usize) -> Vec<u8> {
    let mut l3 = vec![0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]; // S-tag 10, C-tag 20
    l3.extend(ipv4(6, [198, 18, 2, 1], [198, 19, 2, 2], &[], &TCP));
    eth(0x88a8, &l3, len)
}

pub fn arp(len: usize) -> Vec<u8> {
    eth(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1], len)
}

/// A frame of `len` bytes (runts below 14) with a recognisable pattern.
pub fn runt(len: usize) -> Vec<u8> {
    (0..len as u8)
        .map(|b| b.wrapping_mul(7).wrapping_add(1))
        .collect()
}

/// The mixed input of the golden tests: several sizes, runts, VLAN, QinQ,
/// IPv4 with options, IPv6, TCP, UDP, ARP, and headers cut short.
pub fn golden_input(seed: u8) -> Vec<Vec<u8>> {
    let mut v = vec![
        ipv4_udp(60),
        ipv4_udp(64),
        ipv4_tcp(128),
        ipv4_options_udp(256),
        ipv6_udp(512),
        ipv6_tcp(1024),
        vlan_ipv4_udp(1514),
        qinq_ipv4_tcp(200),
        arp(60),
        runt(1),
        runt(10),
        runt(13),
        ipv4_udp(14),
        ipv4_udp(30), // IPv4 header cut short
        ipv6_tcp(60), // IPv6 header cut short
        ipv4_tcp(36), // TCP ports cut short
    ];
    // Make the two ports' inputs differ.
    for f in v.iter_mut() {
        if f.len() > 40 {
            let last = f.len() - 1;
            f[last] = seed;
        }
    }
    v
}

/// Frames testpmd's 5tswap handles without reading past their end.
pub fn is_complete(f: &[u8]) -> bool {
    f.len() >= 60 || (f.len() >= 14 && (f[12], f[13]) == (0x08, 0x06))
}
