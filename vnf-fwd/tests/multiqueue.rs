//! `--rxq/--txq`: two lcores sharing two queues of each port, on net_null
//! (RSS), on virtio_user through a testpmd vhost switch with two queues, and
//! through OVS-DPDK with hash tx steering. Every lane must carry frames, and
//! the counters must add up per lane, per lcore and per port.

mod common;

use common::ovs::Ovs;
use common::*;
use std::time::Duration;

/// Two lcores, two rx and two tx queues per port, each lcore one queue of both ports.
const TWO_QUEUES: [&str; 8] = ["-p", "0x3", "-q", "2", "--rxq", "2", "--txq", "2"];

/// One line of the per-lane block at exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LaneLine {
    lcore: u32,
    rx_port: u16,
    rx_queue: u16,
    tx_port: u16,
    tx_queue: u16,
    received: u64,
    sent: u64,
    dropped: u64,
}

/// The numbers of `line` in order (words that parse as integers, ':' and ','
/// stripped).
fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.trim_end_matches([':', ',']).parse().ok())
        .collect()
}

/// `Lcore L: RX port P queue Q -> TX port P queue Q: received N, sent N, dropped N`.
fn lane_lines(out: &str) -> Vec<LaneLine> {
    out.lines()
        .filter(|l| l.starts_with("Lcore ") && l.contains(" -> TX port "))
        .map(|l| match numbers(l)[..] {
            [lcore, rx_port, rx_queue, tx_port, tx_queue, received, sent, dropped] => LaneLine {
                lcore: lcore as u32,
                rx_port: rx_port as u16,
                rx_queue: rx_queue as u16,
                tx_port: tx_port as u16,
                tx_queue: tx_queue as u16,
                received,
                sent,
                dropped,
            },
            _ => panic!("bad lane line: {l}"),
        })
        .collect()
}

/// `Lcore L: received N, sent N, dropped N`.
fn lcore_lines(out: &str) -> Vec<(u32, [u64; 3])> {
    out.lines()
        .filter(|l| l.starts_with("Lcore ") && l.contains(": received ") && !l.contains("->"))
        .map(|l| match numbers(l)[..] {
            [lcore, received, sent, dropped] => (lcore as u32, [received, sent, dropped]),
            _ => panic!("bad lcore line: {l}"),
        })
        .collect()
}

/// Checks vnf-fwd's exit output for `ports` ports with two queues each on
/// lcores 0 and 1: every lane carried frames and lost none without counting
/// it, the lcore sums are their lanes', the port sums (l2fwd's block) are
/// theirs too, and no tx queue is used by two lanes.
fn assert_queues_add_up(out: &str, ports: u16) {
    let lanes = lane_lines(out);
    assert_eq!(lanes.len(), usize::from(ports) * 2, "{out}");
    for l in &lanes {
        assert!(l.received > 0, "lane carried nothing: {l:?}\n{out}");
        assert_eq!(l.received, l.sent + l.dropped, "{l:?}");
        // Queue by queue: lcore 0 polls queue 0 of every port, lcore 1 queue 1.
        assert_eq!(u32::from(l.rx_queue), l.lcore, "{l:?}");
    }
    let mut tx_queues: Vec<(u16, u16)> = lanes.iter().map(|l| (l.tx_port, l.tx_queue)).collect();
    tx_queues.sort_unstable();
    tx_queues.dedup();
    assert_eq!(tx_queues.len(), lanes.len(), "a tx queue used twice\n{out}");

    let lcores = lcore_lines(out);
    assert_eq!(
        lcores.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [0, 1],
        "{out}"
    );
    for (lcore, [received, sent, dropped]) in &lcores {
        let mine = lanes.iter().filter(|l| l.lcore == *lcore);
        assert_eq!(*received, mine.clone().map(|l| l.received).sum::<u64>());
        assert_eq!(*sent, mine.clone().map(|l| l.sent).sum::<u64>());
        assert_eq!(*dropped, mine.map(|l| l.dropped).sum::<u64>());
        assert!(*received > 0, "lcore {lcore} forwarded nothing\n{out}");
        assert_eq!(*received, sent + dropped, "lcore {lcore}");
    }

    for (port, [sent, received, dropped]) in final_port_stats(out) {
        let into = lanes.iter().filter(|l| l.tx_port == port);
        assert_eq!(
            sent,
            into.clone().map(|l| l.sent).sum::<u64>(),
            "port {port}"
        );
        assert_eq!(dropped, into.map(|l| l.dropped).sum::<u64>(), "port {port}");
        let from = lanes.iter().filter(|l| l.rx_port == port);
        assert_eq!(
            received,
            from.map(|l| l.received).sum::<u64>(),
            "port {port}"
        );
    }
}

#[test]
fn two_lcores_share_two_rss_queues_of_net_null() {
    let _lock = dpdk_lock();
    let mut app = TWO_QUEUES.to_vec();
    app.extend(["-T", "0", "--mode", "macswap"]);
    let out = forward_for("mq-null", "0@0,1@1", 2, &app, 2);
    for line in [
        "Lcore 0: RX port 0 TX port 1 (rx queue 0, tx queue 0)",
        "Lcore 0: RX port 1 TX port 0 (rx queue 0, tx queue 0)",
        "Lcore 1: RX port 0 TX port 1 (rx queue 1, tx queue 1)",
        "Lcore 1: RX port 1 TX port 0 (rx queue 1, tx queue 1)",
        "Port 0: RSS over 2 rx queues",
        "Port 1: RSS over 2 rx queues",
    ] {
        assert!(out.contains(line), "missing '{line}'\n{out}");
    }
    assert!(!out.contains("offer no RSS"), "{out}");
    assert_queues_add_up(&out, 2);
}

