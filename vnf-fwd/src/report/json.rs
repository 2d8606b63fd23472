//! `--stats-format json`: one JSON object per line, serialised by serde.

use super::{LcoreSample, Live, Sample};
use serde::Serialize;
use std::io::Write;
use std::time::Instant;

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
