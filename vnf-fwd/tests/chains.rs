//! Service chains through OVS-DPDK (`scripts/chain` and the example chain
//! files in `scripts/chains/`): the outside hosts are network namespaces
//! behind veth pairs whose host ends OVS-DPDK drives through af_packet; real
//! kernel ping and UDP cross the chain; the VNFs are vnf-fwd containers built
//! from the binaries under test (the passive tap also as a host process).
//! Counters are checked hop by hop from `scripts/chain show --counters`.

mod common;

use common::docker::{docker, images, output_text};
use common::ovs::Ovs;
use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The outside hosts' UDP port for the test traffic.
const UDP_PORT: &str = "9000";
/// UDP payload bytes: frames of 14 + 20 + 8 + 64 = 106 bytes.
const PAYLOAD: &str = "64";

fn chain_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scripts/chains/{name}.toml"))
}

fn probe_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/common/netns_udp.py")
}

/// One outside host of a chain file: its namespace and address.
#[derive(Clone, Copy)]
struct Host {
    netns: &'static str,
    ip: &'static str,
}

/// What `scripts/chain show --counters` reports.
#[derive(Debug, Default, Clone, PartialEq)]
struct Hops {
    /// By OVS port: [OVS rx, OVS tx, OVS tx drops, n_packets of the flow from it].
    ports: HashMap<String, [u64; 4]>,
    /// link_state by OVS port.
    links: HashMap<String, String>,
    /// By (VNF, its port): [rx, tx, dropped] from vnf-fwd's own statistics.
    vnfs: HashMap<(String, u16), [u64; 3]>,
}

impl Hops {
    fn parse(text: &str) -> Hops {
        let mut h = Hops::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(kind), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            let kv: HashMap<&str, &str> = words.filter_map(|w| w.split_once('=')).collect();
            let num = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            match kind {
                "port" => {
                    h.ports.insert(
                        name.to_owned(),
                        [
                            num("ovs_rx"),
                            num("ovs_tx"),
                            num("ovs_tx_drop"),
                            num("flow_n_packets"),
                        ],
                    );
                    h.links
                        .insert(name.to_owned(), kv.get("link").unwrap_or(&"?").to_string());
                }
                "vnf" => {
                    h.vnfs.insert(
                        (name.to_owned(), num("port") as u16),
                        [num("rx"), num("tx"), num("dropped")],
                    );
                }
                _ => {}
            }
        }
        h
    }

    /// What was counted since `before`.
    fn since(&self, before: &Hops) -> Hops {
        let mut d = self.clone();
        for (k, v) in d.ports.iter_mut() {
            let b = before.ports.get(k).copied().unwrap_or_default();
            for i in 0..4 {
                v[i] = v[i].saturating_sub(b[i]);
            }
        }
        for (k, v) in d.vnfs.iter_mut() {
            let b = before.vnfs.get(k).copied().unwrap_or_default();
            for i in 0..3 {
                v[i] = v[i].saturating_sub(b[i]);
            }
        }
        d
    }
}

/// A chain brought up by `scripts/chain up` on a private OVS-DPDK; taken
/// down on drop, even when the test fails.
struct Chain<'a> {
    ovs: &'a Ovs,
    file: PathBuf,
    up: bool,
}

