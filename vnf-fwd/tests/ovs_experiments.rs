//! The write-up's two experiments on real OVS-DPDK, with both vhost-user
//! port kinds, switch restarts, and a missing socket. With 2 CPUs, OVS's PMD
//! thread holds CPU 1; the apps share CPU 0 and the rates stay modest:
//! these tests check counts, not speed.

mod common;

use common::ovs::Ovs;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The write-up's pktgen session: port 0 sends 100, port 1 sends 200, 10 % rate.
const SESSION: [&str; 6] = ["--rate", "10", "--count", "0:100", "--count", "1:200"];

fn vdev(n: usize, ovs: &Ovs, server: bool) -> String {
    let srv = if server { ",server=1" } else { "" };
    format!(
        "net_virtio_user{n},mac=00:00:00:00:00:0{n},path={}{srv}",
        ovs.socket(n)
    )
}

/// The forwarder on vhost-user2/3, started: forwarding, and attached to OVS.
fn start_forwarder(
    dir: &TempDir,
    ovs: &Ovs,
    forwarder: Forwarder,
    server: bool,
    app: &[&str],
) -> (Proc, String) {
    let tag = forwarder.tag();
    let prefix = format!("vnfovs-{tag}-{}", std::process::id());
    let mut args = eal_args(
        &prefix,
        "0@0,1@0,2@0",
        &[vdev(2, ovs, server), vdev(3, ovs, server)],
    );
    if forwarder == Forwarder::Testpmd {
        args.push("--single-file-segments".into());
    }
    args.push("--".into());
    args.extend(strings(app));
    let (program, args, ready) = match forwarder {
        Forwarder::VnfFwd => (vnf_fwd(), args, "entering main loop"),
        Forwarder::Testpmd => {
            let (program, args) = testpmd_command(&args);
            (program, args, "packet forwarding - ports")
        }
    };
    let mut p = Proc::spawn(dir, tag, &program, &args, Some(&prefix));
    assert!(
        p.wait_for_output(ready, Duration::from_secs(30)),
        "forwarder did not start\n{}",
        p.output()
    );
    ovs.wait_links_up(&[2, 3], || p.output());
    (p, prefix)
}

/// The forwarder under test: ours, or experiment 1's testpmd.
#[derive(Clone, Copy, PartialEq)]
enum Forwarder {
    VnfFwd,
    Testpmd,
}

impl Forwarder {
    fn tag(self) -> &'static str {
        match self {
            Forwarder::VnfFwd => "vnf-fwd",
            Forwarder::Testpmd => "dpdk-testpmd",
        }
    }
}

fn generate(dir: &TempDir, ovs: &Ovs, server: bool, tag: &str) -> Vec<GenPort> {
    run_gen(
        dir,
        tag,
        &[vdev(0, ovs, server), vdev(1, ovs, server)],
        &SESSION,
    )
}

/// Runs one experiment; returns the forwarder's stdout.
fn experiment(forwarder: Forwarder, kind: &str, app: &[&str]) -> String {
    let _lock = dpdk_lock();
    let dir = TempDir::new(&format!("exp-{kind}"));
    let ovs = Ovs::start(kind);
    let server = kind == "client";
    let (mut fwd, prefix) = start_forwarder(&dir, &ovs, forwarder, server, app);
    assert_session(&generate(&dir, &ovs, server, "gen"));
    ovs.assert_flows(1);
    if server {
        // OVS counts vhost rx/tx only on dpdkvhostuserclient ports: the
        // forwarder's ports (connected) agree with the flows, nothing dropped.
        let c = ovs.counters();
        assert_eq!(c.ports.get("vhost-user2"), Some(&(100, 200, 0)), "{c:?}");
        assert_eq!(c.ports.get("vhost-user3"), Some(&(200, 100, 0)), "{c:?}");
    }
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(
        st.is_some_and(|s| s.success()),
        "forwarder exit\n{}",
        fwd.output()
    );
    if forwarder == Forwarder::VnfFwd {
        let stats = final_port_stats(&fwd.out());
        assert_eq!(
            stats,
            vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
            "{}",
            fwd.out()
        );
        assert_no_leftovers(&prefix);
    }
    fwd.out()
}

