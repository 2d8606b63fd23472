//! Faults while forwarding: SIGTERM under full load, SIGKILL then an immediate
//! restart, the generator killed and restarted mid-run, and the switch
//! restarting under traffic (both vhost-user port kinds).

mod common;

use common::ovs::Ovs;
use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn vnf_gen() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vnf-gen"))
}

/// vnf-gen in the background on `vdevs`, prefix `vnfgen-<tag>-<pid>` (the
/// prefix `run_gen` gives the same tag), with `app` options plus `--json`.
fn spawn_gen(dir: &TempDir, tag: &str, vdevs: &[String], app: &[&str]) -> Proc {
    let prefix = format!("vnfgen-{tag}-{}", std::process::id());
    let mut args = eal_args(&prefix, "0@0", vdevs);
    args.push("--".into());
    args.extend(strings(app));
    args.push("--json".into());
    Proc::spawn(dir, &format!("{tag}-bg"), &vnf_gen(), &args, Some(&prefix))
}

/// Stops vnf-fwd with SIGTERM, checks it exits 0 and returns its final
/// per-port (sent, received, dropped).
fn stop_fwd(fwd: &mut Proc) -> Vec<(u16, [u64; 3])> {
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    assert!(!fwd.err().contains("PANIC"), "{}", fwd.output());
    final_port_stats(&fwd.out())
}

/// Counters that add up on a two-port forwarder: what one port received was
/// either sent or dropped by the other.
fn assert_consistent(stats: &[(u16, [u64; 3])], out: &str) {
    assert_eq!(stats.len(), 2, "{out}");
    for (i, (port, [_, received, _])) in stats.iter().enumerate() {
        let [sent, _, dropped] = stats[1 - i].1;
        assert_eq!(
            *received,
            sent + dropped,
            "port {port}: received {received}, other port sent {sent} + dropped {dropped}\n{out}"
        );
    }
}

/// vnf-fwd in the vhost loop: ports 0 and 1 on the switch's vhost1 and vhost3;
/// the generator's on vhost0 and vhost2.
fn loop_vdevs(dir: &TempDir, first: usize) -> Vec<String> {
    [first, first + 2]
        .iter()
        .enumerate()
        .map(|(i, &n)| format!("net_virtio_user{i},path={}", vhost::socket(dir, n)))
        .collect()
}

#[test]
fn sigterm_under_full_load_exits_within_a_second() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("fault-sigterm");
    let _switch = vhost::start_loop(&dir, "switch");
    let prefix = format!("vnffault-term-{}", std::process::id());
    let eal = eal_args(&prefix, "0@0", &loop_vdevs(&dir, 1));
    let mut fwd = start_fwd(
        &dir,
        "fwd",
        &prefix,
        &eal,
        &["-p", "0x3", "-q", "2", "-T", "1"],
    );
    // As fast as the generator can: 100 % of the reported link speed.
    let _gen = spawn_gen(
        &dir,
        "gen",
        &loop_vdevs(&dir, 0),
        &["--rate", "100", "--duration", "30"],
    );
    assert!(
        fwd.wait_for_output("Packets received:", Duration::from_secs(20)),
        "{}",
        fwd.output()
    );
    std::thread::sleep(Duration::from_secs(2));
    let t0 = Instant::now();
    fwd.signal(libc::SIGTERM);
    let st = fwd.wait_timeout(Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    println!("exit under load took {took:?}");
    let stats = final_port_stats(&fwd.out());
    assert!(
        stats
            .iter()
            .all(|(_, [sent, received, _])| *sent > 10_000 && *received > 10_000),
        "not under load\n{}",
        fwd.out()
    );
    assert_consistent(&stats, &fwd.out());
    assert_no_leftovers(&prefix);
}

