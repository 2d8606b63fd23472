//! The text report: l2fwd's statistics block, and the per-queue and
//! per-lcore details vnf-fwd adds at exit.

use crate::fwd::counters::{PortTotals, Stats};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

impl Stats {
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

    /// What l2fwd does not show: malformed frames, mbuf chains dropped for
    /// ports that cannot send them, with several queues per
    /// port each lane's and each lcore's counters, and each lcore's busy
    /// cycles per packet (the forwarding cost, independent of which side is
    /// the bottleneck).
    pub fn render_details(&self) -> String {
        let mut out = String::new();
        if self.multiqueue() {
            for (lcore, lane, c) in &self.lanes {
                let _ = writeln!(
                    out,
                    "Lcore {lcore}: RX port {} queue {} -> TX port {} queue {}: received {}, sent {}, dropped {}",
                    lane.pair.rx,
                    lane.rx_queue,
                    lane.pair.tx,
                    lane.tx_queue,
                    c.rx.load(Relaxed),
                    c.tx.load(Relaxed),
                    c.dropped.load(Relaxed)
                );
            }
            for (lcore, _) in &self.lcores {
                let t = self.lcore_totals(*lcore);
                let _ = writeln!(
                    out,
                    "Lcore {lcore}: received {}, sent {}, dropped {}",
                    t.rx, t.tx, t.dropped
                );
            }
        }
        for &port in &self.ports {
            let t = self.port(port);
            if t.malformed > 0 {
                let _ = writeln!(
                    out,
                    "Port {port}: {} malformed frames dropped (too short for the engine's headers)",
                    t.malformed
                );
            }
            if t.chained > 0 {
                let _ = writeln!(out, "Port {port}: {} multi-segment frames dropped (the port cannot send mbuf chains)", t.chained);
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
    use crate::fwd::counters::{bump, LcoreTotals};
    use crate::plan::{LanePlan, LcorePlan, PortPair};

    fn lane(rx: u16, tx: u16, rx_queue: u16, tx_queue: u16) -> LanePlan {
        LanePlan {
            pair: PortPair { rx, tx },
            rx_queue,
            tx_queue,
        }
    }

    #[test]
    fn l2fwd_layout_and_totals() {
        let lanes = [lane(0, 1, 0, 0), lane(1, 0, 0, 0)];
        let stats = Stats::new(&[LcorePlan {
            lcore: 0,
            lanes: lanes.to_vec(),
        }]);
        let a = stats.lane(lanes[0]).unwrap();
        bump(&a.rx, 100);
        bump(&a.tx, 90);
        bump(&a.dropped, 10);
        let b = stats.lane(lanes[1]).unwrap();
        bump(&b.rx, 200);
        bump(&b.tx, 200);
        assert_eq!(
            stats.port(1),
            PortTotals {
                rx: 200,
                tx: 90,
                dropped: 10,
                malformed: 0,
                chained: 0
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
    fn queues_add_up_per_port_and_per_lcore() {
        // Two lcores, each with one queue of both ports.
        let plan = [
            LcorePlan {
                lcore: 0,
                lanes: vec![lane(0, 1, 0, 0), lane(1, 0, 0, 0)],
            },
            LcorePlan {
                lcore: 1,
                lanes: vec![lane(0, 1, 1, 1), lane(1, 0, 1, 1)],
            },
        ];
        let stats = Stats::new(&plan);
        assert_eq!(stats.ports, vec![0, 1]);
        for (i, (_, lane, c)) in stats.lanes.iter().enumerate() {
            let n = 10 * (i as u64 + 1);
            bump(&c.rx, n);
            bump(&c.tx, n - lane.rx_queue as u64);
            bump(&c.dropped, lane.rx_queue as u64);
        }
        // Port 0 received on lanes 0 and 2 (10 + 30) and sent on lanes 1 and 3.
        assert_eq!(
            stats.port(0),
            PortTotals {
                rx: 40,
                tx: 20 + 39,
                dropped: 1,
                malformed: 0,
                chained: 0
            }
        );
        assert_eq!(stats.port(1).rx, 20 + 40);
        assert_eq!(
            stats.lcore_totals(1),
            LcoreTotals {
                rx: 70,
                tx: 68,
                dropped: 2,
                malformed: 0,
                chained: 0
            }
        );
        assert_eq!(stats.lcore_totals(0).rx, 30);
        let text = stats.render_details();
        assert!(
            text.contains("Lcore 1: RX port 1 queue 1 -> TX port 0 queue 1: received 40, sent 39, dropped 1\n"),
            "{text}"
        );
        assert!(
            text.contains("Lcore 0: received 30, sent 30, dropped 0\n"),
            "{text}"
        );
        assert!(
            text.contains("Lcore 1: received 70, sent 68, dropped 2\n"),
            "{text}"
        );
    }

    #[test]
    fn malformed_and_chained_frames_are_shown_for_their_tx_port() {
        let lanes = [lane(0, 1, 0, 0), lane(1, 0, 0, 0)];
        let stats = Stats::new(&[LcorePlan {
            lcore: 0,
            lanes: lanes.to_vec(),
        }]);
        let a = stats.lane(lanes[0]).unwrap();
        bump(&a.dropped, 5);
        bump(&a.malformed, 2);
        bump(&a.chained, 3);
        assert_eq!(stats.port(1).chained, 3);
        assert_eq!(stats.lcore_totals(0).chained, 3);
        assert_eq!(
            stats.render_details(),
            "Port 1: 2 malformed frames dropped (too short for the engine's headers)\n\
             Port 1: 3 multi-segment frames dropped (the port cannot send mbuf chains)\n"
        );
    }

    #[test]
    fn one_queue_shows_no_lane_lines() {
        let stats = Stats::new(&[LcorePlan {
            lcore: 0,
            lanes: vec![lane(0, 1, 0, 0), lane(1, 0, 0, 0)],
        }]);
        assert_eq!(stats.render_details(), "");
    }
}
