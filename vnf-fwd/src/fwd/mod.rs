//! The per-lcore poll-mode loop: for each lane of this lcore, rx burst, rewrite,
//! tx burst, free and count the rest. Nothing on this path allocates, locks,
//! logs or makes a system call (`--idle-yield` yields only once idle). Frames
//! that are mbuf chains leave only by ports that can send chains: the others
//! drop them, counted, in the engine's pass over the frames (or, for engines
//! that make none, in `tx_burst`).

pub mod counters;

use crate::dpdk::{rdtsc, Freed, MbufBurst, Pause, RxQueue, TxQueue};
use crate::engine::Engine;
use counters::{bump, LaneCounters, LcoreCounters};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// One forwarding direction as an lcore runs it: frames from `rx`, rewritten
/// by `engine`, out of `tx`. `'p` is the ports' [`Port`](crate::dpdk::Port) lifetime.
pub struct Lane<'a, 'p, E> {
    pub rx: RxQueue<'a, 'p>,
    pub tx: TxQueue<'a, 'p>,
    pub engine: E,
    pub counters: &'a LaneCounters,
}

/// Everything one lcore forwards.
pub struct LcoreWork<'a, 'p, E> {
    pub lanes: Vec<Lane<'a, 'p, E>>,
    pub counters: &'a LcoreCounters,
}

/// Loop iterations between two calls of the main lcore's `tick`: a few µs when
/// idle, about 100 µs at full load; cheaper than reading the TSC every time.
const TICK_EVERY: u32 = 256;

/// Loop iterations in a row in which every lane came back empty before an
/// `idle_yield` lcore gives its CPU away: a few µs, so frames that arrive
/// close together are still forwarded without a system call between them.
const IDLE_BEFORE_YIELD: u32 = 16;

/// How an lcore polls.
#[derive(Debug, Clone, Copy)]
pub struct PollConfig {
    /// Frames per rx burst.
    pub burst: usize,
    /// Add the TSC cycles of each lane poll that received frames to the
    /// lcore's busy counters (one TSC read per poll).
    pub record_cycles: bool,
    /// Once idle, call `sched_yield` every loop iteration, so that processes
    /// sharing this CPU (a generator, another VNF) run at once instead of
    /// waiting for the scheduler to preempt a busy poller. A no-op when
    /// nothing else wants the CPU; never done while frames arrive.
    pub idle_yield: bool,
}

/// What an lcore does every `TICK_EVERY` iterations besides forwarding.
pub enum Duty<'a> {
    /// The main lcore: statistics, link polling, re-attaches.
    Main(&'a mut dyn FnMut()),
    /// A worker: park while the main lcore holds the [`Pause`].
    Worker(&'a Pause),
}

/// Polls the lanes until `stop` is set. Every `TICK_EVERY` iterations the
/// lcore does its `duty`: on the main lcore, statistics and link polling
/// (off the fast path); on a worker, parking while paused.
pub fn poll<E: Engine>(
    work: &mut LcoreWork<'_, '_, E>,
    cfg: PollConfig,
    stop: &AtomicBool,
    mut duty: Duty<'_>,
) {
    let PollConfig {
        burst,
        record_cycles,
        idle_yield,
    } = cfg;
    let mut frames = MbufBurst::new();
    // With record_cycles: the TSC at the end of the previous lane's poll, so
    // each lane's poll is timed with one read (testpmd times each stream's
    // burst the same way, counting only bursts that received frames).
    let mut last = if record_cycles { rdtsc() } else { 0 };
    let mut iterations = 0u32;
    let mut idle = 0u32;
    while !stop.load(Relaxed) {
        let mut received = false;
        for lane in work.lanes.iter_mut() {
            let n = lane.rx.rx_burst(&mut frames, burst);
            if n > 0 {
                received = true;
                let freed = if E::REWRITES {
                    frames.retain_frames(&lane.tx, |frame| lane.engine.rewrite(frame))
                } else {
                    Freed::default()
                };
                let out = lane.tx.tx_burst(&mut frames);
                let c = lane.counters;
                bump(&c.rx, n as u64);
                bump(&c.tx, out.sent as u64);
                let chained = freed.chained + out.chained;
                let dropped = out.queue_full + freed.refused + chained;
                if dropped > 0 {
                    bump(&c.dropped, dropped as u64);
                    bump(&c.malformed, freed.refused as u64);
                    bump(&c.chained, chained as u64);
                }
            }
            if record_cycles {
                let now = rdtsc();
                if n > 0 {
                    bump(&work.counters.busy_cycles, now.wrapping_sub(last));
                    bump(&work.counters.busy_packets, n as u64);
                }
                last = now;
            }
        }
        if idle_yield {
            idle = if received { 0 } else { idle.saturating_add(1) };
            if idle >= IDLE_BEFORE_YIELD {
                std::thread::yield_now();
            }
        }
        iterations = iterations.wrapping_add(1);
        if iterations.is_multiple_of(TICK_EVERY) {
            match &mut duty {
                Duty::Main(tick) => tick(),
                Duty::Worker(pause) => pause.check(stop),
            }
        }
    }
}
