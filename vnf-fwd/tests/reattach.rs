//! Re-attach in place: virtio_user ports in client mode (OVS `dpdkvhostuser`)
//! come back in the same vnf-fwd process after an OVS restart, and
//! `--reconnect-timeout` bounds the wait for a switch that stays away.

mod common;

use common::ovs::Ovs;
use common::*;
use std::time::Duration;

/// The write-up's pktgen session: port 0 sends 100, port 1 sends 200, 10 % rate.
const SESSION: [&str; 6] = ["--rate", "10", "--count", "0:100", "--count", "1:200"];

/// `net_virtio_userN` on OVS's `vhost-userN` (OVS the server).
fn vdev(n: usize, ovs: &Ovs) -> String {
    format!(
        "net_virtio_user{n},mac=00:00:00:00:00:0{n},path={}",
        ovs.socket(n)
    )
}

/// vnf-fwd on vhost-user2/3 with `app` options, forwarding and attached.
fn start_forwarder(dir: &TempDir, ovs: &Ovs, tag: &str, app: &[&str]) -> (Proc, String) {
    let prefix = format!("vnfreattach-{tag}-{}", std::process::id());
    let eal = eal_args(&prefix, "0@0,1@0,2@0", &[vdev(2, ovs), vdev(3, ovs)]);
    let mut fwd = start_fwd(dir, tag, &prefix, &eal, app);
    assert!(
        fwd.wait_for_output("entering main loop", Duration::from_secs(30)),
        "vnf-fwd did not start\n{}",
        fwd.output()
    );
    ovs.wait_links_up(&[2, 3], || fwd.output());
    (fwd, prefix)
}

fn session(dir: &TempDir, ovs: &Ovs, tag: &str) {
    assert_session(&run_gen(dir, tag, &[vdev(0, ovs), vdev(1, ovs)], &SESSION));
}

#[test]
fn ovs_restart_with_dpdkvhostuser_ports_the_same_process_forwards_the_session() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("reattach-ovs");
    let ovs = Ovs::start("server");
    let (mut fwd, prefix) = start_forwarder(&dir, &ovs, "fwd", &["-p", "0x3", "-T", "0"]);
    session(&dir, &ovs, "gen1");
    ovs.assert_flows(1);

    ovs.restart_vswitchd();
    // Both ports re-attached (the lines are Rust's, flushed as printed), and
    // the restarted switch sees them connected.
    wait_until(
        "both ports re-attached",
        Duration::from_secs(30),
        || match fwd.out().matches("re-attached; lcores resumed").count() {
            2 => Ok(()),
            n => Err(format!("{n} re-attached")),
        },
        || fwd.output(),
    );
    ovs.wait_links_up(&[2, 3], || fwd.output());
    session(&dir, &ovs, "gen2");
    ovs.assert_flows(1); // the restarted switch counts from zero

    let out = fwd.out();
    for port in [0, 1] {
        // One timestamped line per step, each with its time.
        for step in [
            "vhost-user switch gone from",
            "vhost-user switch back at",
            "re-attach: lcores paused (",
            "re-attach: stop (",
            "re-attach: remove (",
            "re-attach: add (",
            "re-attach: configure (",
            "re-attach: start (",
            "re-attached; lcores resumed (",
        ] {
            assert!(
                out.contains(&format!("] Port {port}: {step}")),
                "port {port}: no {step:?} line\n{out}"
            );
        }
    }
    assert!(
        fwd.wait_timeout(Duration::ZERO).is_none(),
        "vnf-fwd died\n{}",
        fwd.output()
    );
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    assert!(!fwd.err().contains("PANIC"), "{}", fwd.output());
    // The counters carry on across the re-attach: both sessions, exactly.
    let stats = final_port_stats(&fwd.out());
    assert_eq!(
        stats,
        vec![(0, [200, 400, 0]), (1, [400, 200, 0])],
        "{}",
        fwd.out()
    );
    assert!(
        fwd.out().contains("Mbufs not returned to the pool: 0"),
        "{}",
        fwd.out()
    );
    assert_no_leftovers(&prefix);
}

#[test]
fn reconnect_timeout_expiry_exits_1_with_one_line() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("reattach-timeout");
    let ovs = Ovs::start("server");
    let (mut fwd, prefix) = start_forwarder(
        &dir,
        &ovs,
        "fwd-timeout",
        &["-p", "0x3", "-T", "0", "--reconnect-timeout", "2"],
    );
    session(&dir, &ovs, "gen1");
    // The switch goes and stays away.
    ovs.script("ovs-stop", &[]);
    let st = fwd
        .wait_timeout(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("vnf-fwd kept waiting past its timeout\n{}", fwd.output()));
    assert_eq!(st.code(), Some(1), "{}", fwd.output());
    let err = fwd.err();
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("vnf-fwd: error: port ")
            && last.contains("switch closed")
            && last.contains("did not come back within 2 s (--reconnect-timeout)"),
        "{last}"
    );
    assert!(!err.contains("PANIC"), "{}", fwd.output());
    let out = fwd.out();
    assert!(
        out.contains("waiting up to 2 s for it to come back"),
        "{out}"
    );
    assert_eq!(
        final_port_stats(&out),
        vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
        "{out}"
    );
    assert!(out.contains("Mbufs not returned to the pool: 0"), "{out}");
    assert_no_leftovers(&prefix);
}
