//! Golden tests on net_pcap: the same input through vnf-fwd and through DPDK's
//! own l2fwd / dpdk-testpmd must give the same bytes out, and every frame is
//! also checked field by field.

mod common;

use common::frames::{golden_input, is_complete};
use common::*;
use std::path::Path;

/// MACs DPDK's net_pcap gives its ports (02:70:63:61:70:<port>).
const PCAP_MAC: [[u8; 6]; 2] = [
    [0x02, 0x70, 0x63, 0x61, 0x70, 0x00],
    [0x02, 0x70, 0x63, 0x61, 0x70, 0x01],
];

struct Outcome {
    out: [Vec<Vec<u8>>; 2],
    stdout: String,
}

/// Runs `program` with two pcap ports reading `in0/in1` and writing
/// `<tag>-out0/1`, stops it with SIGTERM once the input is received.
fn run(dir: &TempDir, tag: &str, program: &Path, app: &[&str]) -> Outcome {
    let prefix = format!("vnfgold-{tag}-{}", std::process::id());
    let vdevs: Vec<String> = (0..2)
        .map(|i| {
            format!(
                "net_pcap{i},rx_pcap={},tx_pcap={}",
                dir.join(&format!("in{i}.pcap")).display(),
                dir.join(&format!("{tag}-out{i}.pcap")).display()
            )
        })
        .collect();
    let mut args = eal_args(&prefix, "0@0,1@1", &vdevs);
    args.push("--".into());
    args.extend(strings(app));
    let p = Proc::spawn(dir, tag, program, &args, Some(&prefix));
    let frames = [0, 1].map(|i| pcap::read(&dir.join(&format!("in{i}.pcap"))).len());
    let p = run_until_consumed(p, &prefix, &frames);
    let out = [0, 1].map(|i| pcap::read(&dir.join(&format!("{tag}-out{i}.pcap"))));
    let stdout = p.out();
    // DPDK's own apps leave their runtime directory (Proc cleans it on drop);
    // vnf-fwd must not.
    if program == vnf_fwd() {
        assert_no_leftovers(&prefix);
    }
    Outcome { out, stdout }
}

fn inputs(dir: &TempDir) -> [Vec<Vec<u8>>; 2] {
    let inputs = [golden_input(0xa0), golden_input(0xa1)];
    for (i, frames) in inputs.iter().enumerate() {
        pcap::write(&dir.join(&format!("in{i}.pcap")), frames);
    }
    inputs
}

fn not_runts(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames.iter().filter(|f| f.len() >= 14).cloned().collect()
}

fn complete(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames.iter().filter(|f| is_complete(f)).cloned().collect()
}

/// vnf-fwd's final counters: port p received all its input and sent what the
/// other port received, less the runts the mode drops.
fn assert_counters(stdout: &str, inputs: &[Vec<Vec<u8>>; 2], runts_dropped: bool) {
    let stats = final_port_stats(stdout);
    assert_eq!(stats.len(), 2, "{stdout}");
    for (port, [sent, received, dropped]) in stats {
        let own = &inputs[usize::from(port)];
        let other = &inputs[1 - usize::from(port)];
        let runts = other.iter().filter(|f| f.len() < 14).count() as u64;
        let expect_dropped = if runts_dropped { runts } else { 0 };
        assert_eq!(received, own.len() as u64, "port {port} received\n{stdout}");
        assert_eq!(
            sent,
            other.len() as u64 - expect_dropped,
            "port {port} sent\n{stdout}"
        );
        assert_eq!(dropped, expect_dropped, "port {port} dropped\n{stdout}");
    }
    if runts_dropped {
        assert!(stdout.contains("malformed frames dropped"), "{stdout}");
    }
}

#[test]
fn l2fwd_mode_matches_dpdk_l2fwd() {
    let _lock = dpdk_lock();
    let l2fwd = l2fwd_reference();
    let dir = TempDir::new("gold-l2fwd");
    let input = inputs(&dir);
    let ours = run(&dir, "vnf", &vnf_fwd(), &["-p", "0x3", "-T", "0"]);
    let theirs = run(&dir, "ref", &l2fwd, &["-p", "0x3", "-T", "0"]);
    for (tx, mac) in PCAP_MAC.iter().enumerate() {
        let rx = 1 - tx;
        // DPDK's l2fwd rewrites runts too, writing past their end; vnf-fwd drops them.
        assert_eq!(
            ours.out[tx],
            not_runts(&theirs.out[tx]),
            "port {tx} output differs from l2fwd"
        );
        let expected: Vec<Vec<u8>> = not_runts(&input[rx])
            .into_iter()
            .map(|mut f| {
                f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, tx as u8]);
                f[6..12].copy_from_slice(mac);
                f
            })
            .collect();
        assert_eq!(
            ours.out[tx], expected,
            "port {tx}: frames not rewritten as l2fwd does"
        );
    }
    assert_counters(&ours.stdout, &input, true);
}

