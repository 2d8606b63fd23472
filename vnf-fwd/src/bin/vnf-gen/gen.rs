//! The traffic generator's pure parts: its per-port option values, IPv4/UDP
//! frame templates, the payload stamp (sequence number and TSC) that measures
//! loss, reordering and latency, rate pacing, the latency histogram, and the
//! `--json` report.

use serde::Serialize;
use std::net::Ipv4Addr;
use vnf_fwd::config::mac::parse_mac;

/// The longest `--duration`, in seconds (a year; 0 means until stopped). Far
/// from what the TSC deadline can hold (at 10 GHz, 58 years of cycles).
pub const MAX_DURATION_S: f64 = 365.0 * 86400.0;
/// The longest `--drain-ms` (an hour).
pub const MAX_DRAIN_MS: u64 = 3_600_000;

/// A value given `[PORT:]VALUE` on the command line: for every port, or for
/// port `port` only.
#[derive(Clone, Debug, PartialEq)]
pub struct PerPort<T> {
    pub port: Option<u16>,
    pub value: T,
}

impl<T> PerPort<T> {
    /// Reads `[PORT:]VALUE`: text that is a whole `VALUE` is one for every port
    /// (so six groups are always a MAC: `02:00:00:00:00:01` is not port 2);
    /// otherwise a port number, `:`, and a `VALUE` (a MAC for one port
    /// needs the seventh group: `1:02:00:00:00:00:01`). `value` reads one
    /// `VALUE`; `name` and `shape` describe it for the error.
    ///
    /// # Errors
    ///
    /// One line naming the text and the expected shape.
    pub fn parse(
        s: &str,
        value: impl Fn(&str) -> Option<T>,
        name: &str,
        shape: &str,
    ) -> Result<Self, String> {
        if let Some(v) = value(s) {
            return Ok(PerPort {
                port: None,
                value: v,
            });
        }
        let for_port = || {
            let (port, v) = s.split_once(':')?;
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(PerPort {
                port: Some(port.parse().ok()?),
                value: value(v)?,
            })
        };
        for_port().ok_or_else(|| format!("expected {name} or PORT:{name}, {name} being {shape}"))
    }
}

/// `[PORT:]N`, a frame count.
pub fn per_port_count(s: &str) -> Result<PerPort<u64>, String> {
    PerPort::parse(s, |v| v.parse().ok(), "N", "a frame count")
}

/// `[PORT:]MAC`: six hexadecimal groups separated by `:` or `-`.
pub fn per_port_mac(s: &str) -> Result<PerPort<[u8; 6]>, String> {
    PerPort::parse(s, parse_mac, "MAC", "six hex groups (02:00:00:00:00:01)")
}

/// `[PORT:]A.B.C.D`.
pub fn per_port_ipv4(s: &str) -> Result<PerPort<Ipv4Addr>, String> {
    PerPort::parse(s, |v| v.parse().ok(), "IP", "an IPv4 address (198.18.0.1)")
}

/// A send rate: a share of the link's speed (pktgen's `set all rate 10`) or
/// a fixed number of frames per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Percent of the link speed, above 0 up to 100.
    Percent(f64),
    /// Frames per second, above 0.
    Pps(f64),
}

impl Rate {
    /// `10`, `10%` or `5000pps`.
    pub fn parse(s: &str) -> Option<Rate> {
        if let Some(pps) = s.strip_suffix("pps") {
            let v: f64 = pps.parse().ok()?;
            return (v > 0.0 && v.is_finite()).then_some(Rate::Pps(v));
        }
        let pct: f64 = s.strip_suffix('%').unwrap_or(s).parse().ok()?;
        (pct > 0.0 && pct <= 100.0).then_some(Rate::Percent(pct))
    }

    /// Frames per second on a link of `speed_mbps` with frames of
    /// `frame_len_with_fcs` bytes.
    pub fn pps(self, speed_mbps: u32, frame_len_with_fcs: usize) -> f64 {
        match self {
            Rate::Pps(v) => v,
            Rate::Percent(pct) => pps_for_percent(pct, speed_mbps, frame_len_with_fcs),
        }
    }
}

/// `[PORT:]RATE`.
pub fn per_port_rate(s: &str) -> Result<PerPort<Rate>, String> {
    PerPort::parse(
        s,
        Rate::parse,
        "RATE",
        "a percentage of link speed above 0 up to 100 (10, 10%) or frames per second (5000pps)",
    )
}

/// `--duration`: seconds, 0 (until stopped) up to [`MAX_DURATION_S`].
///
/// # Errors
///
/// One line for text that is not a number, or one out of that range.
pub fn duration_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| "expected seconds".to_string())?;
    if (0.0..=MAX_DURATION_S).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "expected 0 (until stopped) up to {MAX_DURATION_S} seconds (a year)"
        ))
    }
}

