//! The values of the DPDK telemetry command (`/vnf_fwd/stats`).

use super::{LcoreSample, Live, PortSample};
use crate::dpdk::TelemetryValue;
use std::sync::atomic::Ordering::Relaxed;

impl Live {
    /// The telemetry command's reply: arrays in `stats.ports` and
    /// `stats.lcores` order (DPDK 22.11 nests only arrays in a reply).
    pub fn telemetry(&self) -> Vec<(&'static str, TelemetryValue)> {
        use TelemetryValue::{Str, StrArray, U64Array, U64};
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