/// A virtio_user vdev with two queue pairs and rings as deep as vnf-fwd's:
/// on a shared CPU the apps sleep for milliseconds, and virtio_user's
/// default 256 slots can overflow meanwhile.
fn two_queue_vdev(n: usize, path: &str, extra: &str) -> String {
    format!("net_virtio_user{n},path={path},queues=2,queue_size=1024{extra}")
}

#[test]
fn two_queues_through_a_testpmd_vhost_switch() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("mq-vhost");
    let sock = |n: usize| vhost::socket(&dir, n);
    // The switch: testpmd io-forwards rx queue q of a vhost port to tx queue q
    // of its pair (0<->1, 2<->3), so the queue a frame leaves the generator
    // on is the queue it reaches vnf-fwd on.
    let vdevs: Vec<String> = (0..4)
        .map(|n| format!("{},queues=2", vhost::vhost_vdev(&dir, n)))
        .collect();
    let switch = vhost::start_with(&dir, "switch", &vdevs, &["--rxq=2", "--txq=2"]);

    let fwd_prefix = format!("vnfmq-fwd-{}", std::process::id());
    let vdevs = [
        two_queue_vdev(0, &sock(1), ""),
        two_queue_vdev(1, &sock(3), ""),
    ];
    let eal = eal_args(&fwd_prefix, "0@0,1@1", &vdevs);
    let app = [&TWO_QUEUES[..], &["-T", "0", "--mode", "macswap"]].concat();
    let mut fwd = start_fwd(&dir, "fwd", &fwd_prefix, &eal, &app);

    let gen_vdevs = [
        two_queue_vdev(0, &sock(0), ""),
        two_queue_vdev(1, &sock(2), ""),
    ];
    let gen = run_gen(
        &dir,
        "gen",
        &gen_vdevs,
        &[
            "--rate", "10000pps", "--count", "0:1000", "--count", "1:2000", "--queues", "2",
            "--flows", "16",
        ],
    );
    let want = [
        GenPort {
            sent: 1000,
            received: 2000,
            lost: 0,
        },
        GenPort {
            sent: 2000,
            received: 1000,
            lost: 0,
        },
    ];
    assert_eq!(gen, want, "{}", fwd.output());
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    let out = fwd.out();
    assert_eq!(
        final_port_stats(&out),
        vec![(0, [2000, 1000, 0]), (1, [1000, 2000, 0])]
    );
    // virtio_user over vhost-user has no RSS: said once, queues set up anyway.
    assert_eq!(out.matches("offer no RSS").count(), 1, "{out}");
    assert_queues_add_up(&out, 2);
    assert_no_leftovers(&fwd_prefix);
    drop(switch);
}

#[test]
fn two_queues_through_ovs_dpdk_with_hash_tx_steering() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("mq-ovs");
    // dpdkvhostuserclient ports (the apps are servers), so OVS counts per port.
    let ovs = Ovs::start("client");
    // A vhost-user port gets as many queues as the app's vdev asks for; with
    // one PMD thread, OVS sends on one of them unless it hashes the 5-tuple.
    let ports = ovs.script("ovs-ports", &["--kind", "client", "--tx-steering", "hash"]);
    assert!(ports.contains("tx-steering=hash"), "{ports}");
    let vdev = |n: usize, queues: bool| {
        let mac = format!(",mac=00:00:00:00:00:0{n},server=1");
        if queues {
            two_queue_vdev(n, &ovs.socket(n), &mac)
        } else {
            format!(
                "net_virtio_user{n},path={}{mac},queue_size=1024",
                ovs.socket(n)
            )
        }
    };

    let fwd_prefix = format!("vnfmq-ovsfwd-{}", std::process::id());
    let eal = eal_args(&fwd_prefix, "0@0,1@0", &[vdev(2, true), vdev(3, true)]);
    let app = [&TWO_QUEUES[..], &["-T", "0"]].concat();
    let mut fwd = start_fwd(&dir, "fwd", &fwd_prefix, &eal, &app);
    std::thread::sleep(Duration::from_millis(500));

    // The write-up's session, its frames spread over 16 UDP flows.
    let gen = run_gen(
        &dir,
        "gen",
        &[vdev(0, false), vdev(1, false)],
        &[
            "--rate", "10", "--count", "0:100", "--count", "1:200", "--flows", "16",
        ],
    );
    if gen.iter().any(|p| p.lost > 0) {
        // Shown with the failure below: where the frames stopped.
        eprintln!("{}\n{:?}", fwd.output(), ovs.counters());
    }
    assert_session(&gen);
    ovs.assert_flows(1);
    let c = ovs.counters();
    assert_eq!(c.ports.get("vhost-user2"), Some(&(100, 200, 0)), "{c:?}");
    assert_eq!(c.ports.get("vhost-user3"), Some(&(200, 100, 0)), "{c:?}");

    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    let out = fwd.out();
    assert_eq!(
        final_port_stats(&out),
        vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
        "{out}"
    );
    assert_queues_add_up(&out, 2);
    assert_no_leftovers(&fwd_prefix);
}
