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
    /// By running VNF: how old its counters are, ms ("0": live, from its telemetry).
    ages: HashMap<String, String>,
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
                    if kv.get("running") == Some(&"true") {
                        let age = kv.get("age_ms").unwrap_or(&"?");
                        h.ages.insert(name.to_owned(), age.to_string());
                    }
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

/// The one JSON line a probe (`netns_udp.py`) printed last.
fn probe_json(out: &str) -> serde_json::Value {
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("probe output {out:?}: {e}"))
}

/// The strings of JSON array `key` in a probe's output.
fn json_strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Frames a kernel socket sent and the far side received.
struct UdpRun {
    sent_frames: Vec<String>,
    received_frames: Vec<String>,
    datagrams: usize,
    /// When each datagram arrived (seconds since the epoch).
    times: Vec<f64>,
}

/// `count` UDP datagrams from a socket in `from` to one in `to`, 2 ms apart;
/// the frames are captured on both sides.
fn udp(dir: &TempDir, from: Host, to: Host, count: usize) -> UdpRun {
    udp_during(dir, from, to, (count, 2), || {})
}

/// `count` UDP datagrams, `gap_ms` apart, from `from` to `to`; `during` runs
/// while they are under way (the receiver is ready, the sender started).
fn udp_during(
    dir: &TempDir,
    from: Host,
    to: Host,
    (count, gap_ms): (usize, u64),
    during: impl FnOnce(),
) -> UdpRun {
    let probe = probe_script().display().to_string();
    let n = count.to_string();
    // Long enough for all of them; with some lost, the receiver stops here.
    let wait = Duration::from_millis(count as u64 * (gap_ms + 1)) + Duration::from_secs(15);
    let recv_args = strings(&[
        "netns",
        "exec",
        to.netns,
        "python3",
        &probe,
        "recv",
        "eth0",
        UDP_PORT,
        &n,
        &wait.as_secs().to_string(),
    ]);
    let mut receiver = Proc::spawn(dir, "udp-recv", Path::new("ip"), &recv_args, None);
    assert!(
        receiver.wait_for_output("ready", Duration::from_secs(10)),
        "receiver did not start\n{}",
        receiver.output()
    );
    let send_args = strings(&[
        "netns",
        "exec",
        from.netns,
        "python3",
        &probe,
        "send",
        "eth0",
        to.ip,
        UDP_PORT,
        &n,
        PAYLOAD,
        &gap_ms.to_string(),
    ]);
    let mut sender = Proc::spawn(dir, "udp-send", Path::new("ip"), &send_args, None);
    during();
    let st = sender.wait_timeout(wait);
    assert!(
        st.is_some_and(|s| s.success()),
        "sender failed\n{}",
        sender.output()
    );
    assert!(
        receiver.wait_timeout(wait).is_some(),
        "receiver did not finish\n{}",
        receiver.output()
    );
    let (sent, got) = (probe_json(&sender.out()), probe_json(&receiver.out()));
    UdpRun {
        sent_frames: json_strings(&sent, "frames"),
        received_frames: json_strings(&got, "frames"),
        datagrams: json_strings(&got, "datagrams").len(),
        times: got["times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect(),
    }
}

/// The counters of a series of `vnfs` of chain `chain` between outside ports
/// `a` and `b` after `ab` frames went from a to b and `ba` from b to a: every
/// hop saw each frame once, nothing dropped.
fn assert_series(d: &Hops, chain: &str, (a, b): (&str, &str), vnfs: &[&str], ab: u64, ba: u64) {
    // OVS rx is what enters the switch by the port, tx what leaves by it; the
    // flow from a port carries what entered by it.
    let mut want: Vec<(String, [u64; 4])> = vec![(a.to_owned(), [ab, ba, 0, ab])];
    for v in vnfs {
        want.push((format!("{chain}-{v}-p0"), [ba, ab, 0, ba]));
        want.push((format!("{chain}-{v}-p1"), [ab, ba, 0, ab]));
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
/// change and checks them); returns the counters since before. With
/// `Through::Series` every VNF forwarded each frame before the far host got
/// it, so `counted` must hold at the first read (the VNFs' counters are
/// live); a tap may count its copy a moment later.
fn exchange(
    dir: &TempDir,
    chain: &Chain,
    (a, b): (Host, Host),
    (ab, ba): (usize, usize),
    rewritten: impl Fn(bool, &str, &str) -> (String, String),
    through: Through,
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
    if through == Through::Series {
        let now = chain.counters();
        assert!(
            counted(&now.since(&before)),
            "the VNFs' counters right after the traffic: {now:#?}"
        );
        assert!(
            now.ages.values().all(|a| a == "0"),
            "live counters: {:?}",
            now.ages
        );
    }
    chain.settle(&before, counted)
}

/// What the traffic crosses: VNFs in series, or the switch alone (a tap copying it).
#[derive(Clone, Copy, PartialEq)]
enum Through {
    Series,
    Tap,
}

/// Frames cross untouched.
fn intact(_toward_b: bool, sent: &str, got: &str) -> (String, String) {
    (sent.to_owned(), got.to_owned())
}

/// [`assert_torn_down`] for series3 and its three VNFs.
fn assert_series3_torn_down(ovs: &Ovs) {
    assert_torn_down(
        ovs,
        "series3",
        &[SERIES_A.netns, SERIES_B.netns],
        &["s3-out-a", "s3-out-b"],
        &["ips", "waf", "dpi"],
    );
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
const SERIES_OUT: (&str, &str) = ("s3-out-a", "s3-out-b");

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
    let d = exchange(
        &dir,
        &chain,
        (SERIES_A, SERIES_B),
        (100, 40),
        intact,
        Through::Series,
        |d| {
            vnfs.iter()
                .all(|v| d.vnfs.get(&(v.to_string(), 1)) == Some(&[40, 100, 0]))
        },
    );
    assert_series(&d, "series3", SERIES_OUT, &vnfs, 100, 40);

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
        c.links.get("series3-waf-p0").map(String::as_str),
        Some("down"),
        "{c:#?}"
    );
    let d = exchange(
        &dir,
        &chain,
        (SERIES_A, SERIES_B),
        (50, 0),
        intact,
        Through::Series,
        |d| d.vnfs.get(&("dpi".into(), 1)) == Some(&[0, 50, 0]),
    );
    assert_series(&d, "series3", SERIES_OUT, &["ips", "dpi"], 50, 0);
    assert_eq!(
        d.ports["series3-waf-p0"][1], 0,
        "nothing sent to the stopped waf"
    );

    chain.run(&["start-vnf", "waf"]);
    let d = exchange(
        &dir,
        &chain,
        (SERIES_A, SERIES_B),
        (50, 0),
        intact,
        Through::Series,
        |d| d.vnfs.get(&("dpi".into(), 1)) == Some(&[0, 50, 0]),
    );
    // Through waf again (OVS's counters: waf's own restarted from zero).
    for (port, i) in [("waf-p0", 1), ("waf-p1", 0), ("dpi-p1", 0)] {
        let port = format!("series3-{port}");
        assert_eq!(d.ports.get(&port).map(|p| p[i]), Some(50), "{port}: {d:#?}");
    }
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
const INLINE_OUT: (&str, &str) = ("in-out-a", "in-out-b");

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
        Through::Series,
        |d| d.vnfs.get(&("ips".into(), 1)) == Some(&[30, 100, 0]),
    );
    assert_series(&d, "inline", INLINE_OUT, &["ips"], 100, 30);

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
    let d = exchange(&dir, &chain, (a, b), (100, 50), intact, Through::Tap, |d| {
        d.vnfs.get(&("waf".into(), 0)) == Some(&[150, 150, 0])
    });
    // The main path: straight from port to port, every frame.
    assert_eq!(d.ports.get("pv-out-a"), Some(&[100, 50, 0, 100]), "{d:#?}");
    assert_eq!(d.ports.get("pv-out-b"), Some(&[50, 100, 0, 50]), "{d:#?}");
    // The tap: a copy of each, which it sends back and the switch drops (flow from it).
    assert_eq!(
        d.ports.get("passive-waf-p0"),
        Some(&[150, 150, 0, 150]),
        "{d:#?}"
    );
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
        // Values of the wrong type: one line each, no traceback.
        (
            series.replacen("memory = 64", "memory = 64\nstats_period = \"1\"", 1),
            "stats_period is a whole number",
        ),
        (
            series.replacen("ofport = 11", "ofport = \"11\"", 1),
            "ofport is a whole number",
        ),
        (
            series.replacen("netns = \"s3-host-a\"", "netns = 5", 1),
            "netns is a network namespace's name",
        ),
        (
            series.replacen("memory = 64", "memory = 64\nqueue_size = 1000", 1),
            "queue_size is a power of two",
        ),
        (
            series.replacen("name = \"series3\"", "name = \"series3-longer\"", 1),
            "longer than 15 characters",
        ),
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
        assert_ne!(text, &series, "case {i} changes the file");
        assert_eq!(out.status.code(), Some(1), "case {i}: {err}");
        assert_eq!(err.lines().count(), 1, "case {i}: one line: {err}");
        assert!(err.contains(want), "case {i}: {err}");
    }
    assert!(!dir.join("run").exists(), "nothing made for a bad file");
}

