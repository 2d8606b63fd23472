//! Reporting: one live snapshot of the counters, [`Live`], and its formats:
//! the text block (l2fwd's layout, [`text`]), JSON lines
//! (`--stats-format json`, [`json`]), the Prometheus text format
//! ([`prometheus`]), served over HTTP by `http` (`--metrics-addr`), and the
//! values of the DPDK telemetry command ([`telemetry`]). All of them read the
//! per-lane counters with Relaxed loads and the gauges the main lcore
//! publishes; none of them touches the fast path.

mod http;
pub mod json;
pub mod prometheus;
pub mod telemetry;
pub mod text;

pub use http::{bind, Error, Listener, MetricsServer};
pub use json::JsonLines;

use crate::dpdk::Link;
use crate::fwd::counters::Stats;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// How often the main lcore polls the links and publishes their state: the
/// age of the link gauges at most (virtio_user reconnects only when polled).
pub const LINK_POLL_MS: u64 = 250;

/// The forwarder's counters and gauges, shared by the lcores (which write the
/// counters), the main lcore (which publishes the gauges) and the readers:
/// the statistics printer, the metrics server and the telemetry callback.
pub struct Live {
    pub stats: Stats,
    /// Device names, in `stats.ports` order.
    pub port_names: Vec<String>,
    /// Whether `--record-core-cycles` fills the busy counters.
    record_cycles: bool,
    /// Link state per port, in `stats.ports` order, as last polled.
    link_up: Vec<AtomicBool>,
    /// Mbufs out of the pool, as last polled.
    mempool_in_use: AtomicU64,
    /// Set while the lcores forward.
    forwarding: AtomicBool,
}

/// One reading of every counter.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Instant,
    pub ports: Vec<PortSample>,
    pub lcores: Vec<LcoreSample>,
    pub mempool_in_use: u64,
    pub rss_bytes: Option<u64>,
}

/// A port's totals, as l2fwd counts them (dropped: on the way out of it).
#[derive(Clone, Copy, Debug, Default)]
pub struct PortSample {
    pub port: u16,
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
}

/// What one lcore forwarded and, with `--record-core-cycles`, what it cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct LcoreSample {
    pub lcore: u32,
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub busy_cycles: u64,
    pub busy_packets: u64,
}
impl Live {
    /// Wraps `stats` with the ports' names.
    pub fn new(stats: Stats, port_names: Vec<String>, record_cycles: bool) -> Self {
        let link_up = stats.ports.iter().map(|_| AtomicBool::new(false)).collect();
        Live {
            stats,
            port_names,
            record_cycles,
            link_up,
            mempool_in_use: AtomicU64::new(0),
            forwarding: AtomicBool::new(false),
        }
    }

    /// Publishes the link states polled by the main lcore, in `stats.ports` order.
    pub fn set_links(&self, links: &[Option<Link>]) {
        for (slot, link) in self.link_up.iter().zip(links) {
            slot.store(link.is_some_and(|l| l.up), Relaxed);
        }
    }

    /// Publishes the pool's in-use count.
    pub fn set_mempool_in_use(&self, n: u32) {
        self.mempool_in_use.store(u64::from(n), Relaxed);
    }

    /// Marks the start and the end of forwarding.
    pub fn set_forwarding(&self, on: bool) {
        self.forwarding.store(on, Relaxed);
    }

    /// Forwarding, and every link up: what `/healthz` reports as healthy.
    pub fn healthy(&self) -> bool {
        self.forwarding.load(Relaxed) && self.link_up.iter().all(|l| l.load(Relaxed))
    }

    /// Reads every counter now.
    pub fn sample(&self) -> Sample {
        let ports = self
            .stats
            .ports
            .iter()
            .map(|&port| {
                let t = self.stats.port(port);
                PortSample {
                    port,
                    rx: t.rx,
                    tx: t.tx,
                    dropped: t.dropped,
                }
            })
            .collect();
        let lcores = self
            .stats
            .lcores
            .iter()
            .map(|(lcore, c)| {
                let t = self.stats.lcore_totals(*lcore);
                LcoreSample {
                    lcore: *lcore,
                    rx: t.rx,
                    tx: t.tx,
                    dropped: t.dropped,
                    busy_cycles: c.busy_cycles.load(Relaxed),
                    busy_packets: c.busy_packets.load(Relaxed),
                }
            })
            .collect();
        Sample {
            at: Instant::now(),
            ports,
            lcores,
            mempool_in_use: self.mempool_in_use.load(Relaxed),
            rss_bytes: resident_bytes(),
        }
    }
}