impl<'a> Chain<'a> {
    fn up(ovs: &'a Ovs, file: &Path) -> Chain<'a> {
        let mut chain = Chain {
            ovs,
            file: file.to_owned(),
            up: true,
        };
        let t0 = Instant::now();
        chain.run(&["up"]);
        eprintln!("{} up in {:.1?}", file.display(), t0.elapsed());
        chain.up = true;
        chain
    }

    fn output(&self, args: &[&str]) -> Output {
        let file = self.file.to_str().unwrap();
        let mut all = vec![args[0], file];
        all.extend(&args[1..]);
        self.ovs
            .command_env("chain", &all, &[("TAG", &docker::tag())])
    }

    /// `scripts/chain CMD FILE ARGS...`; panics with its output if it fails.
    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "chain {args:?} failed:\n{}",
            output_text(&out)
        );
        output_text(&out)
    }

    fn counters(&self) -> Hops {
        Hops::parse(&self.run(&["show", "--counters"]))
    }

    /// Polls the counters until `done` holds for what was counted since
    /// `before` and two reads in a row agree: vnf-fwd prints its statistics
    /// every second, OVS updates flow counters every half second.
    fn settle(&self, before: &Hops, done: impl Fn(&Hops) -> bool) -> Hops {
        let end = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        loop {
            let d = self.counters().since(before);
            if (done(&d) && last.as_ref() == Some(&d)) || Instant::now() > end {
                return d;
            }
            last = Some(d);
            std::thread::sleep(Duration::from_millis(1100));
        }
    }

    /// The counters once nothing moves: the baseline for exact counts.
    fn quiet_counters(&self) -> Hops {
        self.settle(&Hops::default(), |_| true)
    }

    fn down(&mut self) -> String {
        self.up = false;
        self.run(&["down"])
    }
}

impl Drop for Chain<'_> {
    fn drop(&mut self) {
        if self.up {
            let out = self.output(&["down"]);
            eprint!("{}", output_text(&out));
        }
    }
}

/// `ip netns exec NS ARGS...`.
fn in_netns(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("run ip netns exec")
}

