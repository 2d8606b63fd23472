//! Bad command lines: one clear error line, a non-zero exit, no panic, and
//! nothing left behind.

mod common;

use common::*;
use std::time::Duration;

/// Runs vnf-fwd to completion; returns (exit code, stderr's last line, stdout).
fn run_vnf(tag: &str, eal: &[&str], app: &[&str]) -> (i32, String, String) {
    let dir = TempDir::new(tag);
    let prefix = format!("vnfbad-{tag}-{}", std::process::id());
    let mut args = strings(&[
        "--in-memory",
        "--no-pci",
        "--file-prefix",
        &prefix,
        "--lcores",
        "0@0,1@1",
    ]);
    args.extend(strings(eal));
    args.push("--".into());
    args.extend(strings(app));
    let mut p = Proc::spawn(&dir, tag, &vnf_fwd(), &args, Some(&prefix));
    let status = p
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{tag}: still running\n{}", p.output()));
    let err = p.err();
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{tag}: {err}"
    );
    let last = err.lines().last().unwrap_or_default().to_string();
    let out = p.out();
    // Checked before `p` is dropped: dropping it would clean up for us.
    assert_no_leftovers(&prefix);
    drop(p);
    (status.code().unwrap_or(-1), last, out)
}

const TWO_NULL: [&str; 4] = ["--vdev", "net_null0", "--vdev", "net_null1"];

fn expect_error(tag: &str, eal: &[&str], app: &[&str], words: &[&str]) {
    let (code, last, _) = run_vnf(tag, eal, app);
    assert_ne!(code, 0, "{tag}: exit code 0");
    assert!(
        last.starts_with("vnf-fwd: error: "),
        "{tag}: last stderr line: {last}"
    );
    for w in words {
        assert!(last.contains(w), "{tag}: '{w}' not in: {last}");
    }
}

#[test]
fn option_errors_before_eal() {
    // No DPDK lock needed: these fail before the EAL starts.
    for (tag, app, words) in [
        ("portmask", &["-p", "xyz"][..], &["portmask", "xyz"][..]),
        ("portmask0", &["-p", "0"], &["portmask"]),
        ("q0", &["-p", "3", "-q", "0"], &["0"]),
        ("mode", &["-p", "3", "--mode", "bogus"], &["bogus"]),
        ("flag", &["-p", "3", "--bogus-flag"], &["--bogus-flag"]),
        ("portmap", &["-p", "3", "--portmap", "(0,1"], &["portmap"]),
        ("rxq0", &["-p", "3", "--rxq", "0"], &["--rxq", "'0'"]),
        (
            "txq",
            &["-p", "3", "--txq", "1025"],
            &["--txq", "1 to 1024"],
        ),
        ("nop", &[], &["-p"]),
    ] {
        let (code, last, _) = run_vnf(tag, &TWO_NULL, app);
        assert_ne!(code, 0, "{tag}");
        assert!(last.starts_with("vnf-fwd: error: "), "{tag}: {last}");
        for w in words {
            assert!(last.contains(w), "{tag}: '{w}' not in: {last}");
        }
    }
}

#[test]
fn port_not_present() {
    let _lock = dpdk_lock();
    expect_error("absent", &TWO_NULL, &["-p", "0x4"], &["port"]);
}

#[test]
fn portmap_port_not_enabled() {
    let _lock = dpdk_lock();
    expect_error(
        "notenabled",
        &TWO_NULL,
        &["-p", "0x1", "--portmap", "(0,1)"],
        &["port 1"],
    );
}

#[test]
fn queue_plans_the_ports_cannot_take() {
    let _lock = dpdk_lock();
    // Each rx queue's lane needs a tx queue of its own on the destination port.
    expect_error(
        "txqfew",
        &TWO_NULL,
        &["-p", "0x3", "-q", "4", "--rxq", "2"],
        &["--txq 1 is too few", "set --txq 2"],
    );
    // Four (port, queue) units at one per lcore need four lcores.
    expect_error(
        "mqlcores",
        &TWO_NULL,
        &["-p", "0x3", "--rxq", "2", "--txq", "2"],
        &[
            "not enough lcores",
            "2 ports x 2 rx queues",
            "need 4 lcores",
        ],
    );
    // A net_ring port has at most 16 queues each way.
    expect_error(
        "ringmax",
        &["--vdev", "net_ring0"],
        &["-p", "0x1", "-q", "15", "--rxq", "17", "--txq", "17"],
        &["port 0", "17 rx queues requested", "at most 16"],
    );
}

#[test]
fn no_ports() {
    let _lock = dpdk_lock();
    expect_error("noports", &[], &["-p", "0x1"], &["port"]);
}

#[test]
fn eal_init_failure() {
    let _lock = dpdk_lock();
    expect_error("eal", &["--bogus-eal-option"], &["-p", "0x3"], &["EAL"]);
}

#[test]
fn bad_metrics_addr_before_eal() {
    // Refused by the option parser, before the EAL starts.
    for (tag, addr) in [("maddr-host", "localhost:9100"), ("maddr-port", "70000")] {
        let (code, last, _) = run_vnf(tag, &TWO_NULL, &["-p", "3", "--metrics-addr", addr]);
        assert_ne!(code, 0, "{tag}");
        assert!(last.starts_with("vnf-fwd: error: "), "{tag}: {last}");
        assert!(
            last.contains(addr) && last.contains("ADDR:PORT"),
            "{tag}: {last}"
        );
    }
}

#[test]
fn metrics_addr_in_use() {
    let _lock = dpdk_lock();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, last, out) = run_vnf(
        "maddr-inuse",
        &TWO_NULL,
        &["-p", "3", "--metrics-addr", &port],
    );
    assert_ne!(code, 0);
    assert!(
        last.starts_with("vnf-fwd: error: --metrics-addr 127.0.0.1:"),
        "{last}"
    );
    assert!(last.contains("in use"), "{last}");
    // Bound before the EAL: no port was set up.
    assert!(!out.contains("Initializing port"), "{out}");
}

#[test]
fn help_exits_zero() {
    let (code, _, out) = run_vnf("help", &TWO_NULL, &["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("PORTMASK") || out.contains("portmask"),
        "{out}"
    );
}
