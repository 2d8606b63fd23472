//! vnf-fwd on net_null vdevs: it forwards, its counters move, and SIGTERM
//! ends it cleanly within a second, leaving nothing behind.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn forwards_and_exits_cleanly_on_sigterm() {
    let _lock = dpdk_lock();
    let out = forward_for(
        "smoke",
        "0@0,1@1",
        2,
        &[
            "-p",
            "0x3",
            "-T",
            "1",
            "--mode",
            "macswap",
            "--record-core-cycles",
        ],
        2,
    );
    let stats = final_port_stats(&out);
    assert_eq!(stats.len(), 2);
    for (port, [sent, received, _dropped]) in &stats {
        assert!(
            *received > 1000,
            "port {port} received only {received}\n{out}"
        );
        assert!(*sent > 1000, "port {port} sent only {sent}\n{out}");
    }
    // l2fwd's periodic block appears while running (-T 1), not only at exit.
    assert!(out.matches("Port statistics ====").count() >= 2, "{out}");
    assert!(
        !out.contains("\x1b[2J"),
        "cleared the screen on a non-terminal"
    );
    assert!(out.contains("busy cycles/packet"), "{out}");
}

#[test]
fn every_mode_forwards() {
    let _lock = dpdk_lock();
    for mode in ["l2fwd", "macswap", "io", "5tswap"] {
        let out = forward_for(
            &format!("mode-{mode}"),
            "0@0",
            2,
            &["-p", "3", "-q", "2", "-T", "0", "--mode", mode],
            1,
        );
        let stats = final_port_stats(&out);
        assert!(
            stats.iter().all(|(_, s)| s[0] > 0 && s[1] > 0),
            "{mode}: {out}"
        );
    }
}

#[test]
fn odd_port_count_forwards_to_itself() {
    let _lock = dpdk_lock();
    let out = forward_for("odd", "0@0,1@1", 3, &["-p", "0x7", "-q", "2", "-T", "0"], 1);
    assert!(
        out.contains("Notice: odd number of ports in portmask."),
        "{out}"
    );
    assert!(out.contains("RX port 2 TX port 2"), "{out}");
    let stats = final_port_stats(&out);
    assert_eq!(stats.len(), 3);
    assert!(stats.iter().all(|(_, s)| s[0] > 0 && s[1] > 0), "{out}");
}

#[test]
fn portmap_and_writeup_style_eal_options() {
    let _lock = dpdk_lock();
    // The write-up's style: -c coremask, -n channels; --portmap crossing 4 ports.
    let dir = TempDir::new("portmap");
    let prefix = format!("vnfnull-portmap-{}", std::process::id());
    let mut args = strings(&[
        "-c",
        "0x3",
        "-n",
        "1",
        "--in-memory",
        "--no-pci",
        "--file-prefix",
        &prefix,
    ]);
    for v in null_vdevs(4) {
        args.extend(["--vdev".to_string(), v]);
    }
    args.extend(strings(&[
        "--",
        "-p",
        "0xf",
        "-q",
        "2",
        "-T",
        "0",
        "--portmap",
        "(0,3)(1,2)",
    ]));
    let mut p = Proc::spawn(&dir, "portmap", &vnf_fwd(), &args, Some(&prefix));
    assert!(
        p.wait_for_output("entering main loop", Duration::from_secs(20)),
        "{}",
        p.output()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        p.terminate(Duration::from_secs(5))
            .is_some_and(|s| s.success()),
        "{}",
        p.output()
    );
    let out = p.out();
    for line in [
        "RX port 0 TX port 3",
        "RX port 3 TX port 0",
        "RX port 1 TX port 2",
        "RX port 2 TX port 1",
    ] {
        assert!(out.contains(line), "missing '{line}'\n{out}");
    }
    // Checked before `p` is dropped: dropping it would clean up for us.
    assert_no_leftovers(&prefix);
    drop(p);
}

#[test]
fn sigint_stops_like_sigterm() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("sigint");
    let prefix = format!("vnfnull-sigint-{}", std::process::id());
    let mut args = eal_args(&prefix, "0@0", &null_vdevs(2));
    args.extend(strings(&["--", "-p", "0x3", "-q", "2", "-T", "0"]));
    let mut p = Proc::spawn(&dir, "sigint", &vnf_fwd(), &args, Some(&prefix));
    assert!(
        p.wait_for_output("entering main loop", Duration::from_secs(20)),
        "{}",
        p.output()
    );
    p.signal(libc::SIGINT);
    let st = p.wait_timeout(Duration::from_secs(1));
    assert!(
        st.is_some_and(|s| s.success()),
        "no clean exit within 1 s of SIGINT\n{}",
        p.output()
    );
    assert!(p.out().contains("Final statistics"), "{}", p.out());
    assert_no_leftovers(&prefix);
}
