//! Statistics for machines: JSON lines (`--stats-format json`), Prometheus text
//! format over HTTP (`--metrics-addr`) and the values of the DPDK telemetry
//! command. All of them read the per-lcore counters with Relaxed loads and the
//! gauges the main lcore publishes; none of them touches the fast path.

mod http;

pub use http::{bind, Error, Listener, MetricsServer};

use crate::dpdk::Link;
use crate::stats::Stats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

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

/// One `--stats-format json` line (serialised without its newline).
#[derive(Debug, Serialize)]
pub struct JsonLine<'a> {
    pub time: String,
    pub elapsed_s: f64,
    #[serde(rename = "final")]
    pub last: bool,
    pub ports: Vec<JsonPort<'a>>,
    pub lcores: Vec<JsonLcore>,
    pub mempool_in_use: u64,
    pub rss_bytes: Option<u64>,
}

/// A port of a JSON line: totals, and rates since the previous line.
#[derive(Debug, Serialize)]
pub struct JsonPort<'a> {
    pub port: u16,
    pub name: &'a str,
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub rx_mpps: f64,
    pub tx_mpps: f64,
}

/// An lcore of a JSON line.
#[derive(Debug, Serialize)]
pub struct JsonLcore {
    pub lcore: u32,
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub busy_cycles: u64,
    pub busy_packets: u64,
    pub cycles_per_packet: Option<f64>,
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

    /// One JSON line's object: `now` with rates over the time since `prev`,
    /// `elapsed` seconds after `start`.
    pub fn json_line(
        &self,
        now: &Sample,
        prev: &Sample,
        start: Instant,
        last: bool,
    ) -> JsonLine<'_> {
        let secs = now.at.saturating_duration_since(prev.at).as_secs_f64();
        let mpps = |new: u64, old: u64| {
            if secs > 0.0 {
                round(new.saturating_sub(old) as f64 / secs / 1e6, 6)
            } else {
                0.0
            }
        };
        JsonLine {
            time: crate::logging::timestamp(),
            elapsed_s: round(now.at.saturating_duration_since(start).as_secs_f64(), 3),
            last,
            ports: now
                .ports
                .iter()
                .zip(&self.port_names)
                .enumerate()
                .map(|(i, (p, name))| {
                    let old = prev.ports.get(i).copied().unwrap_or_default();
                    JsonPort {
                        port: p.port,
                        name,
                        rx: p.rx,
                        tx: p.tx,
                        dropped: p.dropped,
                        rx_mpps: mpps(p.rx, old.rx),
                        tx_mpps: mpps(p.tx, old.tx),
                    }
                })
                .collect(),
            lcores: now
                .lcores
                .iter()
                .map(|l| JsonLcore {
                    lcore: l.lcore,
                    rx: l.rx,
                    tx: l.tx,
                    dropped: l.dropped,
                    busy_cycles: l.busy_cycles,
                    busy_packets: l.busy_packets,
                    cycles_per_packet: self.cycles_per_packet(l).map(|c| round(c, 2)),
                })
                .collect(),
            mempool_in_use: now.mempool_in_use,
            rss_bytes: now.rss_bytes,
        }
    }

    /// Busy cycles per packet, when they are counted and there were packets.
    fn cycles_per_packet(&self, l: &LcoreSample) -> Option<f64> {
        (self.record_cycles && l.busy_packets > 0)
            .then(|| l.busy_cycles as f64 / l.busy_packets as f64)
    }

    /// The Prometheus text exposition (format 0.0.4) of a fresh sample.
    pub fn prometheus(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            sample: self.sample(),
            names: self.port_names.clone(),
            link_up: self.link_up.iter().map(|l| l.load(Relaxed)).collect(),
            forwarding: self.forwarding.load(Relaxed),
        }));
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail, and neither can Scrape::encode.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }

    /// The telemetry command's reply: arrays in `stats.ports` and
    /// `stats.lcores` order (DPDK 22.11 nests only arrays in a reply).
    pub fn telemetry(&self) -> Vec<(&'static str, crate::dpdk::TelemetryValue)> {
        use crate::dpdk::TelemetryValue::{Str, StrArray, U64Array, U64};
        let s = self.sample();
        let ports = |f: fn(&PortSample) -> u64| U64Array(s.ports.iter().map(f).collect());
        let lcores = |f: fn(&LcoreSample) -> u64| U64Array(s.lcores.iter().map(f).collect());
        vec![
            ("forwarding", U64(u64::from(self.forwarding.load(Relaxed)))),
            ("healthy", U64(u64::from(self.healthy()))),
            ("ports", ports(|p| u64::from(p.port))),
            ("port_names", StrArray(self.port_names.clone())),
            ("rx", ports(|p| p.rx)),
            ("tx", ports(|p| p.tx)),
            ("dropped", ports(|p| p.dropped)),
            (
                "link_up",
                U64Array(
                    self.link_up
                        .iter()
                        .map(|l| u64::from(l.load(Relaxed)))
                        .collect(),
                ),
            ),
            ("lcores", lcores(|l| u64::from(l.lcore))),
            ("lcore_rx", lcores(|l| l.rx)),
            ("lcore_tx", lcores(|l| l.tx)),
            ("lcore_dropped", lcores(|l| l.dropped)),
            ("lcore_busy_cycles", lcores(|l| l.busy_cycles)),
            ("lcore_busy_packets", lcores(|l| l.busy_packets)),
            ("mempool_in_use", U64(s.mempool_in_use)),
            ("rss_bytes", U64(s.rss_bytes.unwrap_or(0))),
            ("version", Str(env!("CARGO_PKG_VERSION").to_owned())),
        ]
    }
}

