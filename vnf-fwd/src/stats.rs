//! Per-lcore counters, written by the lcore that forwards and read by the main
//! lcore, and l2fwd's statistics printout.

use crate::cli::PortPair;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds to a counter that has a single writer: a plain load and store, no
/// locked read-modify-write on the fast path.
#[inline(always)]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Counters of one forwarding direction. Cache-line aligned so that two
/// lcores never write the same line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct LaneCounters {
    /// Frames received on the rx port.
    pub rx: AtomicU64,
    /// Frames the tx port accepted.
    pub tx: AtomicU64,
    /// Frames the tx port refused (queue full), freed.
    pub dropped: AtomicU64,
    /// Frames too short for the engine's headers, freed (also in `dropped`).
    pub malformed: AtomicU64,
}

/// Counters of one lcore.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct LcoreCounters {
    /// TSC cycles spent in lane polls that received at least one frame.
    pub busy_cycles: AtomicU64,
    /// Frames received in those polls.
    pub busy_packets: AtomicU64,
}

/// Every counter of the forwarder, with what each one belongs to.
pub struct Stats {
    /// Ports as l2fwd lists them (the enabled ones), ascending.
    pub ports: Vec<u16>,
    /// One entry per forwarding direction.
    pub lanes: Vec<(PortPair, LaneCounters)>,
    /// One entry per forwarding lcore.
    pub lcores: Vec<(u32, LcoreCounters)>,
}

/// Sums for one port, as l2fwd reports them: received on it, sent on it, and
/// dropped on its way out of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortTotals {
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub malformed: u64,
}

impl Stats {
    /// Zeroed counters for `pairs` polled by `lcores`.
    pub fn new(pairs: &[PortPair], lcores: &[u32]) -> Self {
        let mut ports: Vec<u16> = pairs.iter().flat_map(|p| [p.rx, p.tx]).collect();
        ports.sort_unstable();
        ports.dedup();
        Stats {
            ports,
            lanes: pairs
                .iter()
                .map(|&p| (p, LaneCounters::default()))
                .collect(),
            lcores: lcores
                .iter()
                .map(|&l| (l, LcoreCounters::default()))
                .collect(),
        }
    }

    /// The counters of direction `pair`.
    pub fn lane(&self, pair: PortPair) -> Option<&LaneCounters> {
        self.lanes.iter().find(|(p, _)| *p == pair).map(|(_, c)| c)
    }

    /// The counters of `lcore`.
    pub fn lcore(&self, lcore: u32) -> Option<&LcoreCounters> {
        self.lcores
            .iter()
            .find(|(l, _)| *l == lcore)
            .map(|(_, c)| c)
    }

    /// Totals of `port`.
    pub fn port(&self, port: u16) -> PortTotals {
        let mut t = PortTotals::default();
        for (pair, c) in &self.lanes {
            if pair.rx == port {
                t.rx += c.rx.load(Relaxed);
            }
            if pair.tx == port {
                t.tx += c.tx.load(Relaxed);
                t.dropped += c.dropped.load(Relaxed);
                t.malformed += c.malformed.load(Relaxed);
            }
        }
        t
    }

    /// l2fwd's statistics block (`print_stats`), byte for byte after the
    /// optional clear-screen prefix.
    pub fn render_l2fwd(&self, clear_screen: bool) -> String {
        let mut out = String::new();
        if clear_screen {
            out.push_str("\x1b[2J\x1b[1;1H");
        }
        out.push_str("\nPort statistics ====================================");
        let mut total = PortTotals::default();
        for &port in &self.ports {
            let t = self.port(port);
            let _ = write!(
                out,
                "\nStatistics for port {port} ------------------------------\
                 \nPackets sent: {:>24}\nPackets received: {:>20}\nPackets dropped: {:>21}",
                t.tx, t.rx, t.dropped
            );
            total.tx += t.tx;
            total.rx += t.rx;
            total.dropped += t.dropped;
        }
        let _ = write!(
            out,
            "\nAggregate statistics ===============================\
             \nTotal packets sent: {:>18}\nTotal packets received: {:>14}\nTotal packets dropped: {:>15}\
             \n====================================================\n",
            total.tx, total.rx, total.dropped
        );
        out
    }

    /// What l2fwd does not show: malformed frames and each lcore's busy cycles
    /// per packet (the forwarding cost, independent of which side is the bottleneck).
    pub fn render_details(&self) -> String {
        let mut out = String::new();
        for &port in &self.ports {
            let m = self.port(port).malformed;
            if m > 0 {
                let _ = writeln!(out, "Port {port}: {m} malformed frames dropped (too short for the engine's headers)");
            }
        }
        for (lcore, c) in &self.lcores {
            let cycles = c.busy_cycles.load(Relaxed);
            let packets = c.busy_packets.load(Relaxed);
            if packets > 0 {
                let _ = writeln!(
                    out,
                    "Lcore {lcore}: {packets} packets, {:.1} busy cycles/packet",
                    cycles as f64 / packets as f64
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2fwd_layout_and_totals() {
        let pairs = [PortPair { rx: 0, tx: 1 }, PortPair { rx: 1, tx: 0 }];
        let stats = Stats::new(&pairs, &[0]);
        let a = stats.lane(pairs[0]).unwrap();
        bump(&a.rx, 100);
        bump(&a.tx, 90);
        bump(&a.dropped, 10);
        let b = stats.lane(pairs[1]).unwrap();
        bump(&b.rx, 200);
        bump(&b.tx, 200);
        assert_eq!(
            stats.port(1),
            PortTotals {
                rx: 200,
                tx: 90,
                dropped: 10,
                malformed: 0
            }
        );
        let text = stats.render_l2fwd(false);
        let expected = "\nPort statistics ====================================\
            \nStatistics for port 0 ------------------------------\
            \nPackets sent:                      200\
            \nPackets received:                  100\
            \nPackets dropped:                     0\
            \nStatistics for port 1 ------------------------------\
            \nPackets sent:                       90\
            \nPackets received:                  200\
            \nPackets dropped:                    10\
            \nAggregate statistics ===============================\
            \nTotal packets sent:                290\
            \nTotal packets received:            300\
            \nTotal packets dropped:              10\
            \n====================================================\n";
        assert_eq!(text, expected);
        assert!(stats
            .render_l2fwd(true)
            .starts_with("\x1b[2J\x1b[1;1H\nPort"));
    }

    #[test]
    fn counters_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<LaneCounters>(), 64);
        assert_eq!(std::mem::align_of::<LcoreCounters>(), 64);
    }
}
