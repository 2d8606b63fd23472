//! What the fuzz targets check the engines against: a slow, obvious model of
//! each rewrite, written from the DPDK behaviour the engines reproduce and
//! independently of `vnf_fwd::engine::wire`.

/// Frames shorter than this have no Ethernet header; every rewriting engine
/// must refuse them and leave them untouched.
pub const ETHER_HDR_LEN: usize = 14;

fn be16(frame: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
}

/// Swaps `frame[a..a + len]` with `frame[b..b + len]` when both fit.
fn swap(frame: &mut [u8], a: usize, b: usize, len: usize) -> Option<()> {
    if b + len > frame.len() {
        return None;
    }
    for i in 0..len {
        frame.swap(a + i, b + i);
    }
    Some(())
}

/// testpmd's `macswap`: the two MACs trade places.
pub fn macswap(frame: &mut [u8]) {
    let _ = swap(frame, 0, 6, 6);
}

/// testpmd's `5tswap` (app/test-pmd/5tswap.c), bounded by the frame's length:
/// MACs, then through any number of VLAN/QinQ tags to IPv4 (addresses, then
/// the ports at IHL × 4 when IHL ≥ 5) or IPv6 (addresses, then the ports
/// after the fixed header), each step only when its header fits whole.
pub fn five_tuple_swap(frame: &mut [u8]) {
    macswap(frame);
    let _ = l3_l4(frame);
}

fn l3_l4(frame: &mut [u8]) -> Option<()> {
    let mut ethertype = be16(frame, 12)?;
    let mut l3 = ETHER_HDR_LEN;
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        if l3 + 4 > frame.len() {
            return None;
        }
        ethertype = be16(frame, l3 + 2)?;
        l3 += 4;
    }
    let (proto, l4) = match ethertype {
        0x0800 => {
            if l3 + 20 > frame.len() {
                return None;
            }
            swap(frame, l3 + 12, l3 + 16, 4)?;
            let ihl = usize::from(frame[l3] & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            (frame[l3 + 9], l3 + ihl)
        }
        0x86dd => {
            if l3 + 40 > frame.len() {
                return None;
            }
            swap(frame, l3 + 8, l3 + 24, 16)?;
            (frame[l3 + 6], l3 + 40)
        }
        _ => return None,
    };
    if proto == 6 || proto == 17 {
        swap(frame, l4, l4 + 2, 2)?;
    }
    Some(())
}
