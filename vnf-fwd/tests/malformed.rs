//! Frames on the wire that must not hurt the forwarder: runts of 0..13 bytes,
//! 9000-byte jumbo frames (multi-segment mbufs), VLAN and QinQ tags, IPv4,
//! IPv6, TCP and UDP headers cut short; through net_pcap and through
//! virtio_user. What comes out is exactly each frame as the engine rewrites
//! it whole (so only the first segment's header bytes change and every
//! segment is forwarded in order), what the engine refuses is dropped and
//! counted, and every mbuf is back in the pool at exit. Jumbo frames arrive
//! as mbuf chains, and leave only by ports that can send chains: virtio_user
//! offers multi-segment tx and sends them whole; net_pcap does not, so
//! vnf-fwd drops them before tx and counts them, never sending half a frame.

mod common;

use common::frames::*;
use common::*;
use std::time::Duration;
use vnf_fwd::config::mac::fmt_mac;
use vnf_fwd::engine::{Engine, FiveTupleSwap, Io, L2fwdMac, MacSwap};

/// Overwrites `frame` from byte 64 on with bytes that never repeat at a
/// segment-sized period (the counting pattern of `frames` repeats every 256
/// bytes), so a lost, repeated or reordered segment shows.
fn scramble_payload(mut frame: Vec<u8>, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    for b in frame.iter_mut().skip(64) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    frame
}

/// An mbuf's data room (DPDK's default): longer frames arrive as mbuf chains.
const MBUF_DATA_ROOM: usize = 2048;

/// Whether net_pcap's rx hands `frame` over as an mbuf chain.
fn is_chain(frame: &[u8]) -> bool {
    frame.len() > MBUF_DATA_ROOM
}

/// Jumbo frames (9000 bytes, tagged and not), standard and short frames,
/// runts of every length below 14, and headers cut short.
fn hostile_input() -> Vec<Vec<u8>> {
    let mut v = vec![
        scramble_payload(ipv4_udp(9000), 1),
        scramble_payload(vlan_ipv4_udp(9000), 2),
        scramble_payload(qinq_ipv4_tcp(9000), 3),
        scramble_payload(ipv6_tcp(9000), 4),
        scramble_payload(ipv4_options_udp(4097), 5),
        ipv4_udp(64),
        vlan_ipv4_udp(64),
        qinq_ipv4_tcp(200),
        ipv6_udp(1518),
        ipv4_udp(14),
        ipv4_udp(30),      // IPv4 header cut short
        ipv4_tcp(36),      // TCP ports cut short
        ipv6_tcp(50),      // IPv6 header cut short
        vlan_ipv4_udp(16), // VLAN tag cut short
        qinq_ipv4_tcp(40), // IPv4 under QinQ cut short
    ];
    v.extend((0..14).map(runt));
    v
}

/// What the forwarder must send for `input`: each frame rewritten whole by
/// `engine`, those it refuses (runts, except for io) dropped.
fn expected(input: &[Vec<u8>], engine: &impl Engine) -> Vec<Vec<u8>> {
    input
        .iter()
        .filter_map(|f| {
            let mut f = f.clone();
            engine.rewrite(&mut f).then_some(f)
        })
        .collect()
}

/// MAC DPDK's net_pcap gives port 1, the tx port of the frames read on port 0.
const PCAP_MAC_1: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x01];

/// Compares frame by frame, so a failure names the frame rather than dumping 50 KB.
fn assert_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: frame count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: frame {i} length");
        if let Some(at) = g.iter().zip(w).position(|(a, b)| a != b) {
            panic!(
                "{what}: frame {i} ({} bytes) differs from byte {at}",
                w.len()
            );
        }
    }
}

/// vnf-fwd's exit: status 0, every mbuf returned, counters that add up for
/// `received` frames read on port 0 and `forwarded` to port 1, `chained` of
/// the others dropped as mbuf chains port 1 cannot send.
fn assert_clean_exit(fwd: &mut Proc, received: usize, forwarded: usize, chained: usize) {
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    let out = fwd.out();
    assert!(out.contains("Mbufs not returned to the pool: 0\n"), "{out}");
    if chained > 0 {
        let line = format!(
            "Port 1: {chained} multi-segment frames dropped (the port cannot send mbuf chains)\n"
        );
        assert!(out.contains(&line), "{out}");
    } else {
        assert!(!out.contains("multi-segment frames dropped"), "{out}");
    }
    let stats = final_port_stats(&out);
    let dropped = (received - forwarded) as u64;
    assert_eq!(
        stats,
        vec![
            (0, [0, received as u64, 0]),
            (1, [forwarded as u64, 0, dropped])
        ],
        "{out}"
    );
}