/// `CMD ARGS...` on this test's OVS (its run directory); its stdout.
fn ovs_tool(ovs: &Ovs, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .env("OVS_RUNDIR", ovs.run_dir())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything a chain could make or take, without counters: the switch's
/// interfaces (with their ofports and tags), flows and groups of `bridge`,
/// namespaces, network interfaces, containers, sockets and chain state.
/// Equal snapshots: nothing changed.
fn snapshot(ovs: &Ovs, bridge: &str) -> String {
    let sorted = |text: String| {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    let run_dir = ovs.run_dir();
    let state = run_dir.parent().unwrap().join("state/chains");
    let listing = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.join(" ")
    };
    let columns = "--columns=name,ofport,ofport_request,external_ids,options,type";
    let docker_ps = docker(&["ps", "-a", "--format", "{{.ID}} {{.Names}}"]);
    [
        sorted(ovs_tool(
            ovs,
            "ovs-vsctl",
            &["--format=csv", columns, "list", "Interface"],
        )),
        ovs_tool(ovs, "ovs-vsctl", &["list-br"]),
        sorted(ovs_tool(
            ovs,
            "ovs-ofctl",
            &["-O", "OpenFlow13", "--no-stats", "dump-flows", bridge],
        )),
        sorted(ovs_tool(
            ovs,
            "ovs-ofctl",
            &["-O", "OpenFlow13", "dump-groups", bridge],
        )),
        String::from_utf8_lossy(
            &Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned(),
        listing(Path::new("/sys/class/net")),
        sorted(String::from_utf8_lossy(&docker_ps.stdout).into_owned()),
        listing(&run_dir),
        listing(&state),
    ]
    .join("\n--\n")
}

/// A copy of a shipped chain file with `edits` (from, to) applied, in `dir`.
fn edited_chain(dir: &TempDir, from: &str, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(chain_file(from)).unwrap();
    for (a, b) in edits {
        assert!(text.contains(a), "{a} in {from}.toml");
        text = text.replace(a, b);
    }
    let file = dir.join(&format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// Ping both ways, then make the neighbour entries permanent.
fn ping_and_pin(a: Host, b: Host) {
    assert_eq!(ping(a, b, 3, 10), 3, "ping {} -> {}", a.netns, b.netns);
    assert_eq!(ping(b, a, 3, 10), 3, "ping {} -> {}", b.netns, a.netns);
    pin_neighbours(a, b);
}

fn series_exchange(dir: &TempDir, chain: &Chain, ab: usize, ba: usize) {
    let vnfs = ["ips", "waf", "dpi"];
    let (ab64, ba64) = (ab as u64, ba as u64);
    let d = exchange(
        dir,
        chain,
        (SERIES_A, SERIES_B),
        (ab, ba),
        intact,
        Through::Series,
        |d| {
            vnfs.iter()
                .all(|v| d.vnfs.get(&(v.to_string(), 1)) == Some(&[ba64, ab64, 0]))
        },
    );
    assert_series(&d, "series3", SERIES_OUT, &vnfs, ab64, ba64);
}

fn inline_exchange(dir: &TempDir, chain: &Chain, ab: usize, ba: usize) {
    let (ab64, ba64) = (ab as u64, ba as u64);
    let d = exchange(
        dir,
        chain,
        (INLINE_A, INLINE_B),
        (ab, ba),
        l2fwd_macs,
        Through::Series,
        |d| d.vnfs.get(&("ips".into(), 1)) == Some(&[ba64, ab64, 0]),
    );
    assert_series(&d, "inline", INLINE_OUT, &["ips"], ab64, ba64);
}

#[test]
fn two_chains_share_the_switch_and_go_down_apart() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-two");
    let ovs = Ovs::start_switch();
    let mut series = Chain::up(&ovs, &chain_file("series3"));
    ping_and_pin(SERIES_A, SERIES_B);
    let alone = snapshot(&ovs, "ovs-br0");
    // Both have a VNF named ips: each chain's ports are its own.
    let mut inline = Chain::up(&ovs, &chain_file("inline"));
    ping_and_pin(INLINE_A, INLINE_B);
    series_exchange(&dir, &series, 60, 20);
    inline_exchange(&dir, &inline, 40, 30);

    let text = inline.down();
    assert!(text.contains("inline down"), "{text}");
    assert_eq!(
        snapshot(&ovs, "ovs-br0"),
        alone,
        "inline's down left the switch and host as before its up"
    );
    // A stateless down of a chain that is not up touches nothing either.
    let again = inline.output(&["down"]);
    assert!(again.status.success(), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("inline is not up"),
        "{}",
        output_text(&again)
    );
    assert_eq!(snapshot(&ovs, "ovs-br0"), alone, "down of a chain not up");
    // series3 forwards as before, every frame counted once at every hop.
    series_exchange(&dir, &series, 50, 50);

    series.down();
    assert_torn_down(
        &ovs,
        "series3",
        &[
            SERIES_A.netns,
            SERIES_B.netns,
            INLINE_A.netns,
            INLINE_B.netns,
        ],
        &["s3-out-a", "s3-out-b", "in-out-a", "in-out-b"],
        &["ips", "waf", "dpi"],
    );
    assert_torn_down(
        &ovs,
        "inline",
        &[INLINE_A.netns, INLINE_B.netns],
        &["in-out-a", "in-out-b"],
        &["ips"],
    );
}

#[test]
fn colliding_chain_is_refused_with_nothing_changed() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-collide");
    let ovs = Ovs::start_switch();
    let mut series = Chain::up(&ovs, &chain_file("series3"));
    ping_and_pin(SERIES_A, SERIES_B);
    let before = snapshot(&ovs, "ovs-br0");
    // series3 under another name: its outside ports, namespaces and ofports are taken.
    let copy = edited_chain(
        &dir,
        "series3",
        "series3b",
        &[("name = \"series3\"", "name = \"series3b\"")],
    );
    // All names new, but an ofport series3 holds.
    let ofport = edited_chain(
        &dir,
        "inline",
        "other",
        &[
            ("name = \"inline\"", "name = \"other\""),
            ("in-out-a\"", "ot-out-a\"\nofport = 12"),
            ("in-out-b", "ot-out-b"),
            ("in-host", "ot-host"),
        ],
    );
    let cases = [
        (copy.clone(), "OVS port s3-out-a exists (chain series3's)"),
        (copy.clone(), "namespace s3-host-a exists"),
        (copy.clone(), "ofport 11 (s3-out-a) is s3-out-a's"),
        (ofport, "ofport 12 (ot-out-a) is s3-out-b's"),
        (chain_file("series3"), "chain series3 is up already"),
    ];
    for (file, want) in &cases {
        let c = Chain {
            ovs: &ovs,
            file: file.clone(),
            up: false,
        };
        let out = c.output(&["up"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", file.display());
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "{want}: {err}");
        assert_eq!(
            snapshot(&ovs, "ovs-br0"),
            before,
            "{} changed something",
            file.display()
        );
    }
    // Nor does a down of the copy (never up) take series3's things.
    let c = Chain {
        ovs: &ovs,
        file: copy,
        up: false,
    };
    let out = c.output(&["down"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(snapshot(&ovs, "ovs-br0"), before, "down of the copy");
    series_exchange(&dir, &series, 30, 30);
    series.down();
    assert_series3_torn_down(&ovs);
}

#[test]
fn chain_survives_a_vswitchd_restart() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-restart");
    let ovs = Ovs::start_switch();
    let mut chain = Chain::up(&ovs, &chain_file("series3"));
    ping_and_pin(SERIES_A, SERIES_B);
    series_exchange(&dir, &chain, 40, 40);
    // The groups as a set: OVS lists them in no fixed order (hash order
    // after re-adding), and the reply's first line carries a transaction id.
    let groups = |ovs: &Ovs| {
        let text = ovs_tool(
            ovs,
            "ovs-ofctl",
            &["-O", "OpenFlow13", "dump-groups", "ovs-br0"],
        );
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("group_id="))
            .map(|l| l.trim().to_owned())
            .collect();
        lines.sort();
        lines
    };
    let flows = |ovs: &Ovs| {
        ovs_tool(
            ovs,
            "ovs-ofctl",
            &["-O", "OpenFlow13", "--no-stats", "dump-flows", "ovs-br0"],
        )
        .lines()
        .count()
    };
    let (groups_before, flows_before) = (groups(&ovs), flows(&ovs));
    assert!(
        groups_before.iter().any(|g| g.contains("type=ff")),
        "{groups_before:?}"
    );

    // A datagram every 4 ms from a to b while ovs-vswitchd restarts: the
    // longest time between two arrivals is the outage the traffic saw.
    let mut outages = Vec::new();
    for round in 0..3 {
        let pid = vswitchd_pid(&ovs);
        let mut restart = Duration::ZERO;
        let before = chain.counters();
        let run = udp_during(&dir, SERIES_A, SERIES_B, (2500, 4), || {
            // Restart once the stream crosses the chain.
            let end = Instant::now() + Duration::from_secs(10);
            while chain.counters().since(&before).ports["s3-out-b"][1] < 50 {
                assert!(Instant::now() < end, "no traffic before the restart");
                std::thread::sleep(Duration::from_millis(100));
            }
            let t0 = Instant::now();
            ovs.restart_vswitchd();
            restart = t0.elapsed();
        });
        assert_ne!(vswitchd_pid(&ovs), pid, "vswitchd restarted");
        let gap = run
            .times
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0, f64::max);
        let last = run.times.last().copied().unwrap_or_default();
        eprintln!(
            "round {round}: ovs-start --vswitchd-only took {restart:.2?}; {} of 2500 datagrams arrived; \
             longest gap {:.0} ms",
            run.datagrams,
            gap * 1000.0
        );
        // Traffic resumed: the stream's tail arrived after the gap.
        assert!(run.datagrams > 2500 / 2, "{} arrived", run.datagrams);
        assert!(gap > 0.05, "the restart stopped the traffic a while");
        assert!(
            run.times.iter().any(|t| last - t < 1.0) && gap < 30.0,
            "traffic resumed"
        );
        outages.push(gap * 1000.0);
    }
    outages.sort_by(f64::total_cmp);
    eprintln!(
        "outage across a vswitchd restart (ms): {outages:.0?}, median {:.0}",
        outages[outages.len() / 2]
    );
    assert_eq!(groups(&ovs), groups_before, "groups after the restarts");
    assert_eq!(flows(&ovs), flows_before, "flows after the restarts");
    // Exact counts at every hop after the restarts (OVS's counters restarted from zero).
    series_exchange(&dir, &chain, 60, 25);
    chain.down();
    assert_series3_torn_down(&ovs);
}

/// `bytes` over one TCP connection from `from` to `to`, as fast as it goes.
fn tcp(dir: &TempDir, from: Host, to: Host, bytes: u64) -> f64 {
    let probe = probe_script().display().to_string();
    let recv_args = strings(&[
        "netns", "exec", to.netns, "python3", &probe, "tcp-recv", UDP_PORT, "60",
    ]);
    let mut receiver = Proc::spawn(dir, "tcp-recv", Path::new("ip"), &recv_args, None);
    assert!(
        receiver.wait_for_output("ready", Duration::from_secs(10)),
        "receiver did not start\n{}",
        receiver.output()
    );
    let n = bytes.to_string();
    let sender = in_netns(
        from.netns,
        &["python3", &probe, "tcp-send", to.ip, UDP_PORT, &n],
    );
    assert!(sender.status.success(), "{}", output_text(&sender));
    assert!(
        receiver.wait_timeout(Duration::from_secs(60)).is_some(),
        "receiver did not finish\n{}",
        receiver.output()
    );
    let (sent, got) = (
        probe_json(&String::from_utf8_lossy(&sender.stdout)),
        probe_json(&receiver.out()),
    );
    assert_eq!(got["bytes"].as_u64(), Some(bytes), "bytes received");
    sent["seconds"].as_f64().unwrap()
}

#[test]
fn tap_sees_every_frame_of_a_tcp_transfer() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-tap-tcp");
    let (a, b) = (
        Host {
            netns: "pv-host-a",
            ip: "198.18.2.1",
        },
        Host {
            netns: "pv-host-b",
            ip: "198.18.2.2",
        },
    );
    let ovs = Ovs::start_switch();
    // passive.toml as shipped: the tap in a container, with its default rings.
    let mut chain = Chain::up(&ovs, &chain_file("passive"));
    ping_and_pin(a, b);
    const BYTES: u64 = 20_000_000;
    for run in 0..5 {
        let before = chain.quiet_counters();
        let secs = tcp(&dir, a, b, BYTES);
        // Every frame that entered from outside, the tap received once.
        let entered = |d: &Hops| d.ports["pv-out-a"][0] + d.ports["pv-out-b"][0];
        let d = chain.settle(&before, |d| {
            d.vnfs.get(&("waf".into(), 0)).map(|v| v[0]) == Some(entered(d))
        });
        let frames = entered(&d);
        let tap = d.vnfs[&("waf".into(), 0)];
        let port = d.ports["passive-waf-p0"];
        eprintln!(
            "run {run}: {BYTES} bytes in {secs:.2} s ({:.0} Mbit/s), {frames} frames; the tap received {} \
             ({:.2} %), OVS sent it {} and dropped {}; the tap's own tx drops {}",
            BYTES as f64 * 8.0 / secs / 1e6,
            tap[0],
            tap[0] as f64 * 100.0 / frames as f64,
            port[1],
            port[2],
            tap[2]
        );
        assert!(frames > BYTES / 1500, "{d:#?}");
        assert_eq!(tap[0], frames, "tap rx: {d:#?}");
        assert_eq!((port[1], port[2]), (frames, 0), "OVS to the tap: {d:#?}");
    }
    chain.down();
    assert_torn_down(
        &ovs,
        "passive",
        &[a.netns, b.netns],
        &["pv-out-a", "pv-out-b"],
        &["waf"],
    );
}

/// What a stream a -> b and a ping a -> b saw while an action ran on the chain.
struct Outage {
    /// Datagrams sent and received.
    sent: usize,
    received: usize,
    /// The longest time between two datagrams' arrivals, ms.
    gap_ms: f64,
    /// Pings (every 20 ms) sent and answered.
    pings: (u32, u32),
    /// How long the action took.
    took: Duration,
}

/// `count` datagrams a -> b, 3 ms apart, and a ping every 20 ms, while
/// `action` runs (once the stream crosses the chain).
fn under_stream(dir: &TempDir, chain: &Chain, count: usize, action: impl FnOnce()) -> Outage {
    let before = chain.counters();
    let mut ping = None;
    let (mut took, mut done_at) = (Duration::ZERO, 0.0);
    let run = udp_during(dir, SERIES_A, SERIES_B, (count, 3), || {
        wait_until(
            "the stream crosses the chain",
            Duration::from_secs(10),
            || match chain.counters().since(&before).ports["s3-out-b"][1] {
                n if n >= 50 => Ok(()),
                n => Err(format!("{n} frames out of s3-out-b")),
            },
            String::new,
        );
        let args = strings(&[
            "netns",
            "exec",
            SERIES_A.netns,
            "ping",
            "-i",
            "0.02",
            SERIES_B.ip,
        ]);
        let p = Proc::spawn(dir, "ping", Path::new("ip"), &args, None);
        let t0 = Instant::now();
        action();
        took = t0.elapsed();
        done_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        std::thread::sleep(Duration::from_millis(300));
        p.signal(libc::SIGINT);
        ping = Some(p);
    });
    let mut ping = ping.unwrap();
    assert!(
        ping.wait_timeout(Duration::from_secs(5)).is_some(),
        "ping did not stop"
    );
    let text = ping.out();
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("ping output:\n{}", ping.output()));
    let number = |i: usize| -> u32 {
        summary
            .split(", ")
            .nth(i)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        run.times.last().is_some_and(|&t| t > done_at),
        "the stream outlasted the action (it took {took:.1?})"
    );
    Outage {
        sent: run.sent_frames.len(),
        received: run.datagrams,
        gap_ms: run
            .times
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0, f64::max)
            * 1000.0,
        pings: (number(0), number(1)),
        took,
    }
}