/// Ethernet + IPv4 + UDP header bytes before the payload.
pub const HEADERS_LEN: usize = 14 + 20 + 8;
/// The stamp: magic (2), source port (2), sequence (4), TX TSC (8).
pub const STAMP_LEN: usize = 16;
/// Smallest frame the generator builds (64 bytes on the wire with the FCS).
pub const MIN_FRAME: usize = 60;
const MAGIC: [u8; 2] = *b"VG";

/// What a generated frame carries, per port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    /// Frame length without the FCS (`--size` minus 4).
    pub len: usize,
}

/// The bytes of one port's frames, with the stamp left to [`stamp`].
pub fn template(spec: &FlowSpec) -> Vec<u8> {
    let len = spec.len.max(MIN_FRAME);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&spec.dst_mac);
    f[6..12].copy_from_slice(&spec.src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (len - 14) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&spec.src_ip);
    ip[16..20].copy_from_slice(&spec.dst_ip);
    let csum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&spec.dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
    // UDP checksum 0: none (allowed for IPv4); the stamp changes per frame.
    f
}

/// The IPv4 header checksum (RFC 1071) of `hdr` with its checksum field zero.
pub fn ipv4_checksum(hdr: &[u8]) -> u16 {
    let mut sum: u32 = hdr
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes the stamp into a frame built from [`template`].
#[inline]
pub fn stamp(frame: &mut [u8], port: u16, seq: u32, tsc: u64) {
    if let Some(s) = frame.get_mut(HEADERS_LEN..HEADERS_LEN + STAMP_LEN) {
        s[0..2].copy_from_slice(&MAGIC);
        s[2..4].copy_from_slice(&port.to_be_bytes());
        s[4..8].copy_from_slice(&seq.to_be_bytes());
        s[8..16].copy_from_slice(&tsc.to_be_bytes());
    }
}

/// The UDP source port of frame `seq` of a port sending `flows` flows from
/// `sport` up (wrapping past 65535).
#[inline]
pub fn flow_port(sport: u16, flows: u32, seq: u64) -> u16 {
    // seq % flows < flows <= 65536, so the remainder fits in 16 bits.
    sport.wrapping_add((seq % u64::from(flows.max(1))) as u16)
}

/// Rewrites the UDP source port of a frame built from [`template`] (its UDP
/// checksum is 0, none, so nothing else changes).
#[inline]
pub fn set_udp_source_port(frame: &mut [u8], port: u16) {
    if let Some(p) = frame.get_mut(34..36) {
        p.copy_from_slice(&port.to_be_bytes());
    }
}

/// A stamp read back from a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub port: u16,
    pub seq: u32,
    pub tsc: u64,
}

/// Reads the stamp of a received frame: IPv4/UDP (forwarders may have
/// rewritten MACs, addresses and ports, never the payload); `None` for
/// anything else.
pub fn read_stamp(frame: &[u8]) -> Option<Stamp> {
    let s = frame.get(HEADERS_LEN..HEADERS_LEN + STAMP_LEN)?;
    if frame[12..14] != [0x08, 0x00] || frame[14] != 0x45 || frame[23] != 17 || s[0..2] != MAGIC {
        return None;
    }
    Some(Stamp {
        port: u16::from_be_bytes([s[2], s[3]]),
        seq: u32::from_be_bytes([s[4], s[5], s[6], s[7]]),
        tsc: u64::from_be_bytes([s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]]),
    })
}

/// Frames per second for `percent` of a link of `speed_mbps`, with
/// `frame_len` bytes on the wire plus preamble and inter-frame gap (20).
pub fn pps_for_percent(percent: f64, speed_mbps: u32, frame_len_with_fcs: usize) -> f64 {
    let bits = (frame_len_with_fcs + 20) as f64 * 8.0;
    f64::from(speed_mbps) * 1e6 * percent / 100.0 / bits
}

/// How many frames are due after `elapsed_cycles` at `pps`, minus those sent.
#[inline]
pub fn frames_due(elapsed_cycles: u64, hz: u64, pps: f64, sent: u64) -> u64 {
    let due = (elapsed_cycles as f64 / hz as f64 * pps) as u64;
    due.saturating_sub(sent)
}

/// `vnf-gen --json`'s line: `{"ports":[...]}`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub ports: Vec<PortReport>,
}

/// One port's counters in the report.
#[derive(Debug, Serialize)]
pub struct PortReport {
    pub port: u16,
    pub sent: u64,
    pub received: u64,
    pub dropped: u64,
    pub lost: u64,
    pub reordered: u64,
    pub latency_us: LatencyReport,
}

/// A port's latencies in µs, to 0.01 µs (zeros without samples).
#[derive(Debug, Serialize)]
pub struct LatencyReport {
    pub samples: u64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub p99: f64,
}

