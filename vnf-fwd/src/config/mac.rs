//! MAC addresses as text: DPDK's way of printing them, and the parser of
//! vnf-gen's MAC options.

/// `AA:BB:CC:DD:EE:FF`, as DPDK prints MACs.
pub fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let m = parse_mac("00:00:00:00:00:05").unwrap();
        assert_eq!(m, [0, 0, 0, 0, 0, 5]);
        assert_eq!(
            fmt_mac([0x02, 0x70, 0x63, 0x61, 0x70, 0x0a]),
            "02:70:63:61:70:0A"
        );
        assert_eq!(parse_mac("02-00-00-00-00-ff"), Some([2, 0, 0, 0, 0, 0xff]));
        for bad in [
            "",
            "00:00:00:00:00",
            "00:00:00:00:00:00:00",
            "zz:00:00:00:00:00",
            "100:0:0:0:0:0",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