#[test]
fn restart_vnf_loses_no_frame() {
    let _lock = dpdk_lock();
    images();
    let dir = TempDir::new("chain-restart-vnf");
    let ovs = Ovs::start_switch();
    let mut chain = Chain::up(&ovs, &chain_file("series3"));
    ping_and_pin(SERIES_A, SERIES_B);
    const N: usize = 3000;
    // ips (on_down = "stop": nothing goes around it) and waf (bypass: its
    // neighbours reach it through groups), each twice: the second instance
    // has new names (-q0/-q1), the third the first's again.
    // The third is an upgrade: another image (here the same one under another name).
    let upgrade = format!("{}-upgrade", docker::image("vnf-fwd"));
    let out = docker(&["tag", &docker::image("vnf-fwd"), &upgrade]);
    assert!(out.status.success(), "{}", output_text(&out));
    for (round, vnf) in ["ips", "waf", "ips", "waf"].iter().enumerate() {
        let o = under_stream(&dir, &chain, N, || {
            let out = if round == 2 {
                chain.run(&["restart-vnf", vnf, "--image", &upgrade])
            } else {
                chain.run(&["restart-vnf", vnf])
            };
            eprint!("{out}");
        });
        eprintln!(
            "restart-vnf {vnf} (round {round}) took {:.1?}: {} of {} datagrams arrived, longest gap {:.0} ms; \
             pings answered {} of {}",
            o.took, o.received, o.sent, o.gap_ms, o.pings.1, o.pings.0
        );
        assert_eq!(
            (o.sent, o.received),
            (N, N),
            "restart-vnf {vnf} lost frames"
        );
        assert_eq!(o.pings.1, o.pings.0, "restart-vnf {vnf}: a ping lost");
        if round == 0 {
            let c = chain.counters();
            let link = |p: &str| c.links.get(p).map(String::as_str);
            assert_eq!(link("series3-ips-q0"), Some("up"), "{c:#?}");
            assert_eq!(link("series3-ips-p0"), None, "old ports removed: {c:#?}");
        }
    }
    let out = docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}}",
        "vnf-chain-series3-ips",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        upgrade,
        "ips upgraded"
    );
    // The same stream across stop-vnf and start-vnf, for contrast.
    let o = under_stream(&dir, &chain, N, || {
        chain.run(&["stop-vnf", "ips"]);
        chain.run(&["start-vnf", "ips"]);
    });
    eprintln!(
        "stop-vnf + start-vnf ips took {:.1?}: {} of {} datagrams arrived ({} lost), \
         longest gap {:.0} ms; pings answered {} of {}",
        o.took,
        o.received,
        o.sent,
        o.sent - o.received,
        o.gap_ms,
        o.pings.1,
        o.pings.0
    );
    assert!(o.received < o.sent, "a stop loses frames");
    // Every hop counts each frame once on the instances now up; and after a
    // restore (what a vswitchd restart re-adds) too.
    series_exchange(&dir, &chain, 30, 20);
    chain.run(&["restore"]);
    series_exchange(&dir, &chain, 20, 30);
    chain.down();
    docker(&["rmi", &upgrade]);
    assert_series3_torn_down(&ovs);
}