/// Latencies in whole microseconds: 1 µs buckets up to 100 ms, then one overflow bucket.
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
    sum_us: f64,
    min_us: f64,
    max_us: f64,
}

const BUCKETS: usize = 100_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: vec![0; BUCKETS + 1],
            count: 0,
            sum_us: 0.0,
            min_us: f64::INFINITY,
            max_us: 0.0,
        }
    }
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn record(&mut self, us: f64) {
        let b = (us as usize).min(BUCKETS);
        self.buckets[b] += 1;
        self.count += 1;
        self.sum_us += us;
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    /// The summary for the JSON report.
    pub fn report(&self) -> LatencyReport {
        let (min, avg, max, p99) = self.summary();
        let centi = |us: f64| (us * 100.0).round() / 100.0;
        LatencyReport {
            samples: self.count,
            min: centi(min),
            avg: centi(avg),
            max: centi(max),
            p99: centi(p99),
        }
    }

    /// (min, avg, max, p99) in µs; zeros without samples. p99 is the upper
    /// edge of the 1 µs bucket holding the 99th percentile.
    pub fn summary(&self) -> (f64, f64, f64, f64) {
        if self.count == 0 {
            return (0.0, 0.0, 0.0, 0.0);
        }
        let target = (self.count as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        let mut p99 = self.max_us;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                p99 = ((i + 1) as f64).min(self.max_us);
                break;
            }
        }
        (
            self.min_us,
            self.sum_us / self.count as f64,
            self.max_us,
            p99,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all<T>(value: T) -> PerPort<T> {
        PerPort { port: None, value }
    }

    fn one<T>(port: u16, value: T) -> PerPort<T> {
        PerPort {
            port: Some(port),
            value,
        }
    }

    #[test]
    fn six_groups_are_always_a_mac() {
        // Once read as port 0 with a five-group MAC (an error), and as port 2.
        assert_eq!(
            per_port_mac("00:00:00:00:00:01"),
            Ok(all([0, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            per_port_mac("02:00:00:00:00:01"),
            Ok(all([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            per_port_mac("02-00-00-00-00-0a"),
            Ok(all([2, 0, 0, 0, 0, 10]))
        );
        // A port needs the seventh group.
        assert_eq!(
            per_port_mac("1:02:00:00:00:00:01"),
            Ok(one(1, [2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            per_port_mac("0:02-00-00-00-00-01"),
            Ok(one(0, [2, 0, 0, 0, 0, 1]))
        );
        for bad in [
            "00:00:00:00:01",
            "1:00:00:00:01",
            "1:2:00:00:00:00:00:01",
            "x:02:00:00:00:00:01",
            "70000:02:00:00:00:00:01",
            ":02:00:00:00:00:01",
            "1:",
            "",
        ] {
            let err = per_port_mac(bad).unwrap_err();
            assert!(err.contains("PORT:MAC"), "{bad}: {err}");
        }
    }

    #[test]
    fn counts_rates_and_addresses_take_the_same_rule() {
        assert_eq!(per_port_count("100"), Ok(all(100)));
        assert_eq!(per_port_count("1:200"), Ok(one(1, 200)));
        assert_eq!(per_port_count("65535:1"), Ok(one(65535, 1)));
        for bad in [
            "",
            "-1",
            "1:",
            "1:x",
            "a:1",
            "1:2:3",
            "65536:1",
            "99999999999999999999",
        ] {
            assert!(per_port_count(bad).is_err(), "{bad}");
        }
        assert_eq!(per_port_rate("10"), Ok(all(Rate::Percent(10.0))));
        assert_eq!(per_port_rate("0:10%"), Ok(one(0, Rate::Percent(10.0))));
        assert_eq!(per_port_rate("1:5000pps"), Ok(one(1, Rate::Pps(5000.0))));
        for bad in ["0", "101", "0%", "1:0pps", "infpps", "NaN", "1:-5", "fast"] {
            assert!(per_port_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            per_port_ipv4("198.18.0.1"),
            Ok(all(Ipv4Addr::new(198, 18, 0, 1)))
        );
        assert_eq!(
            per_port_ipv4("1:198.18.0.1"),
            Ok(one(1, Ipv4Addr::new(198, 18, 0, 1)))
        );
        for bad in ["198.18.0", "1:198.18.0.256", "1:", "::1"] {
            assert!(per_port_ipv4(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_in_frames_per_second() {
        assert_eq!(Rate::Pps(5000.0).pps(10_000, 64), 5000.0);
        // 10 % of 10 Gb/s at 64 B (+ 20 B preamble and gap): 1.488 Mpps.
        let pps = Rate::Percent(10.0).pps(10_000, 64);
        assert!((pps - 1_488_095.2).abs() < 1.0, "{pps}");
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(duration_secs("0"), Ok(0.0));
        assert_eq!(duration_secs("2.5"), Ok(2.5));
        assert_eq!(duration_secs("31536000"), Ok(MAX_DURATION_S));
        for bad in ["-1", "31536001", "1e300", "inf", "NaN", "", "10s"] {
            assert!(duration_secs(bad).is_err(), "{bad}");
        }
    }

    fn spec(len: usize) -> FlowSpec {
        FlowSpec {
            src_mac: [2, 0, 0, 0, 0, 5],
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_ip: [198, 18, 0, 1],
            dst_ip: [198, 19, 0, 1],
            src_port: 1234,
            dst_port: 5678,
            len,
        }
    }

    #[test]
    fn template_is_ipv4_udp_with_valid_checksum() {
        let f = template(&spec(60));
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 46); // IPv4 total length
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 26); // UDP length
        assert_eq!(
            ipv4_checksum(&f[14..34]),
            0,
            "checksum over a valid header folds to 0"
        );
        assert_eq!(template(&spec(1514)).len(), 1514);
    }

    #[test]
    fn flows_vary_the_udp_source_port() {
        assert_eq!(flow_port(1234, 1, 7), 1234);
        let ports: Vec<u16> = (0..6).map(|seq| flow_port(1234, 4, seq)).collect();
        assert_eq!(ports, [1234, 1235, 1236, 1237, 1234, 1235]);
        assert_eq!(flow_port(65535, 2, 1), 0, "wraps past 65535");
        assert_eq!(flow_port(9, 65536, 65535), 8);
        let mut f = template(&spec(60));
        let before = f.clone();
        set_udp_source_port(&mut f, 0xabcd);
        assert_eq!(&f[34..36], &[0xab, 0xcd]);
        assert_eq!(f[..34], before[..34], "MACs and IPv4 header untouched");
        assert_eq!(f[36..], before[36..]);
        set_udp_source_port(&mut [0u8; 35], 1); // too short: nothing happens
    }

    #[test]
    fn known_checksum() {
        // RFC 1071 example header (Wikipedia's IPv4 checksum example).
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_checksum(&hdr), 0xb861);
    }

    #[test]
    fn stamp_round_trip_survives_mac_and_ip_rewrites() {
        let mut f = template(&spec(60));
        stamp(&mut f, 1, 42, 0x1122_3344_5566_7788);
        f[0..12].copy_from_slice(&[9; 12]); // a forwarder rewrote the MACs
        f[26..34].copy_from_slice(&[7; 8]); // and 5tswap the addresses
        assert_eq!(
            read_stamp(&f),
            Some(Stamp {
                port: 1,
                seq: 42,
                tsc: 0x1122_3344_5566_7788
            })
        );
        assert_eq!(read_stamp(&f[..57]), None);
        assert_eq!(read_stamp(&[0u8; 60]), None);
        assert_eq!(read_stamp(&[]), None);
    }

    #[test]
    fn pacing() {
        // 10 % of 10 Gb/s in 64-byte frames: 1.488 Mpps.
        let pps = pps_for_percent(10.0, 10_000, 64);
        assert!((pps - 1_488_095.2).abs() < 1.0, "{pps}");
        assert_eq!(frames_due(1_000_000, 1_000_000, 1000.0, 0), 1000);
        assert_eq!(frames_due(500_000, 1_000_000, 1000.0, 400), 100);
        assert_eq!(frames_due(500_000, 1_000_000, 1000.0, 600), 0);
    }

    #[test]
    fn histogram_summary() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.summary(), (0.0, 0.0, 0.0, 0.0));
        for i in 0..100 {
            h.record(f64::from(i) + 0.5);
        }
        let (min, avg, max, p99) = h.summary();
        assert_eq!((min, max), (0.5, 99.5));
        assert!((avg - 50.0).abs() < 1e-9);
        assert_eq!(p99, 99.0);
        h.record(1e9);
        assert_eq!(h.report().samples, 101);
    }

    #[test]
    fn json_report_fields_and_rounding() {
        let mut h = LatencyHistogram::default();
        for us in [1.004, 2.0, 3.333] {
            h.record(us);
        }
        let report = Report {
            ports: vec![PortReport {
                port: 1,
                sent: 100,
                received: 200,
                dropped: 0,
                lost: 0,
                reordered: 0,
                latency_us: h.report(),
            }],
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            "{\"ports\":[{\"port\":1,\"sent\":100,\"received\":200,\"dropped\":0,\"lost\":0,\"reordered\":0,\
             \"latency_us\":{\"samples\":3,\"min\":1.0,\"avg\":2.11,\"max\":3.33,\"p99\":3.33}}]}"
        );
        let empty = LatencyHistogram::default().report();
        assert_eq!(
            serde_json::to_value(empty).unwrap(),
            serde_json::json!({"samples": 0, "min": 0.0, "avg": 0.0, "max": 0.0, "p99": 0.0})
        );
    }
}