/// The JSON lines printer: the first sample and the previous one, for rates.
pub struct JsonLines {
    out: Box<dyn Write + Send>,
    start: Instant,
    prev: Sample,
}

impl JsonLines {
    /// Starts counting time and rates now; lines go to `out`.
    pub fn new(live: &Live, out: Box<dyn Write + Send>) -> Self {
        let prev = live.sample();
        JsonLines {
            out,
            start: prev.at,
            prev,
        }
    }

    /// Writes one line; `last` marks the final one at exit.
    pub fn emit(&mut self, live: &Live, last: bool) {
        let now = live.sample();
        let mut line = Vec::with_capacity(1024);
        // Serialising plain structs into a Vec cannot fail.
        if serde_json::to_writer(
            &mut line,
            &live.json_line(&now, &self.prev, self.start, last),
        )
        .is_ok()
        {
            line.push(b'\n');
            // One write per line, so a reader never sees half of one. A
            // reader that went away costs its lines, not the forwarding.
            let _ = self.out.write_all(&line);
            let _ = self.out.flush();
        }
        self.prev = now;
    }
}

/// `x` rounded to `decimals` decimal places, as the lines always printed it.
fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// The process's resident memory (`VmRSS`, the same figure as statm's
/// resident pages times the page size).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One scrape's values, encoded by prometheus-client.
#[derive(Debug)]
struct Scrape {
    sample: Sample,
    names: Vec<String>,
    link_up: Vec<bool>,
    forwarding: bool,
}

/// The labels of a port's series: `{port="0",name="net_null0"}`.
type PortLabels<'a> = [(&'static str, Cow<'a, str>); 2];

impl Scrape {
    fn port_labels(&self, i: usize, port: u16) -> PortLabels<'_> {
        let name = self.names.get(i).map_or("", String::as_str);
        [
            ("port", Cow::Owned(port.to_string())),
            ("name", Cow::Borrowed(name)),
        ]
    }

    /// A counter family with one series per port.
    fn per_port(
        &self,
        enc: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: fn(&PortSample) -> u64,
    ) -> fmt::Result {
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (i, p) in self.sample.ports.iter().enumerate() {
            ConstCounter::new(value(p))
                .encode(family.encode_family(&self.port_labels(i, p.port))?)?;
        }
        Ok(())
    }

    /// A counter family with one series per lcore.
    fn per_lcore(
        &self,
        enc: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: fn(&LcoreSample) -> u64,
    ) -> fmt::Result {
        let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for l in &self.sample.lcores {
            let labels = [("lcore", l.lcore.to_string())];
            ConstCounter::new(value(l)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A gauge without labels.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(enc.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for Scrape {
    // Counters are named without `_total`: the encoder appends it.
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        gauge(&mut enc, "vnf_fwd_up", "1 while vnf-fwd runs.", 1)?;
        gauge(
            &mut enc,
            "vnf_fwd_forwarding",
            "1 while the lcores forward.",
            u64::from(self.forwarding),
        )?;
        self.per_port(
            &mut enc,
            "vnf_fwd_port_rx_packets",
            "Frames received on the port.",
            |p| p.rx,
        )?;
        self.per_port(
            &mut enc,
            "vnf_fwd_port_tx_packets",
            "Frames sent on the port.",
            |p| p.tx,
        )?;
        self.per_port(
            &mut enc,
            "vnf_fwd_port_dropped_packets",
            "Frames dropped on their way out of the port (tx queue full, or too short to rewrite).",
            |p| p.dropped,
        )?;
        let mut links = enc.encode_descriptor(
            "vnf_fwd_link_up",
            "1 when the port's link is up (polled every 250 ms).",
            None,
            MetricType::Gauge,
        )?;
        for (i, p) in self.sample.ports.iter().enumerate() {
            let up = self.link_up.get(i).copied().unwrap_or(false);
            ConstGauge::new(u64::from(up))
                .encode(links.encode_family(&self.port_labels(i, p.port))?)?;
        }
        self.per_lcore(
            &mut enc,
            "vnf_fwd_lcore_rx_packets",
            "Frames the lcore received.",
            |l| l.rx,
        )?;
        self.per_lcore(
            &mut enc,
            "vnf_fwd_lcore_busy_cycles",
            "TSC cycles of the lcore's polls that received frames (0 without --record-core-cycles).",
            |l| l.busy_cycles,
        )?;
        self.per_lcore(
            &mut enc,
            "vnf_fwd_lcore_busy_packets",
            "Frames received in those polls (0 without --record-core-cycles).",
            |l| l.busy_packets,
        )?;
        gauge(
            &mut enc,
            "vnf_fwd_mempool_in_use",
            "Mbufs out of the pool: in rings, bursts and per-lcore caches.",
            self.sample.mempool_in_use,
        )?;
        if let Some(rss) = self.sample.rss_bytes {
            gauge(
                &mut enc,
                "process_resident_memory_bytes",
                "Resident memory of the process.",
                rss,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{LanePlan, LcorePlan, PortPair};
    use crate::stats::bump;
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
