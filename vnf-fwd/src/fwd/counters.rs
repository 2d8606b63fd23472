//! Per-lane and per-lcore counters, written by the lcore that forwards and
//! read by the main lcore (their text, JSON and Prometheus forms are in
//! [`report`](crate::report)).

use crate::plan::{LanePlan, LcorePlan};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds to a counter that has a single writer: a plain load and store, no
/// locked read-modify-write on the fast path.
#[inline(always)]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Counters of one lane (rx queue to tx queue). Cache-line aligned so that two
/// lcores never write the same line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct LaneCounters {
    /// Frames received on the rx queue.
    pub rx: AtomicU64,
    /// Frames the tx queue accepted.
    pub tx: AtomicU64,
    /// Frames freed instead of sent: refused by the tx queue (queue full),
    /// plus the `malformed` and `chained` ones below.
    pub dropped: AtomicU64,
    /// Frames too short for the engine's headers, freed (also in `dropped`).
    pub malformed: AtomicU64,
    /// Frames that arrived as mbuf chains, freed because the tx port cannot
    /// send chains (also in `dropped`).
    pub chained: AtomicU64,
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
    /// One entry per lane: the lcore that polls it, its queues, its counters.
    pub lanes: Vec<(u32, LanePlan, LaneCounters)>,
    /// One entry per forwarding lcore.
    pub lcores: Vec<(u32, LcoreCounters)>,
}

/// Sums for one port, as l2fwd reports them: received on it, sent on it, and
/// dropped on its way out of it, over all its queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortTotals {
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub malformed: u64,
    pub chained: u64,
}

/// The same sums over the lanes of one lcore.
pub type LcoreTotals = PortTotals;

impl Stats {
    /// Zeroed counters for the lanes and lcores of `plan`.
    pub fn new(plan: &[LcorePlan]) -> Self {
        let mut ports: Vec<u16> = plan
            .iter()
            .flat_map(|l| &l.lanes)
            .flat_map(|lane| [lane.pair.rx, lane.pair.tx])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        Stats {
            ports,
            lanes: plan
                .iter()
                .flat_map(|l| {
                    l.lanes
                        .iter()
                        .map(|&lane| (l.lcore, lane, LaneCounters::default()))
                })
                .collect(),
            lcores: plan
                .iter()
                .map(|l| (l.lcore, LcoreCounters::default()))
                .collect(),
        }
    }

    /// The counters of `lane`.
    pub fn lane(&self, lane: LanePlan) -> Option<&LaneCounters> {
        self.lanes
            .iter()
            .find(|(_, l, _)| *l == lane)
            .map(|(_, _, c)| c)
    }

    /// The counters of `lcore`.
    pub fn lcore(&self, lcore: u32) -> Option<&LcoreCounters> {
        self.lcores
            .iter()
            .find(|(l, _)| *l == lcore)
            .map(|(_, c)| c)
    }

    /// Totals of `port`, over all its queues.
    pub fn port(&self, port: u16) -> PortTotals {
        let mut t = PortTotals::default();
        for (_, lane, c) in &self.lanes {
            if lane.pair.rx == port {
                t.rx += c.rx.load(Relaxed);
            }
            if lane.pair.tx == port {
                t.tx += c.tx.load(Relaxed);
                t.dropped += c.dropped.load(Relaxed);
                t.malformed += c.malformed.load(Relaxed);
                t.chained += c.chained.load(Relaxed);
            }
        }
        t
    }

    /// Totals of the lanes `lcore` polls.
    pub fn lcore_totals(&self, lcore: u32) -> LcoreTotals {
        let mut t = LcoreTotals::default();
        for (_, _, c) in self.lanes.iter().filter(|(l, _, _)| *l == lcore) {
            t.rx += c.rx.load(Relaxed);
            t.tx += c.tx.load(Relaxed);
            t.dropped += c.dropped.load(Relaxed);
            t.malformed += c.malformed.load(Relaxed);
            t.chained += c.chained.load(Relaxed);
        }
        t
    }

    /// Whether some port has more than one rx or tx queue in use.
    pub fn multiqueue(&self) -> bool {
        self.lanes
            .iter()
            .any(|(_, lane, _)| lane.rx_queue > 0 || lane.tx_queue > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<LaneCounters>(), 64);
        assert_eq!(std::mem::align_of::<LcoreCounters>(), 64);
    }
}