/// Pings `to` from `from`: how many of `count` replies came back (within `deadline_s`).
fn ping(from: Host, to: Host, count: u32, deadline_s: u32) -> u32 {
    let out = in_netns(
        from.netns,
        &[
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-w",
            &deadline_s.to_string(),
            to.ip,
        ],
    );
    let text = output_text(&out);
    text.split(", ")
        .find_map(|w| w.strip_suffix(" received"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("ping output:\n{text}"))
}

fn mac_of(host: Host) -> String {
    let out = Command::new("ip")
        .args(["-n", host.netns, "link", "show", "eth0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {text}"))
        .to_owned()
}

/// After ARP worked (a ping), each host's neighbour entry for the other is
/// made permanent: no ARP refresh can then add a frame to the counts.
fn pin_neighbours(a: Host, b: Host) {
    for (host, peer) in [(a, b), (b, a)] {
        let mac = mac_of(peer);
        let st = Command::new("ip")
            .args([
                "-n", host.netns, "neigh", "replace", peer.ip, "lladdr", &mac,
            ])
            .args(["dev", "eth0", "nud", "permanent"])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

/// The quoted strings of JSON array `key` in `json` (hex strings: no escapes).
fn json_strings(json: &str, key: &str) -> Vec<String> {
    let at = json
        .find(&format!("\"{key}\": ["))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    let rest = &json[at + key.len() + 5..];
    let list = &rest[..rest.find(']').unwrap()];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Frames a kernel socket sent and the far side received.
struct UdpRun {
    sent_frames: Vec<String>,
    received_frames: Vec<String>,
    datagrams: usize,
}

/// `count` UDP datagrams from a socket in `from` to one in `to`, 2 ms apart;
/// the frames are captured on both sides.
fn udp(dir: &TempDir, from: Host, to: Host, count: usize) -> UdpRun {
    let probe = probe_script().display().to_string();
    let n = count.to_string();
    let recv_args = strings(&[
        "netns", "exec", to.netns, "python3", &probe, "recv", "eth0", UDP_PORT, &n, "15",
    ]);
    let mut receiver = Proc::spawn(dir, "udp-recv", Path::new("ip"), &recv_args, None);
    assert!(
        receiver.wait_for_output("ready", Duration::from_secs(10)),
        "receiver did not start\n{}",
        receiver.output()
    );
    let sender = in_netns(
        from.netns,
        &[
            "python3", &probe, "send", "eth0", to.ip, UDP_PORT, &n, PAYLOAD, "2",
        ],
    );
    assert!(sender.status.success(), "{}", output_text(&sender));
    let sent = String::from_utf8_lossy(&sender.stdout).into_owned();
    assert!(
        receiver.wait_timeout(Duration::from_secs(20)).is_some(),
        "receiver did not finish\n{}",
        receiver.output()
    );
    let got = receiver.out();
    UdpRun {
        sent_frames: json_strings(&sent, "frames"),
        received_frames: json_strings(&got, "frames"),
        datagrams: json_strings(&got, "datagrams").len(),
    }
}

/// The counters of a series of `vnfs` between outside ports `a` and `b` after
/// `ab` frames went from a to b and `ba` from b to a: every hop saw each frame
/// once, nothing dropped.
fn assert_series(d: &Hops, a: &str, b: &str, vnfs: &[&str], ab: u64, ba: u64) {
    // OVS rx is what enters the switch by the port, tx what leaves by it; the
    // flow from a port carries what entered by it.
    let mut want: Vec<(String, [u64; 4])> = vec![(a.to_owned(), [ab, ba, 0, ab])];
    for v in vnfs {
        want.push((format!("{v}-p0"), [ba, ab, 0, ba]));
        want.push((format!("{v}-p1"), [ab, ba, 0, ab]));
    }
    want.push((b.to_owned(), [ba, ab, 0, ba]));
    for (port, counts) in &want {
        assert_eq!(d.ports.get(port), Some(counts), "OVS port {port}: {d:#?}");
    }
    for v in vnfs {
        // vnf-fwd's port 0 faces side a: it receives a->b, sends b->a.
        assert_eq!(
            d.vnfs.get(&(v.to_string(), 0)),
            Some(&[ab, ba, 0]),
            "{v} port 0: {d:#?}"
        );
        assert_eq!(
            d.vnfs.get(&(v.to_string(), 1)),
            Some(&[ba, ab, 0]),
            "{v} port 1: {d:#?}"
        );
    }
}

/// Sends `ab` datagrams a->b and `ba` b->a and checks that each arrived, in
/// order, as the frame that left (`rewritten` says which bytes the chain may
/// change and checks them); returns the counters since before.
fn exchange(
    dir: &TempDir,
    chain: &Chain,
    (a, b): (Host, Host),
    (ab, ba): (usize, usize),
    rewritten: impl Fn(bool, &str, &str) -> (String, String),
    counted: impl Fn(&Hops) -> bool,
) -> Hops {
    let before = chain.quiet_counters();
    for (from, to, n, toward_b) in [(a, b, ab, true), (b, a, ba, false)] {
        if n == 0 {
            continue;
        }
        let run = udp(dir, from, to, n);
        assert_eq!(run.datagrams, n, "datagrams received by {}", to.netns);
        assert_eq!(
            run.sent_frames.len(),
            n,
            "frames captured at {}",
            from.netns
        );
        assert_eq!(
            run.received_frames.len(),
            n,
            "frames captured at {}",
            to.netns
        );
        for (sent, got) in run.sent_frames.iter().zip(&run.received_frames) {
            let (sent, got) = rewritten(toward_b, sent, got);
            assert_eq!(sent, got, "frame changed on its way to {}", to.netns);
        }
    }
    chain.settle(&before, counted)
}

/// Frames cross untouched.
fn intact(_toward_b: bool, sent: &str, got: &str) -> (String, String) {
    (sent.to_owned(), got.to_owned())
}

/// Nothing of chain `name` is left: no bridge (the chain made it), ports,
/// flows, containers, namespaces, veths, sockets, DPDK files or state.
/// With OVS still running (the test started it) its bridges and interfaces
/// are checked; if the chain started OVS, OVS must be gone.
fn assert_torn_down(ovs: &Ovs, name: &str, netns: &[&str], veths: &[&str], vnfs: &[&str]) {
    if ovs.vswitchd_running() {
        for (args, what) in [
            (&["list-br"][..], "bridges left"),
            (
                &["--columns=name", "list", "Interface"][..],
                "interfaces left",
            ),
        ] {
            let out = Command::new("ovs-vsctl")
                .arg("--timeout=10")
                .args(args)
                .env("OVS_RUNDIR", ovs.run_dir())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", output_text(&out));
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "{what}");
        }
    }
    let label = format!("label=vnf-fwd.chain={name}");
    let out = docker(&["ps", "-a", "-q", "--filter", &label]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "containers left"
    );
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    for ns in netns {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "namespace {ns} left"
        );
    }
    for v in veths {
        assert!(
            !Path::new("/sys/class/net").join(v).exists(),
            "veth {v} left"
        );
    }
    let left: Vec<String> = std::fs::read_dir(ovs.run_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f != "db.sock" && !f.ends_with(".ctl") && !f.ends_with(".pid"))
        .collect();
    assert!(left.is_empty(), "left in the socket directory: {left:?}");
    for v in vnfs {
        assert_no_leftovers(&format!("{name}-{v}"));
    }
    let state = ovs.run_dir().parent().unwrap().join("state/chains");
    assert!(!state.exists(), "{} left", state.display());
}

const SERIES_A: Host = Host {
    netns: "s3-host-a",
    ip: "198.18.0.1",
};
const SERIES_B: Host = Host {
    netns: "s3-host-b",
    ip: "198.18.0.2",
};

#[test]
fn series_of_three_vnfs_carries_ping_and_udp_intact() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-series");
    let ovs = Ovs::start_switch();
    let mut chain = Chain::up(&ovs, &chain_file("series3"));
    assert_eq!(ping(SERIES_A, SERIES_B, 3, 10), 3, "ping a -> b");
    assert_eq!(ping(SERIES_B, SERIES_A, 3, 10), 3, "ping b -> a");
    pin_neighbours(SERIES_A, SERIES_B);

    let vnfs = ["ips", "waf", "dpi"];
    let d = exchange(&dir, &chain, (SERIES_A, SERIES_B), (100, 40), intact, |d| {
        vnfs.iter()
            .all(|v| d.vnfs.get(&(v.to_string(), 1)) == Some(&[40, 100, 0]))
    });
    assert_series(&d, "s3-out-a", "s3-out-b", &vnfs, 100, 40);

    let show = chain.run(&["show"]);
    for want in ["s3-out-a", "ips.p0", "dpi.p1", "s3-out-b", "VNF rx"] {
        assert!(show.contains(want), "chain show lacks {want}:\n{show}");
    }
    let text = chain.down();
    assert!(text.contains("series3 down"), "{text}");
    assert_torn_down(
        &ovs,
        "series3",
        &[SERIES_A.netns, SERIES_B.netns],
        &["s3-out-a", "s3-out-b"],
        &vnfs,
    );
}

/// docker's record of when each container started.
fn started_at(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let out = docker(&["inspect", "-f", "{{.State.StartedAt}}", n]);
            assert!(out.status.success(), "{}", output_text(&out));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect()
}

fn vswitchd_pid(ovs: &Ovs) -> String {
    std::fs::read_to_string(ovs.run_dir().join("ovs-vswitchd.pid")).unwrap()
}

#[test]
fn middle_vnf_restart_bypasses_then_rejoins() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-bypass");
    let ovs = Ovs::start_switch();
    let chain = Chain::up(&ovs, &chain_file("series3"));
    assert_eq!(ping(SERIES_A, SERIES_B, 2, 10), 2, "ping before");
    pin_neighbours(SERIES_A, SERIES_B);
    let others = ["vnf-chain-series3-ips", "vnf-chain-series3-dpi"];
    let (started, ovs_pid) = (started_at(&others), vswitchd_pid(&ovs));

    // series3.toml: waf has on_down = "bypass".
    chain.run(&["stop-vnf", "waf"]);
    let c = chain.counters();
    assert_eq!(
        c.links.get("waf-p0").map(String::as_str),
        Some("down"),
        "{c:#?}"
    );
    let d = exchange(&dir, &chain, (SERIES_A, SERIES_B), (50, 0), intact, |d| {
        d.vnfs.get(&("dpi".into(), 1)) == Some(&[0, 50, 0])
    });
    assert_series(&d, "s3-out-a", "s3-out-b", &["ips", "dpi"], 50, 0);
    assert_eq!(d.ports["waf-p0"][1], 0, "nothing sent to the stopped waf");

    chain.run(&["start-vnf", "waf"]);
    let d = exchange(&dir, &chain, (SERIES_A, SERIES_B), (50, 0), intact, |d| {
        d.vnfs.get(&("dpi".into(), 1)) == Some(&[0, 50, 0])
    });
    // Through waf again (OVS's counters: waf's own restarted from zero).
    assert_eq!(d.ports.get("waf-p0").map(|p| p[1]), Some(50), "{d:#?}");
    assert_eq!(d.ports.get("waf-p1").map(|p| p[0]), Some(50), "{d:#?}");
    assert_eq!(d.ports.get("dpi-p1").map(|p| p[0]), Some(50), "{d:#?}");
    assert_eq!(started_at(&others), started, "other VNFs restarted");
    assert_eq!(vswitchd_pid(&ovs), ovs_pid, "OVS restarted");
}