#[test]
fn experiment2_vnf_fwd_ovs_as_server() {
    // -P: virtio_user without a control queue cannot do promiscuous mode,
    // which is a warning for vnf-fwd (DPDK's l2fwd exits).
    let out = experiment(Forwarder::VnfFwd, "server", &["-p", "0x3", "-P", "-T", "0"]);
    assert!(
        out.contains("Warning:") && out.contains("promiscuous"),
        "{out}"
    );
}

#[test]
fn experiment2_vnf_fwd_app_as_server() {
    experiment(Forwarder::VnfFwd, "client", &["-p", "0x3", "-T", "0"]);
}

const TESTPMD_APP: [&str; 5] = [
    "--burst=64",
    "--txd=2048",
    "--rxd=2048",
    "--stats-period",
    "3600",
];

#[test]
fn experiment1_testpmd_ovs_as_server() {
    experiment(Forwarder::Testpmd, "server", &TESTPMD_APP);
}

#[test]
fn experiment1_testpmd_app_as_server() {
    experiment(Forwarder::Testpmd, "client", &TESTPMD_APP);
}

/// Waits until `p`'s stdout has `needle` `count` times.
fn wait_count(p: &Proc, needle: &str, count: usize, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if p.out().matches(needle).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn switch_restart_with_server_mode_ports_resumes() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("restart-client");
    let ovs = Ovs::start("client");
    let (mut fwd, prefix) = start_forwarder(
        &dir,
        &ovs,
        Forwarder::VnfFwd,
        true,
        &["-p", "0x3", "-T", "0"],
    );
    assert_session(&generate(&dir, &ovs, true, "gen1"));
    ovs.restart_vswitchd();
    // Each link goes down with the switch and comes back, logged with a timestamp.
    assert!(
        wait_count(&fwd, "Link up at", 4, Duration::from_secs(30)),
        "links did not come back\n{}",
        fwd.output()
    );
    assert!(fwd.out().contains("] Port 0 Link down"), "{}", fwd.out());
    assert_session(&generate(&dir, &ovs, true, "gen2"));
    ovs.assert_flows(1); // the restarted switch counts from zero
    assert!(
        fwd.wait_timeout(Duration::ZERO).is_none(),
        "vnf-fwd died\n{}",
        fwd.output()
    );
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    assert!(!fwd.err().contains("PANIC"), "{}", fwd.output());
    let stats = final_port_stats(&fwd.out());
    assert_eq!(stats, vec![(0, [200, 400, 0]), (1, [400, 200, 0])]);
    assert_no_leftovers(&prefix);
    for n in [2, 3] {
        assert!(
            !Path::new(&ovs.socket(n)).exists(),
            "socket {n} left behind"
        );
    }
}

/// With `--reconnect-timeout 0`, a client port losing its switch ends the
/// run at once, as before re-attaching existed (tests/reattach.rs has the
/// default: the same process re-attaches and forwards on).
#[test]
fn switch_restart_with_ovs_as_server_is_reported_and_fatal() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("restart-server");
    let ovs = Ovs::start("server");
    let (mut fwd, prefix) = start_forwarder(
        &dir,
        &ovs,
        Forwarder::VnfFwd,
        false,
        &["-p", "0x3", "-T", "0", "--reconnect-timeout", "0"],
    );
    assert_session(&generate(&dir, &ovs, false, "gen1"));
    ovs.restart_vswitchd();
    let st = fwd.wait_timeout(Duration::from_secs(15));
    let st =
        st.unwrap_or_else(|| panic!("vnf-fwd kept running into a dead switch\n{}", fwd.output()));
    assert_eq!(st.code(), Some(1), "{}", fwd.output());
    let last = fwd.err().lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains("switch closed")
            && last.contains("vhost-user2")
            && last.contains("--reconnect-timeout 0"),
        "{last}"
    );
    assert!(fwd.out().contains("Final statistics"), "{}", fwd.out());
    assert_no_leftovers(&prefix);
}

