//! The Prometheus text exposition (format 0.0.4), encoded by prometheus-client.

use super::{LcoreSample, Live, PortSample, Sample};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

impl Live {
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
            &format!(
                "1 when the port's link is up (polled every {} ms).",
                super::LINK_POLL_MS
            ),
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