#[test]
fn no_mac_updating_matches_dpdk_l2fwd() {
    let _lock = dpdk_lock();
    let l2fwd = l2fwd_reference();
    let dir = TempDir::new("gold-nomac");
    let input = inputs(&dir);
    let app = ["-p", "3", "-T", "0", "--no-mac-updating"];
    let ours = run(&dir, "vnf", &vnf_fwd(), &app);
    let theirs = run(&dir, "ref", &l2fwd, &app);
    for tx in 0..2 {
        assert_eq!(
            ours.out[tx], theirs.out[tx],
            "port {tx} output differs from l2fwd"
        );
        assert_eq!(ours.out[tx], input[1 - tx], "port {tx}: frames changed");
    }
    assert_counters(&ours.stdout, &input, false);
}

fn testpmd_mode(mode: &str, tag: &str) -> (Outcome, Outcome, [Vec<Vec<u8>>; 2]) {
    let dir = TempDir::new(tag);
    let input = inputs(&dir);
    let ours = run(
        &dir,
        "vnf",
        &vnf_fwd(),
        &["-p", "0x3", "-T", "0", "-q", "2", "--mode", mode],
    );
    let fwd = format!("--forward-mode={mode}");
    let theirs = run(
        &dir,
        "ref",
        &testpmd(),
        &["--no-flush-rx", &fwd, "--stats-period", "1"],
    );
    (ours, theirs, input)
}

#[test]
fn macswap_matches_testpmd() {
    let _lock = dpdk_lock();
    let (ours, theirs, input) = testpmd_mode("macswap", "gold-macswap");
    for tx in 0..2 {
        assert_eq!(
            ours.out[tx],
            not_runts(&theirs.out[tx]),
            "port {tx} differs from testpmd"
        );
        let expected: Vec<Vec<u8>> = not_runts(&input[1 - tx])
            .into_iter()
            .map(|mut f| {
                let (d, s) = (f[..6].to_vec(), f[6..12].to_vec());
                f[..6].copy_from_slice(&s);
                f[6..12].copy_from_slice(&d);
                f
            })
            .collect();
        assert_eq!(ours.out[tx], expected, "port {tx}: MACs not swapped");
    }
    assert_counters(&ours.stdout, &input, true);
}

#[test]
fn io_matches_testpmd() {
    let _lock = dpdk_lock();
    let (ours, theirs, input) = testpmd_mode("io", "gold-io");
    for tx in 0..2 {
        assert_eq!(
            ours.out[tx], theirs.out[tx],
            "port {tx} differs from testpmd"
        );
        assert_eq!(ours.out[tx], input[1 - tx], "port {tx}: frames changed");
    }
    assert_counters(&ours.stdout, &input, false);
}

#[test]
fn five_tuple_swap_matches_testpmd() {
    let _lock = dpdk_lock();
    let (ours, theirs, input) = testpmd_mode("5tswap", "gold-5tswap");
    for tx in 0..2 {
        // testpmd reads past the end of frames whose headers are cut short, so
        // only complete frames are compared byte for byte.
        assert_eq!(
            complete(&ours.out[tx]),
            complete(&theirs.out[tx]),
            "port {tx} differs from testpmd"
        );
        let sent = &input[1 - tx];
        let got = &ours.out[tx];
        let kept = not_runts(sent);
        assert_eq!(got.len(), kept.len());
        for (f, o) in kept.iter().zip(got) {
            check_5tswap(f, o);
        }
    }
    assert_counters(&ours.stdout, &input, true);
}

/// Field-by-field expectation for one frame: MACs swapped; behind any
/// VLAN/QinQ tags, IPv4/IPv6 addresses swapped if they fit; TCP/UDP ports
/// swapped if they fit; every other byte unchanged.
fn check_5tswap(inp: &[u8], out: &[u8]) {
    assert_eq!(inp.len(), out.len());
    let mut exp = inp.to_vec();
    let swap = |e: &mut Vec<u8>, a: usize, b: usize, n: usize| {
        if b + n <= e.len() {
            for i in 0..n {
                e.swap(a + i, b + i);
            }
            true
        } else {
            false
        }
    };
    swap(&mut exp, 0, 6, 6);
    let mut off = 12;
    let mut et = u16::from_be_bytes([inp[12], inp[13]]);
    while (et == 0x8100 || et == 0x88a8) && off + 6 <= inp.len() {
        off += 4;
        et = u16::from_be_bytes([inp[off], inp[off + 1]]);
    }
    let l3 = off + 2;
    let (proto, l4) = match et {
        0x0800 if swap(&mut exp, l3 + 12, l3 + 16, 4) => {
            (inp[l3 + 9], l3 + usize::from(inp[l3] & 0xf) * 4)
        }
        0x86dd if swap(&mut exp, l3 + 8, l3 + 24, 16) => (inp[l3 + 6], l3 + 40),
        _ => (0, 0),
    };
    if proto == 6 || proto == 17 {
        swap(&mut exp, l4, l4 + 2, 2);
    }
    assert_eq!(out, &exp[..], "5tswap of {inp:02x?}");
}