#[test]
fn restart_vnf_of_a_host_process() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("chain-restart-process");
    // passive.toml with its tap as a host process of the binary under test.
    let text = std::fs::read_to_string(chain_file("passive")).unwrap();
    let process = text.replacen(
        "[[tap]]\n",
        &format!(
            "[[tap]]\nrun = \"process\"\nbinary = \"{}\"\n",
            vnf_fwd().display()
        ),
        1,
    );
    let file = dir.join("passive.toml");
    std::fs::write(&file, process).unwrap();
    let (a, b) = (
        Host {
            netns: "pv-host-a",
            ip: "198.18.2.1",
        },
        Host {
            netns: "pv-host-b",
            ip: "198.18.2.2",
        },
    );
    let ovs = Ovs::start_switch();
    let mut chain = Chain::up(&ovs, &file);
    ping_and_pin(a, b);
    let refused = chain.output(&["restart-vnf", "waf", "--image", "x"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("--image is for containers"), "{err}");
    // Twice: the second instance's names, then the first's again; each time
    // the old instance's DPDK files go and the tap gets its copies.
    for (port, prefix, old) in [
        ("passive-waf-q0", "passive-waf-q", "passive-waf"),
        ("passive-waf-p0", "passive-waf", "passive-waf-q"),
    ] {
        eprint!("{}", chain.run(&["restart-vnf", "waf"]));
        assert!(runtime_dir(prefix).exists(), "{prefix} runs");
        assert_no_leftovers(old);
        let d = exchange(&dir, &chain, (a, b), (30, 20), intact, Through::Tap, |d| {
            d.vnfs.get(&("waf".into(), 0)) == Some(&[50, 50, 0])
        });
        assert_eq!(d.ports.get(port), Some(&[50, 50, 0, 50]), "{d:#?}");
    }
    chain.down();
    assert_torn_down(
        &ovs,
        "passive",
        &[a.netns, b.netns],
        &["pv-out-a", "pv-out-b"],
        &["waf", "waf-q"],
    );
}