/// SIGKILL leaves what a killed DPDK process leaves (its runtime directory,
/// with `--file-prefix` the hugepage files vnf-fwd already unlinked); the
/// same command line started right away must run and exit clean.
fn sigkill_then_restart(tag: &str, in_memory: bool) {
    let _lock = dpdk_lock();
    let dir = TempDir::new(tag);
    let prefix = format!("vnffault-{tag}-{}", std::process::id());
    let mut eal = strings(&["--no-pci", "--file-prefix", &prefix, "--lcores", "0@0,1@1"]);
    if in_memory {
        eal.push("--in-memory".into());
    }
    for i in 0..2 {
        eal.extend(["--vdev".to_string(), format!("net_null{i},no-rx=0")]);
    }
    let app = ["-p", "0x3", "-T", "0"];
    let mut first = start_fwd(&dir, "first", &prefix, &eal, &app);
    std::thread::sleep(Duration::from_millis(500));
    first.signal(libc::SIGKILL);
    let st = first.wait_timeout(Duration::from_secs(5)).expect("SIGKILL");
    assert_eq!(st.code(), None, "not killed\n{}", first.output());
    let files = hugepage_files(&prefix);
    assert!(
        files.is_empty(),
        "a killed run left hugepage files: {files:?}"
    );

    let mut second = start_fwd(&dir, "second", &prefix, &eal, &app);
    std::thread::sleep(Duration::from_secs(1));
    let stats = stop_fwd(&mut second);
    assert!(
        stats.iter().all(|(_, s)| s[0] > 1000 && s[1] > 1000),
        "{}",
        second.out()
    );
    assert_no_leftovers(&prefix);
    drop(second);
    drop(first);
}

#[test]
fn sigkill_then_immediate_restart_in_memory() {
    sigkill_then_restart("kill-inmem", true);
}

#[test]
fn sigkill_then_immediate_restart_with_file_prefix() {
    sigkill_then_restart("kill-prefix", false);
}

/// With `server=1` vnf-fwd owns the vhost-user sockets; a killed run leaves
/// their files, which must not stop the next run from listening, and the
/// switch (a vhost-user client) reconnects to the new run.
#[test]
fn sigkill_then_immediate_restart_with_server_sockets() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("kill-server");
    let switch_vdevs: Vec<String> = (0..2)
        .map(|n| format!("{},client=1", vhost::vhost_vdev(&dir, n)))
        .collect();
    let _switch = vhost::start(&dir, "switch", &switch_vdevs);
    let prefix = format!("vnffault-kill-server-{}", std::process::id());
    let vdevs: Vec<String> = (0..2)
        .map(|n| {
            format!(
                "net_virtio_user{n},path={},server=1",
                vhost::socket(&dir, n)
            )
        })
        .collect();
    let eal = eal_args(&prefix, "0@0", &vdevs);
    let app = ["-p", "0x3", "-q", "2", "-T", "0"];
    let mut first = start_fwd(&dir, "first", &prefix, &eal, &app);
    assert!(first.out().contains("Port 1 Link up"), "{}", first.output());
    first.signal(libc::SIGKILL);
    assert!(first.wait_timeout(Duration::from_secs(5)).is_some());
    let socket = vhost::socket(&dir, 0);
    assert!(
        std::path::Path::new(&socket).exists(),
        "no stale socket to test with"
    );

    let mut second = start_fwd(&dir, "second", &prefix, &eal, &app);
    let out = second.out();
    assert!(
        out.contains("Port 0 Link up") && out.contains("Port 1 Link up"),
        "{out}"
    );
    stop_fwd(&mut second);
    for n in 0..2 {
        let socket = vhost::socket(&dir, n);
        assert!(
            !std::path::Path::new(&socket).exists(),
            "{socket} left behind"
        );
    }
    assert_no_leftovers(&prefix);
    drop(second);
    drop(first);
}