const INLINE_A: Host = Host {
    netns: "in-host-a",
    ip: "198.18.1.1",
};
const INLINE_B: Host = Host {
    netns: "in-host-b",
    ip: "198.18.1.2",
};

/// inline.toml's VNF runs l2fwd with MAC updating: frames toward side b
/// leave its port 1 for 02:00:00:00:00:01 from that port's MAC, toward a its
/// port 0 for 02:00:00:00:00:00; everything after the MACs is untouched.
fn l2fwd_macs(toward_b: bool, sent: &str, got: &str) -> (String, String) {
    let (dst, src) = if toward_b {
        ("020000000001", "020000010001")
    } else {
        ("020000000000", "020000010000")
    };
    assert_eq!(&got[..24], format!("{dst}{src}"), "MACs l2fwd wrote");
    (sent[24..].to_owned(), got[24..].to_owned())
}

#[test]
fn inline_vnf_rewrites_only_macs_and_stops_traffic_while_down() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-inline");
    let ovs = Ovs::start_switch();
    let mut chain = Chain::up(&ovs, &chain_file("inline"));
    assert_eq!(ping(INLINE_A, INLINE_B, 3, 10), 3, "ping a -> b");
    pin_neighbours(INLINE_A, INLINE_B);
    let d = exchange(
        &dir,
        &chain,
        (INLINE_A, INLINE_B),
        (100, 30),
        l2fwd_macs,
        |d| d.vnfs.get(&("ips".into(), 1)) == Some(&[30, 100, 0]),
    );
    assert_series(&d, "in-out-a", "in-out-b", &["ips"], 100, 30);

    // on_down = "stop" (the default): no way around the VNF while it is down,
    // and the traffic comes back by itself when it is up again.
    let ovs_pid = vswitchd_pid(&ovs);
    chain.run(&["stop-vnf", "ips"]);
    assert_eq!(ping(INLINE_A, INLINE_B, 3, 3), 0, "ping with the VNF down");
    chain.run(&["start-vnf", "ips"]);
    assert_eq!(ping(INLINE_A, INLINE_B, 3, 15), 3, "ping after the restart");
    assert_eq!(vswitchd_pid(&ovs), ovs_pid, "OVS restarted");

    chain.down();
    assert_torn_down(
        &ovs,
        "inline",
        &[INLINE_A.netns, INLINE_B.netns],
        &["in-out-a", "in-out-b"],
        &["ips"],
    );
}

