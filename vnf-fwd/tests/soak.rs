//! Soak: vnf-fwd forwarding as fast as the topology allows for
//! `VNF_SOAK_SECS` seconds (60 by default; 600 for the long run), with its
//! `--stats-format json` lines every second: no packet counted twice or lost
//! without a counter saying so, the mempool's in-use count and the process's
//! resident memory flat.
//!
//! Two topologies: net_null (the highest rate, vnf-fwd alone), and the vhost
//! loop, where dpdk-testpmd with net_vhost ports generates (flowgen) and sinks,
//! so every frame is counted by both sides. In both, every 10 s, vnf-fwd's
//! counters (its telemetry command) are held against its devices' own
//! (DPDK's `/ethdev/stats`).

mod common;

use common::stats_lines::{self, StatsLine};
use common::*;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Lines before this many seconds are warm-up (pools and caches filling).
const WARMUP_S: f64 = 5.0;
/// DPDK's per-lcore mempool cache flushes at 1.5 times its size (256 in vnf-fwd).
const CACHE_FLUSH_THRESHOLD: u64 = 384;
/// Resident memory may grow this much over a soak (allocator noise), no more.
const RSS_SLACK_BYTES: u64 = 2 << 20;

fn soak_secs() -> u64 {
    std::env::var("VNF_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// Waits for vnf-fwd's first JSON line; returns when it was seen.
fn wait_first_line(p: &mut Proc) -> Instant {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && p.out().lines().next().is_none() {
        assert!(
            p.wait_timeout(Duration::ZERO).is_none(),
            "vnf-fwd exited\n{}",
            p.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(p.out().lines().next().is_some(), "no JSON\n{}", p.output());
    Instant::now()
}

/// Stops vnf-fwd and returns its lines, checked for consistency on `pairs`.
fn stop_and_parse(mut p: Proc, pairs: &[(u64, u64)]) -> Vec<StatsLine> {
    let st = p.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", p.output());
    let lines = stats_lines::parse(&p.out());
    stats_lines::assert_consistent(&lines, pairs);
    lines
}

/// The flatness checks on the periodic lines from warm-up to `until_s`, and
/// the rate (Mpps received over all ports, in that window) for the log.
/// `ring_mbufs` is how many mbufs the ports' rings may hold on top of the
/// lcore caches and in-flight bursts.
fn assert_flat(tag: &str, lines: &[StatsLine], until_s: f64, ring_mbufs: u64, burst: u64) -> f64 {
    let steady: Vec<&StatsLine> = lines
        .iter()
        .filter(|l| !l.last && l.elapsed_s >= WARMUP_S && l.elapsed_s <= until_s)
        .collect();
    assert!(steady.len() >= 2, "{tag}: too short a soak: {lines:?}");
    let (first, last) = (steady[0], steady[steady.len() - 1]);
    for l in &steady {
        assert!(
            l.ports.iter().any(|p| p.rx_mpps > 0.0),
            "{tag}: forwarding stalled at {l:?}"
        );
    }
    let lanes = first.ports.len() as u64;
    let lcores = first.lcores.len() as u64;
    let slack = lcores * CACHE_FLUSH_THRESHOLD + lanes * burst + ring_mbufs;
    let in_use: Vec<u64> = steady.iter().map(|l| l.mempool_in_use).collect();
    let (lo, hi) = (*in_use.iter().min().unwrap(), *in_use.iter().max().unwrap());
    assert!(
        hi - lo <= slack && last.mempool_in_use <= first.mempool_in_use + slack,
        "{tag}: mbufs leak? in use after warm-up {} .. {}, range {lo}..{hi}, slack {slack}",
        first.mempool_in_use,
        last.mempool_in_use
    );
    let rss_limit = first.rss_bytes + RSS_SLACK_BYTES + first.rss_bytes / 100;
    assert!(
        last.rss_bytes <= rss_limit,
        "{tag}: resident memory grew from {} to {} bytes",
        first.rss_bytes,
        last.rss_bytes
    );
    let rx = |l: &StatsLine| l.ports.iter().map(|p| p.rx).sum::<u64>();
    let secs = last.elapsed_s - first.elapsed_s;
    let mpps = (rx(last) - rx(first)) as f64 / secs / 1e6;
    eprintln!(
        "{tag}: {secs:.0} s steady, {mpps:.2} Mpps received over all ports, mempool in use {lo}..{hi} (first {} last {}), rss {} -> {} bytes",
        first.mempool_in_use, last.mempool_in_use, first.rss_bytes, last.rss_bytes
    );
    mpps
}

/// vnf-fwd's rx burst in these runs, given explicitly: the counters' slack
/// (frames in flight, the device ahead of vnf-fwd) is a burst per lane.
const BURST: u64 = 64;

#[test]
fn soak_net_null() {
    let _lock = dpdk_lock();
    let secs = soak_secs();
    let dir = TempDir::new("soak-null");
    let prefix = format!("vnfsoak-null-{}", std::process::id());
    let vdevs: Vec<String> = (0..2).map(|i| format!("net_null{i},no-rx=0")).collect();
    let mut args = eal_args(&prefix, "0@0,1@1", &vdevs);
    args.extend(strings(&[
        "--",
        "-p",
        "0x3",
        "-T",
        "1",
        "--mode",
        "macswap",
        "--stats-format",
        "json",
    ]));
    args.extend(["--burst".into(), BURST.to_string()]);
    let mut p = Proc::spawn(&dir, "fwd", &vnf_fwd(), &args, Some(&prefix));
    wait_first_line(&mut p);
    soak(&prefix, secs);
    let lines = stop_and_parse(p, &[(0, 1), (1, 0)]);
    // net_null takes every frame: nothing may be dropped.
    let end = lines.last().unwrap();
    assert!(end.ports.iter().all(|p| p.dropped == 0), "{end:?}");
    let mpps = assert_flat("net_null", &lines, f64::INFINITY, 0, BURST);
    assert!(mpps > 1.0, "net_null: only {mpps:.2} Mpps");
    assert_no_leftovers(&prefix);
}

/// Lets vnf-fwd (`prefix`) forward for `secs`, checking its counters against
/// its devices' every 10 s.
fn soak(prefix: &str, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        std::thread::sleep(left.min(Duration::from_secs(10)));
        assert_counts_match_the_device(prefix, BURST);
    }
}

/// vnf-fwd's (rx, tx) per port, from its telemetry command.
fn vnf_fwd_counts(prefix: &str) -> Vec<(u64, u64)> {
    let reply = telemetry(prefix, "/vnf_fwd/stats").expect("vnf-fwd telemetry");
    let v: serde_json::Value = serde_json::from_str(&reply).expect("JSON");
    let array = |k: &str| -> Vec<u64> {
        v["/vnf_fwd/stats"][k]
            .as_array()
            .unwrap_or_else(|| panic!("{k} in {reply}"))
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect()
    };
    array("rx").into_iter().zip(array("tx")).collect()
}

/// While vnf-fwd runs, checks its counters against the devices' own, read
/// between two reads of its counters: the device counts a burst before
/// vnf-fwd does, so `before <= device <= after + burst` for rx and tx, and
/// a frame counted twice would break the first inequality.
fn assert_counts_match_the_device(prefix: &str, burst: u64) {
    let before = vnf_fwd_counts(prefix);
    let device: Vec<(u64, u64)> = (0..before.len() as u16)
        .map(|port| ethdev_packets(prefix, port).expect("ethdev telemetry"))
        .collect();
    let after = vnf_fwd_counts(prefix);
    for (port, ((b, d), a)) in before.iter().zip(&device).zip(&after).enumerate() {
        assert!(
            b.0 <= d.0 && d.0 <= a.0 + burst && b.1 <= d.1 && d.1 <= a.1 + burst,
            "port {port}: vnf-fwd (rx, tx) {b:?} .. {a:?}, the device's {d:?}"
        );
    }
}

#[test]
fn soak_vhost_loop_counted_end_to_end() {
    let _lock = dpdk_lock();
    let secs = soak_secs();
    let dir = TempDir::new("soak-vhost");
    let sock = |n: usize| dir.join(&format!("vhost{n}.sock")).display().to_string();

    // testpmd on CPU 1: interactive, so forwarding starts only once vnf-fwd
    // is attached and stops on command, and the rings can be drained.
    let sw_prefix = format!("vnfsoak-sw-{}", std::process::id());
    let vhost: Vec<String> = (0..2)
        .map(|n| format!("net_vhost{n},iface={}", sock(n)))
        .collect();
    let mut args = eal_args(&sw_prefix, "0@1,1@1", &vhost);
    args.push("--single-file-segments".into());
    args.extend(strings(&[
        "--",
        "-i",
        "--forward-mode=flowgen",
        "--burst=32",
    ]));
    let (program, args) = testpmd_command(&args);
    let mut switch = Proc::spawn_with_stdin(
        &dir,
        "switch",
        &program,
        &args,
        Some(&sw_prefix),
        Stdio::piped(),
    );
    let mut console = switch.child.stdin.take().expect("testpmd stdin");
    // The prompt comes after the ports started.
    assert!(
        switch.wait_for_output("testpmd>", Duration::from_secs(30)),
        "the testpmd generator gave no prompt\n{}",
        switch.output()
    );

    let fwd_prefix = format!("vnfsoak-fwd-{}", std::process::id());
    let vdevs = [
        format!("net_virtio_user0,path={}", sock(0)),
        format!("net_virtio_user1,path={}", sock(1)),
    ];
    let mut args = eal_args(&fwd_prefix, "0@0", &vdevs);
    args.extend(strings(&[
        "--",
        "-p",
        "0x3",
        "-q",
        "2",
        "-T",
        "1",
        "--mode",
        "macswap",
        "--stats-format",
        "json",
    ]));
    args.extend(["--burst".into(), BURST.to_string()]);
    let mut fwd = Proc::spawn(&dir, "fwd", &vnf_fwd(), &args, Some(&fwd_prefix));
    // The first line comes one second after vnf-fwd's clock starts.
    let clock_start = wait_first_line(&mut fwd) - Duration::from_secs(1);

    let mut say = |cmd: &str| {
        writeln!(console, "{cmd}").expect("testpmd command");
        console.flush().unwrap();
    };
    say("start");
    soak(&fwd_prefix, secs);
    // Stop generating; vnf-fwd empties its rx rings into testpmd's; then
    // testpmd receives what is left in them without sending anything.
    let generating_until = clock_start.elapsed().as_secs_f64() - 1.0;
    say("stop");
    std::thread::sleep(Duration::from_secs(1));
    say("set fwd rxonly");
    say("start");
    std::thread::sleep(Duration::from_secs(1));
    say("stop");
    std::thread::sleep(Duration::from_millis(500));
    let (sw_rx0, sw_tx0) = ethdev_packets(&sw_prefix, 0).expect("ethdev telemetry");
    let (sw_rx1, sw_tx1) = ethdev_packets(&sw_prefix, 1).expect("ethdev telemetry");

    let lines = stop_and_parse(fwd, &[(0, 1), (1, 0)]);
    let end = lines.last().unwrap().clone();
    let (p0, p1) = (end.ports[0], end.ports[1]);
    let detail = format!(
        "testpmd port 0 tx {sw_tx0} rx {sw_rx0}, port 1 tx {sw_tx1} rx {sw_rx1}; vnf-fwd {end:?}"
    );
    // What testpmd sent on a port, vnf-fwd received on it, once each.
    assert_eq!((p0.rx, p1.rx), (sw_tx0, sw_tx1), "{detail}");
    // What vnf-fwd sent, testpmd received; what it could not send, it counted.
    assert_eq!((p0.tx, p1.tx), (sw_rx0, sw_rx1), "{detail}");
    assert!(p0.rx > 0 && p1.rx > 0, "{detail}");
    // virtio_user's rings (256 descriptors) hold mbufs: rx rings stay full,
    // tx rings keep sent ones until they are reclaimed.
    let mpps = assert_flat(
        "vhost loop",
        &lines,
        generating_until,
        2 * (256 + 256),
        BURST,
    );
    eprintln!(
        "vhost loop: dropped by vnf-fwd (testpmd's rings full) {} and {}",
        p0.dropped, p1.dropped
    );
    assert!(mpps > 0.1, "vhost loop: only {mpps:.2} Mpps");
    assert_no_leftovers(&fwd_prefix);
    say("quit");
    drop(console);
    let st = switch.wait_timeout(Duration::from_secs(10));
    assert!(st.is_some(), "testpmd did not quit\n{}", switch.output());
}