/// Runs vnf-fwd in `mode` on two pcap ports, `input` on port 0's rx.
fn through_pcap(mode: &str, engine: &impl Engine) {
    let _lock = dpdk_lock();
    let dir = TempDir::new(&format!("malformed-pcap-{mode}"));
    let input = hostile_input();
    pcap::write(&dir.join("in0.pcap"), &input);
    pcap::write(&dir.join("in1.pcap"), &[]);
    let prefix = format!("vnfbad-pcap-{mode}-{}", std::process::id());
    let vdevs: Vec<String> = (0..2)
        .map(|i| {
            format!(
                "net_pcap{i},rx_pcap={},tx_pcap={}",
                dir.join(&format!("in{i}.pcap")).display(),
                dir.join(&format!("out{i}.pcap")).display()
            )
        })
        .collect();
    let mut args = eal_args(&prefix, "0@0", &vdevs);
    args.extend(strings(&[
        "--", "-p", "0x3", "-q", "2", "-T", "0", "--mode", mode,
    ]));
    let mut fwd = Proc::spawn(&dir, "fwd", &vnf_fwd(), &args, Some(&prefix));
    assert!(
        fwd.wait_for_output("entering main loop", Duration::from_secs(20)),
        "{}",
        fwd.output()
    );
    wait_received(&fwd, &prefix, &[input.len(), 0]);
    // net_pcap cannot send chains: the jumbo frames are dropped, and counted.
    let (chains, single): (Vec<_>, Vec<_>) = input.iter().cloned().partition(|f| is_chain(f));
    assert_eq!(chains.len(), 5, "the input's jumbo frames");
    let want = expected(&single, engine);
    assert_clean_exit(&mut fwd, input.len(), want.len(), chains.len());
    assert_frames(&pcap::read(&dir.join("out1.pcap")), &want, mode);
    assert_no_leftovers(&prefix);
}

#[test]
fn hostile_frames_through_net_pcap_l2fwd() {
    through_pcap("l2fwd", &L2fwdMac::new(1, PCAP_MAC_1));
}

#[test]
fn hostile_frames_through_net_pcap_macswap() {
    through_pcap("macswap", &MacSwap);
}

#[test]
fn hostile_frames_through_net_pcap_5tswap() {
    through_pcap("5tswap", &FiveTupleSwap);
}

#[test]
fn hostile_frames_through_net_pcap_io() {
    // io forwards runts too: it needs no header.
    through_pcap("io", &Io);
}

/// Runs vnf-fwd in `mode` on two virtio_user ports. The switch, dpdk-testpmd,
/// bridges pcap and vhost-user: its port 0 (pcap, `input`) pairs with port 1
/// (vhost0, vnf-fwd's port 0), port 2 (vhost1, vnf-fwd's port 1) with port 3
/// (pcap, written to `out.pcap`).
fn through_virtio_user(mode: &str, engine: &impl Engine) {
    let _lock = dpdk_lock();
    let dir = TempDir::new(&format!("malformed-virtio-{mode}"));
    let input = hostile_input();
    pcap::write(&dir.join("in.pcap"), &input);
    pcap::write(&dir.join("none.pcap"), &[]);
    let pcap_vdev = |n: usize, rx: &str, tx: &str| {
        format!(
            "net_pcap{n},rx_pcap={},tx_pcap={}",
            dir.join(rx).display(),
            dir.join(tx).display()
        )
    };
    let switch_vdevs = [
        pcap_vdev(0, "in.pcap", "back.pcap"),
        vhost::vhost_vdev(&dir, 0),
        vhost::vhost_vdev(&dir, 1),
        pcap_vdev(1, "none.pcap", "out.pcap"),
    ];
    // --no-flush-rx: `start` would otherwise drain the pcap input first.
    let mut switch = vhost::Interactive::start(&dir, "switch", &switch_vdevs, &["--no-flush-rx"]);

    let prefix = format!("vnfbad-virtio-{mode}-{}", std::process::id());
    let vdevs: Vec<String> = (0..2)
        .map(|n| {
            format!(
                "net_virtio_user{n},mac={},path={}",
                fmt_mac(virtio_mac(n as u8)),
                vhost::socket(&dir, n)
            )
        })
        .collect();
    let eal = eal_args(&prefix, "0@0", &vdevs);
    let app = ["-p", "0x3", "-q", "2", "-T", "0", "--mode", mode];
    let mut fwd = start_fwd(&dir, "fwd", &prefix, &eal, &app);
    switch.send("start");

    // virtio drops what is shorter than an Ethernet header before vnf-fwd
    // sees it (its rx path discards frames under 14 bytes), so vnf-fwd
    // receives every other frame and forwards what the engine accepts, jumbo
    // frames whole: virtio_user sends chains.
    let arrive: Vec<Vec<u8>> = input.iter().filter(|f| f.len() >= 14).cloned().collect();
    assert!(arrive.iter().any(|f| is_chain(f)));
    let want = expected(&arrive, engine);
    // Until all of it has left the switch's pcap port.
    wait_until(
        "the forwarded frames out of the switch's port 3",
        Duration::from_secs(30),
        || match ethdev_packets(&switch.prefix, 3)? {
            (_, sent) if sent == want.len() as u64 => Ok(()),
            (_, sent) => Err(format!("{sent} of {}", want.len())),
        },
        || format!("{}\n{}", fwd.output(), switch.proc.output()),
    );
    assert_clean_exit(&mut fwd, arrive.len(), want.len(), 0);
    assert_no_leftovers(&prefix);
    switch.send("quit");
    assert!(
        switch.proc.wait_timeout(Duration::from_secs(10)).is_some(),
        "{}",
        switch.proc.output()
    );
    assert_frames(&pcap::read(&dir.join("out.pcap")), &want, mode);
}

#[test]
fn hostile_frames_through_virtio_user_5tswap() {
    through_virtio_user("5tswap", &FiveTupleSwap);
}

#[test]
fn hostile_frames_through_virtio_user_l2fwd() {
    through_virtio_user("l2fwd", &L2fwdMac::new(1, virtio_mac(1)));
}

/// The MAC vnf-fwd's virtio_user port `n` is given.
fn virtio_mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0x1a, n]
}