#[test]
fn passive_tap_gets_a_copy_of_every_frame() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("chain-passive");
    // The tap as a host process (run = "process") of the binary under test.
    let text = std::fs::read_to_string(chain_file("passive")).unwrap();
    let process = text.replacen(
        "[[tap]]\n",
        &format!(
            "[[tap]]\nrun = \"process\"\nbinary = \"{}\"\n",
            vnf_fwd().display()
        ),
        1,
    );
    assert_ne!(process, text);
    let file = dir.join("passive.toml");
    std::fs::write(&file, process).unwrap();
    let a = Host {
        netns: "pv-host-a",
        ip: "198.18.2.1",
    };
    let b = Host {
        netns: "pv-host-b",
        ip: "198.18.2.2",
    };
    // No OVS running: `chain up` starts it and `chain down` stops it.
    let ovs = Ovs::private_dir();
    let mut chain = Chain::up(&ovs, &file);
    assert!(ovs.vswitchd_running(), "chain up started OVS");
    assert_eq!(ping(a, b, 3, 10), 3, "ping a -> b");
    pin_neighbours(a, b);
    let d = exchange(&dir, &chain, (a, b), (100, 50), intact, |d| {
        d.vnfs.get(&("waf".into(), 0)) == Some(&[150, 150, 0])
    });
    // The main path: straight from port to port, every frame.
    assert_eq!(d.ports.get("pv-out-a"), Some(&[100, 50, 0, 100]), "{d:#?}");
    assert_eq!(d.ports.get("pv-out-b"), Some(&[50, 100, 0, 50]), "{d:#?}");
    // The tap: a copy of each, which it sends back and the switch drops (flow from it).
    assert_eq!(d.ports.get("waf-p0"), Some(&[150, 150, 0, 150]), "{d:#?}");
    assert_eq!(
        d.vnfs.get(&("waf".into(), 0)),
        Some(&[150, 150, 0]),
        "{d:#?}"
    );
    // down shows each VNF's final statistics: the tap's whole count (the ping too).
    let [rx, tx, dropped] = chain.counters().vnfs[&("waf".into(), 0)];
    let out = chain.down();
    assert!(out.contains("passive down"), "{out}");
    let last = format!("waf final statistics: port 0 rx {rx} tx {tx} dropped {dropped}");
    assert!(out.contains(&last), "{out}");
    assert!(
        !ovs.vswitchd_running(),
        "chain down stopped the OVS it started"
    );
    assert_torn_down(
        &ovs,
        "passive",
        &[a.netns, b.netns],
        &["pv-out-a", "pv-out-b"],
        &["waf"],
    );
}

