//! Re-attach in place: virtio_user ports in client mode (OVS `dpdkvhostuser`)
//! come back in the same vnf-fwd process after an OVS restart, and
//! `--reconnect-timeout` bounds the wait for a switch that stays away, and a
//! failed re-attach is tried again.

mod common;

use common::ovs::Ovs;
use common::*;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    fwd.wait_reattached(2);
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

/// Something that accepts on a switch's socket path and hangs up at once,
/// as no vhost-user switch does: a re-attach probes it and fails. Stops and
/// removes its socket on drop.
struct Impostor {
    path: PathBuf,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Impostor {
    fn listen(path: &str) -> Impostor {
        let path = PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let done = done.clone();
            move || {
                while !done.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => drop(conn),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }
        });
        Impostor {
            path,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A re-attach that fails (the socket accepts, but no switch answers) leaves
/// the port removed and the lcores parked; it is tried again until the real
/// switch is back, and then the same process forwards the session exactly.
#[test]
fn a_failed_reattach_is_retried_until_the_switch_is_back() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("reattach-retry");
    let ovs = Ovs::start("server");
    let (mut fwd, prefix) = start_forwarder(&dir, &ovs, "fwd-retry", &["-p", "0x3", "-T", "0"]);
    ovs.script("ovs-stop", &[]);
    {
        let _impostor = Impostor::listen(&ovs.socket(2));
        wait_until(
            "a failed re-attach",
            Duration::from_secs(30),
            || {
                if fwd.out().contains("] Port 0: re-attach failed: ") {
                    Ok(())
                } else {
                    Err("none yet".into())
                }
            },
            || fwd.output(),
        );
    }
    // The switch comes back (afresh: its ports and flows made again).
    ovs.script("ovs-start", &[]);
    ovs.script("ovs-ports", &["--kind", "server"]);
    ovs.script("ovs-flows", &[]);
    fwd.wait_reattached(2);
    ovs.wait_links_up(&[2, 3], || fwd.output());
    session(&dir, &ovs, "gen");
    ovs.assert_flows(1);
    let st = fwd.terminate(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "{}", fwd.output());
    assert!(!fwd.err().contains("PANIC"), "{}", fwd.output());
    let out = fwd.out();
    assert_eq!(
        final_port_stats(&out),
        vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
        "{out}"
    );
    assert!(out.contains("Mbufs not returned to the pool: 0"), "{out}");
    assert_no_leftovers(&prefix);
}