#[test]
fn generator_killed_and_restarted_while_forwarding() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("fault-gen");
    let _switch = vhost::start_loop(&dir, "switch");
    let prefix = format!("vnffault-gen-{}", std::process::id());
    let eal = eal_args(&prefix, "0@0", &loop_vdevs(&dir, 1));
    let mut fwd = start_fwd(
        &dir,
        "fwd",
        &prefix,
        &eal,
        &["-p", "0x3", "-q", "2", "-T", "1"],
    );
    let gen_vdevs = loop_vdevs(&dir, 0);
    let mut gen = spawn_gen(
        &dir,
        "gen",
        &gen_vdevs,
        &["--rate", "20000pps", "--duration", "60"],
    );
    assert!(
        gen.wait_for_output("frames/s", Duration::from_secs(20)),
        "{}",
        gen.output()
    );
    std::thread::sleep(Duration::from_secs(2));
    gen.signal(libc::SIGKILL);
    assert!(gen.wait_timeout(Duration::from_secs(5)).is_some());
    // Same prefix, right away: the killed generator's runtime directory is
    // still there. A modest rate: vnf-fwd and the generator share CPU 0, and
    // a 256-slot virtio ring overflows while one waits for the other.
    let again = run_gen(
        &dir,
        "gen",
        &gen_vdevs,
        &[
            "--rate", "2000pps", "--count", "0:1000", "--count", "1:2000",
        ],
    );
    assert!(
        fwd.wait_timeout(Duration::ZERO).is_none(),
        "{}",
        fwd.output()
    );
    let stats = stop_fwd(&mut fwd);
    assert_eq!(
        again,
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
            },
        ],
        "{}",
        fwd.out()
    );
    assert_consistent(&stats, &fwd.out());
    // The killed run forwarded too: more than the second run's frames.
    assert!(
        stats[0].1[1] > 1000 + 10_000 && stats[1].1[1] > 2000 + 10_000,
        "{}",
        fwd.out()
    );
    assert_no_leftovers(&prefix);
}

/// The OVS-DPDK topology with traffic flowing when ovs-vswitchd restarts.
struct SwitchUnderLoad {
    dir: TempDir,
    ovs: Ovs,
    fwd: Proc,
    prefix: String,
}

fn ovs_vdev(n: usize, ovs: &Ovs, server: bool) -> String {
    let srv = if server { ",server=1" } else { "" };
    format!(
        "net_virtio_user{n},mac=00:00:00:00:00:0{n},path={}{srv}",
        ovs.socket(n)
    )
}

/// Starts OVS with `kind` ports, vnf-fwd on vhost-user2/3 (with `extra`
/// options) and a generator on vhost-user0/1, then restarts ovs-vswitchd
/// while frames flow.
fn restart_switch_under_load(kind: &str, extra: &[&str]) -> SwitchUnderLoad {
    let dir = TempDir::new(&format!("fault-ovs-{kind}"));
    let ovs = Ovs::start(kind);
    let server = kind == "client";
    let prefix = format!("vnffault-ovs-{kind}-{}", std::process::id());
    let eal = eal_args(
        &prefix,
        "0@0",
        &[ovs_vdev(2, &ovs, server), ovs_vdev(3, &ovs, server)],
    );
    let mut app = vec!["-p", "0x3", "-q", "2", "-T", "1"];
    app.extend(extra);
    let fwd = start_fwd(&dir, "fwd", &prefix, &eal, &app);
    let vdevs = [ovs_vdev(0, &ovs, server), ovs_vdev(1, &ovs, server)];
    let mut gen = spawn_gen(
        &dir,
        "gen1",
        &vdevs,
        &["--rate", "2000pps", "--duration", "6"],
    );
    assert!(
        gen.wait_for_output("frames/s", Duration::from_secs(20)),
        "{}",
        gen.output()
    );
    std::thread::sleep(Duration::from_secs(2));
    ovs.restart_vswitchd();
    // The generator does not reconnect by itself (it polls no link state):
    // it runs out its duration into a dead link and exits.
    assert!(
        gen.wait_timeout(Duration::from_secs(30)).is_some(),
        "{}",
        gen.output()
    );
    SwitchUnderLoad {
        dir,
        ovs,
        fwd,
        prefix,
    }
}