#[test]
fn bad_chain_files_are_one_line_errors() {
    let dir = TempDir::new("chain-bad");
    let series = std::fs::read_to_string(chain_file("series3")).unwrap();
    let cases = [
        (
            series.replacen("mode = \"io\"", "mode = \"macswap\"", 1),
            "mode 'macswap' cannot carry a chain end to end",
        ),
        (
            series.replacen(
                "address = \"198.18.0.1/24\"",
                "address = \"10.0.0.1/24\"",
                1,
            ),
            "198.18.0.0/15",
        ),
        (
            series.replacen("[[vnf]]\n", "[[vnf]]\nlcore = \"1\"\n", 1),
            "unknown key(s) lcore",
        ),
        (
            series.replacen("lcores = \"0@0\"", "lcores = \"zero\"", 1),
            "not an EAL --lcores map",
        ),
        (
            "name = \"x\"\n[[outside]]\n".to_owned(),
            "exactly two [[outside]]",
        ),
        ("name = [".to_owned(), "not valid TOML"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = dir.join(&format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        // No OVS needed: the file is checked before anything is made.
        let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/chain"))
            .args(["up", file.to_str().unwrap()])
            .env("OVS_DIR", dir.join("run"))
            .env("OVS_STATE_DIR", dir.join("state"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {err}");
        assert_eq!(err.lines().count(), 1, "case {i}: one line: {err}");
        assert!(err.contains(want), "case {i}: {err}");
    }
    assert!(!dir.join("run").exists(), "nothing made for a bad file");
}