/// The process's resident memory (`VmRSS`, the same figure as statm's
/// resident pages times the page size).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fwd::counters::bump;
    use crate::plan::{LanePlan, LcorePlan, PortPair};
    use std::time::Duration;

    /// Queue 0 of ports 0 and 1, forwarded to each other.
    fn lane(rx: u16, tx: u16) -> LanePlan {
        LanePlan {
            pair: PortPair { rx, tx },
            rx_queue: 0,
            tx_queue: 0,
        }
    }

    /// Two ports, one lcore; also the metrics server's tests' counters.
    pub(super) fn live() -> Live {
        let stats = Stats::new(&[LcorePlan {
            lcore: 3,
            lanes: vec![lane(0, 1), lane(1, 0)],
        }]);
        Live::new(stats, vec!["net_null0".into(), "we\"ird\\".into()], true)
    }

    #[test]
    fn json_line_shape() {
        let live = live();
        let start = live.sample();
        let lane = live.stats.lane(lane(0, 1)).unwrap();
        bump(&lane.rx, 10);
        bump(&lane.tx, 8);
        bump(&lane.dropped, 2);
        let lc = live.stats.lcore(3).unwrap();
        bump(&lc.busy_cycles, 200);
        bump(&lc.busy_packets, 10);
        live.set_mempool_in_use(77);
        let mut now = live.sample();
        now.at = start.at + Duration::from_secs(2);
        now.rss_bytes = Some(4096);
        let line = serde_json::to_string(&live.json_line(&now, &start, start.at, true)).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let time = v["time"].take();
        assert!(
            time.as_str()
                .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
            "{line}"
        );
        assert_eq!(
            v,
            serde_json::json!({
                "time": null,
                "elapsed_s": 2.0,
                "final": true,
                "ports": [
                    {"port": 0, "name": "net_null0", "rx": 10, "tx": 0, "dropped": 0,
                     "rx_mpps": 0.000005, "tx_mpps": 0.0},
                    {"port": 1, "name": "we\"ird\\", "rx": 0, "tx": 8, "dropped": 2,
                     "rx_mpps": 0.0, "tx_mpps": 0.000004},
                ],
                "lcores": [
                    {"lcore": 3, "rx": 10, "tx": 8, "dropped": 2, "busy_cycles": 200,
                     "busy_packets": 10, "cycles_per_packet": 20.0},
                ],
                "mempool_in_use": 77,
                "rss_bytes": 4096,
            })
        );
        // Field order as the lines always had it.
        assert!(
            line.contains("\"elapsed_s\":2.0,\"final\":true,\"ports\":[{\"port\":0,\"name\":\"net_null0\",\"rx\":10,"),
            "{line}"
        );
    }

    #[test]
    fn json_line_rounds_and_writes_null() {
        let mut live = live();
        let start = live.sample();
        bump(&live.stats.lane(lane(0, 1)).unwrap().rx, 1_000_000);
        let mut now = live.sample();
        now.at = start.at + Duration::from_millis(3001);
        now.rss_bytes = None;
        live.record_cycles = false;
        let v = serde_json::to_value(live.json_line(&now, &start, start.at, false)).unwrap();
        assert_eq!(v["elapsed_s"], 3.001);
        assert_eq!(v["ports"][0]["rx_mpps"], 0.333222);
        assert_eq!(v["lcores"][0]["cycles_per_packet"], serde_json::Value::Null);
        assert_eq!(v["rss_bytes"], serde_json::Value::Null);
    }

    #[test]
    fn prometheus_families_and_escaping() {
        let live = live();
        live.set_links(&[
            Some(Link {
                up: true,
                speed_mbps: 10_000,
                full_duplex: true,
            }),
            None,
        ]);
        let text = live.prometheus();
        for line in [
            "# TYPE vnf_fwd_port_rx_packets_total counter",
            "vnf_fwd_up 1",
            "vnf_fwd_port_rx_packets_total{port=\"0\",name=\"net_null0\"} 0",
            "vnf_fwd_port_tx_packets_total{port=\"1\",name=\"we\\\"ird\\\\\"} 0",
            "vnf_fwd_link_up{port=\"0\",name=\"net_null0\"} 1",
            "vnf_fwd_link_up{port=\"1\",name=\"we\\\"ird\\\\\"} 0",
            "vnf_fwd_lcore_busy_cycles_total{lcore=\"3\"} 0",
            "vnf_fwd_mempool_in_use 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
    }
}