#[test]
fn missing_socket_is_a_clear_error() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("nosock");
    let prefix = format!("vnfnosock-{}", std::process::id());
    let path = dir.join("no-such-switch/vhost-user2").display().to_string();
    let mut args = eal_args(&prefix, "0@0", &[format!("net_virtio_user2,path={path}")]);
    args.extend(strings(&["--", "-p", "0x1"]));
    let mut p = Proc::spawn(&dir, "nosock", &vnf_fwd(), &args, Some(&prefix));
    let st = p
        .wait_timeout(Duration::from_secs(20))
        .expect("hung on a missing socket");
    assert_eq!(st.code(), Some(1));
    let last = p.err().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("vnf-fwd: error: ") && last.contains(&path),
        "{last}"
    );
    assert_no_leftovers(&prefix);
}

/// `scripts/ovs-stop` removes OVS's own DPDK files only. OVS started with a
/// `DPDK_EXTRA` that names no `--file-prefix` gets one of its own (`ovs`), so
/// a bystander DPDK process on DPDK's default prefix (`rte`: its runtime
/// directory and its `rtemap_*` hugepage files) keeps them, and keeps running.
#[test]
fn ovs_stop_leaves_other_dpdk_processes_files_alone() {
    let _lock = dpdk_lock();
    let rte = runtime_dir("rte");
    assert!(
        !rte.exists() && hugepage_files("rtemap_").is_empty(),
        "{} or rtemap_* hugepage files exist before the test: another DPDK process runs without --file-prefix",
        rte.display()
    );
    let dir = TempDir::new("bystander");
    // testpmd without --file-prefix or --in-memory: files in /var/run/dpdk/rte
    // and one hugepage file per page; it forwards until its stdin closes.
    let args = strings(&[
        "--no-pci",
        "--lcores",
        "0@0,1@0",
        "-m",
        "64",
        "--vdev",
        "net_null0",
        "--",
        "--total-num-mbufs",
        "2048",
    ]);
    // Whatever happens from here on, the prefix-less files are removed once
    // the bystander is gone (dropped after it): a failed run must not fail
    // the next one.
    let _cleanup = RemoveOnDrop;
    let (program, args) = testpmd_command(&args);
    let mut bystander = Proc::spawn_with_stdin(
        &dir,
        "bystander",
        &program,
        &args,
        Some("rte"),
        std::process::Stdio::piped(),
    );
    // Its memory is all set up once it forwards (pools made, port started):
    // only then are its hugepage files the ones to compare after ovs-stop.
    assert!(
        bystander.wait_for_output("Press enter to exit", Duration::from_secs(30)),
        "bystander testpmd did not start forwarding\n{}",
        bystander.output()
    );
    assert!(
        rte.join("mp_socket").exists() && !hugepage_files("rtemap_").is_empty(),
        "bystander testpmd has no files in {} or no hugepage files\n{}",
        rte.display(),
        bystander.output()
    );
    let pages = hugepage_files("rtemap_");
    let env = [("DPDK_EXTRA", "--no-pci")];
    let ovs = Ovs::private_dir();
    let mut own_prefix = false;
    for script in ["ovs-start", "ovs-stop"] {
        let out = ovs.command_env(script, &[], &env);
        assert!(out.status.success(), "{script}: {out:?}");
        own_prefix |= runtime_dir("ovs").exists();
    }
    assert!(
        rte.join("config").exists() && rte.join("mp_socket").exists(),
        "ovs-stop removed the bystander's runtime directory"
    );
    assert_eq!(
        hugepage_files("rtemap_"),
        pages,
        "the bystander's hugepage files"
    );
    assert!(own_prefix, "OVS ran without a prefix of its own (ovs)");
    assert!(
        !runtime_dir("ovs").exists(),
        "ovs-stop left OVS's own files"
    );
    assert!(
        bystander.wait_timeout(Duration::ZERO).is_none(),
        "bystander died\n{}",
        bystander.output()
    );
    drop(bystander.child.stdin.take()); // EOF: testpmd stops and exits
    let st = bystander.wait_timeout(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "{}", bystander.output());
}

/// Removes what a prefix-less DPDK process leaves (`/var/run/dpdk/rte` and
/// `rtemap_*` hugepage files), on drop: the bystander test's, pass or fail.
struct RemoveOnDrop;

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(runtime_dir("rte"));
        for f in hugepage_files("rtemap_") {
            let _ = std::fs::remove_file(f);
        }
    }
}
