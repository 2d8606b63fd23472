//! vnf-gen reads what users type: `[PORT:]` options where six groups are
//! always a MAC and a port prefix needs the seventh, bounded durations, one
//! error line for what it cannot read, and its own name in its notices.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn vnf_gen() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vnf-gen"))
}

/// Runs vnf-gen with `eal` and `app` (after `--`) to completion; returns
/// (exit code, stdout, stderr) after checking for panics and leftovers.
fn run(tag: &str, dir: &TempDir, eal: &[String], app: &[&str]) -> (i32, String, String) {
    let prefix = format!("vnfgenopt-{tag}-{}", std::process::id());
    let mut args = eal_args(&prefix, "0@0", &[]);
    args.extend_from_slice(eal);
    args.push("--".into());
    args.extend(strings(app));
    let mut p = Proc::spawn(dir, tag, &vnf_gen(), &args, Some(&prefix));
    let status = p
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{tag}: still running\n{}", p.output()));
    let (out, err) = (p.out(), p.err());
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{tag}: {err}"
    );
    // Checked before `p` is dropped: dropping it would clean up for us.
    assert_no_leftovers(&prefix);
    drop(p);
    (status.code().unwrap_or(-1), out, err)
}

/// Two net_pcap ports that receive nothing and write what is sent to
/// `tx0.pcap` and `tx1.pcap` in `dir`.
fn pcap_ports(dir: &TempDir) -> Vec<String> {
    pcap::write(&dir.join("empty.pcap"), &[]);
    let mut eal = Vec::new();
    for n in 0..2 {
        eal.push("--vdev".to_string());
        eal.push(format!(
            "net_pcap{n},rx_pcap={},tx_pcap={}",
            dir.join("empty.pcap").display(),
            dir.join(&format!("tx{n}.pcap")).display()
        ));
    }
    eal
}

#[test]
fn unreadable_values_are_one_line_before_eal() {
    // No DPDK lock needed: these fail before the EAL starts.
    let dir = TempDir::new("genopt-bad");
    for (tag, app, words) in [
        // Five groups: neither a MAC nor PORT:MAC (once read as port 0).
        (
            "mac5",
            &["--dst-mac", "00:00:00:00:01"][..],
            &["--dst-mac", "'00:00:00:00:01'", "PORT:MAC"][..],
        ),
        (
            "mac8",
            &["--src-mac", "1:2:00:00:00:00:00:01"],
            &["--src-mac", "PORT:MAC"],
        ),
        ("count", &["--count", "0:many"], &["--count", "PORT:N"]),
        ("countneg", &["--count", "-5"], &["'-5'"]),
        ("rate0", &["--rate", "1:0"], &["--rate", "PORT:RATE"]),
        ("ip", &["--dst-ip", "198.19.0"], &["--dst-ip", "PORT:IP"]),
        (
            "duration",
            &["--duration", "1e300"],
            &["--duration", "a year"],
        ),
        ("durationinf", &["--duration", "inf"], &["--duration"]),
        (
            "drain",
            &["--drain-ms", "18446744073709551615"],
            &["--drain-ms", "3600000"],
        ),
        (
            "drainbig",
            &["--drain-ms", "99999999999999999999999"],
            &["--drain-ms"],
        ),
    ] {
        let (code, out, err) = run(tag, &dir, &[], app);
        assert_eq!(code, 1, "{tag}\n{out}{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{tag}: not one line:\n{err}");
        assert!(lines[0].starts_with("vnf-gen: error: "), "{tag}: {err}");
        for w in words {
            assert!(lines[0].contains(w), "{tag}: '{w}' not in: {err}");
        }
        assert!(!out.contains("EAL"), "{tag}: the EAL started\n{out}");
    }
}

#[test]
fn six_groups_are_a_mac_for_every_port_and_seven_one_ports() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("genopt-mac");
    let eal = pcap_ports(&dir);
    // 02:00:00:00:00:01 was once read as "port 2" and ignored on two ports;
    // 00:00:00:00:00:01 as "port 0" with a five-group MAC, an error.
    for (mac, want) in [
        ("02:00:00:00:00:09", [2, 0, 0, 0, 0, 9]),
        ("00:00:00:00:00:01", [0, 0, 0, 0, 0, 1]),
    ] {
        let (code, out, err) = run(
            "mac6",
            &dir,
            &eal,
            &["--count", "5", "--rate", "1000pps", "--dst-mac", mac],
        );
        assert_eq!(code, 0, "{mac}\n{out}{err}");
        for n in 0..2 {
            let frames = pcap::read(&dir.join(&format!("tx{n}.pcap")));
            assert_eq!(frames.len(), 5, "{mac}: port {n}");
            assert!(
                frames.iter().all(|f| f[..6] == want),
                "{mac}: port {n} sent to another MAC"
            );
        }
    }
    // With the seventh group the first is the port: port 1 only. Port 0
    // keeps its default, 02:00:00:00:00:<0 xor 1>.
    let (code, out, err) = run(
        "mac7",
        &dir,
        &eal,
        &[
            "--count",
            "5",
            "--count",
            "1:3",
            "--rate",
            "1000pps",
            "--dst-mac",
            "1:02:00:00:00:00:09",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    for (n, count, mac) in [(0, 5, [2, 0, 0, 0, 0, 1]), (1, 3, [2, 0, 0, 0, 0, 9])] {
        let frames = pcap::read(&dir.join(&format!("tx{n}.pcap")));
        assert_eq!(frames.len(), count, "port {n}");
        assert!(frames.iter().all(|f| f[..6] == mac), "port {n}");
    }
}

#[test]
fn a_port_prefix_for_a_port_not_in_use_is_an_error() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("genopt-port");
    let eal = pcap_ports(&dir);
    for (tag, app, option) in [
        ("count2", &["--count", "2:10"][..], "--count names port 2"),
        (
            "mask",
            &["-p", "0x1", "--dst-mac", "1:02:00:00:00:00:01"],
            "--dst-mac names port 1",
        ),
    ] {
        let (code, out, err) = run(tag, &dir, &eal, app);
        assert_eq!(code, 1, "{tag}\n{out}{err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("vnf-gen: error: ") && last.contains(option),
            "{tag}: {last}"
        );
    }
}

#[test]
fn help_without_separator_names_vnf_gen() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("genopt-help");
    // `--help` before any `--` is the EAL's: its usage, after our notices.
    let prefix = format!("vnfgenopt-help-{}", std::process::id());
    let args = strings(&["--file-prefix", &prefix, "--help"]);
    let mut p = Proc::spawn(&dir, "help", &vnf_gen(), &args, Some(&prefix));
    let status = p
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running\n{}", p.output()));
    assert!(status.success(), "{}", p.output());
    let out = p.out();
    assert!(out.contains("vnf-gen: adding --huge-unlink"), "{out}");
    assert!(out.contains("EAL common options"), "{out}");
    assert!(
        !p.output().lines().any(|l| l.starts_with("vnf-fwd")),
        "{}",
        p.output()
    );
    assert_no_leftovers(&prefix);
}
