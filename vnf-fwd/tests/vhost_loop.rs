//! The development loop without OVS: dpdk-testpmd with four net_vhost ports
//! is the switch (its paired topology joins 0<->1 and 2<->3), vnf-gen sits on
//! vhost 0 and 2, vnf-fwd on vhost 1 and 3, all over virtio_user. vnf-gen
//! and vnf-fwd share CPU 0, as they do in the benchmarks' OVS topology.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn vnf_fwd_through_a_testpmd_vhost_switch() {
    vhost_loop(&[]);
}

/// Generator and forwarder both yield CPU 0 when idle: every frame still
/// arrives, and the counters agree.
#[test]
fn idle_yield_forwards_every_frame() {
    vhost_loop(&["--idle-yield"]);
}

/// Runs the loop with `extra` added to both vnf-fwd's and vnf-gen's options.
fn vhost_loop(extra: &[&str]) {
    let _lock = dpdk_lock();
    let dir = TempDir::new("vhostloop");
    let switch = vhost::start_loop(&dir, "switch");
    let sock = |n: usize| vhost::socket(&dir, n);

    // Rings as deep as vnf-fwd's: busy pollers sharing CPU 0 wait for the
    // scheduler (milliseconds when other processes want the CPU too), and
    // virtio_user's default 256 slots overflowed meanwhile (up to 482 of
    // 3000 frames lost on a loaded 2-CPU machine).
    let vdev = |n: usize, s: usize| format!("net_virtio_user{n},path={},queue_size=1024", sock(s));
    let fwd_prefix = format!("vnfloop-fwd-{}", std::process::id());
    let vdevs = [vdev(0, 1), vdev(1, 3)];
    let eal = eal_args(&fwd_prefix, "0@0", &vdevs);
    let mut app = vec!["-p", "0x3", "-q", "2", "-T", "0", "--mode", "macswap"];
    app.extend(extra);
    let mut fwd = start_fwd(&dir, "fwd", &fwd_prefix, &eal, &app);

    let gen_vdevs = [vdev(0, 0), vdev(1, 2)];
    let mut gen_args = vec![
        "--rate", "10000pps", "--count", "0:1000", "--count", "1:2000",
    ];
    gen_args.extend(extra);
    let gen = run_gen(&dir, "gen", &gen_vdevs, &gen_args);
    assert_eq!(
        gen,
        [
            GenPort {
                sent: 1000,
                received: 2000,
                lost: 0
            },
            GenPort {
                sent: 2000,
                received: 1000,
                lost: 0
            }
        ],
        "{}",
        fwd.output()
    );
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    assert_eq!(
        final_port_stats(&fwd.out()),
        vec![(0, [2000, 1000, 0]), (1, [1000, 2000, 0])]
    );
    assert_no_leftovers(&fwd_prefix);
    drop(switch);
}