#[test]
fn switch_restart_under_traffic_with_server_mode_ports_resumes() {
    let _lock = dpdk_lock();
    let SwitchUnderLoad {
        dir,
        ovs,
        mut fwd,
        prefix,
    } = restart_switch_under_load("client", &[]);
    let wait_links = Instant::now() + Duration::from_secs(30);
    while fwd.out().matches("Link up at").count() < 4 && Instant::now() < wait_links {
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = fwd.out();
    assert!(
        out.matches("Link up at").count() >= 4,
        "links did not come back\n{out}"
    );
    assert!(out.contains("] Port 0 Link down"), "{out}");
    // A fresh generator (same prefix as a SIGKILLed one would have) through the restarted switch.
    let vdevs = [ovs_vdev(0, &ovs, true), ovs_vdev(1, &ovs, true)];
    assert_session(&run_gen(
        &dir,
        "gen2",
        &vdevs,
        &["--rate", "10", "--count", "0:100", "--count", "1:200"],
    ));
    let stats = stop_fwd(&mut fwd);
    assert_consistent(&stats, &fwd.out());
    // Frames of the first generator were forwarded before the restart.
    assert!(stats.iter().all(|(_, s)| s[1] > 1000), "{}", fwd.out());
    assert_no_leftovers(&prefix);
}

/// With `--reconnect-timeout 0`: the run ends at once, counters consistent
/// (`switch_restart_under_traffic_with_ovs_as_server_reattaches` has the default).
#[test]
fn switch_restart_under_traffic_with_ovs_as_server_exits_clearly() {
    let _lock = dpdk_lock();
    let SwitchUnderLoad {
        dir: _dir,
        ovs: _ovs,
        mut fwd,
        prefix,
    } = restart_switch_under_load("server", &["--reconnect-timeout", "0"]);
    let st = fwd
        .wait_timeout(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("vnf-fwd kept running into a dead switch\n{}", fwd.output()));
    assert_eq!(st.code(), Some(1), "{}", fwd.output());
    let last = fwd.err().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("vnf-fwd: error: port ") && last.contains("switch closed"),
        "{last}"
    );
    let out = fwd.out();
    assert!(out.contains("vhost-user switch gone from"), "{out}");
    let stats = final_port_stats(&out);
    assert!(stats.iter().all(|(_, s)| s[1] > 1000), "{out}");
    assert_consistent(&stats, &out);
    assert!(!fwd.err().contains("PANIC"), "{}", fwd.output());
    assert_no_leftovers(&prefix);
}

/// The default: frames flowing into both ports while the switch restarts;
/// the same process re-attaches them, forwards a fresh session, and its
/// counters (before, during and after) still add up, with no mbuf lost.
#[test]
fn switch_restart_under_traffic_with_ovs_as_server_reattaches() {
    let _lock = dpdk_lock();
    let SwitchUnderLoad {
        dir,
        ovs,
        mut fwd,
        prefix,
    } = restart_switch_under_load("server", &[]);
    fwd.wait_reattached(2);
    ovs.wait_links_up(&[2, 3], || fwd.output());
    let vdevs = [ovs_vdev(0, &ovs, false), ovs_vdev(1, &ovs, false)];
    assert_session(&run_gen(
        &dir,
        "gen2",
        &vdevs,
        &["--rate", "10", "--count", "0:100", "--count", "1:200"],
    ));
    let stats = stop_fwd(&mut fwd);
    assert_consistent(&stats, &fwd.out());
    assert!(stats.iter().all(|(_, s)| s[1] > 1000), "{}", fwd.out());
    assert!(
        fwd.out().contains("Mbufs not returned to the pool: 0"),
        "{}",
        fwd.out()
    );
    assert_no_leftovers(&prefix);
}
