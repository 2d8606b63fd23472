//! The Kubernetes manifests (`containers/k8s/`) run for real: `containers/k8s/play`
//! plays each with podman (`podman kube play`, no cluster) on a private
//! OVS-DPDK it starts, makes the OVS ports the manifest needs (a Multus pod's
//! from its NetworkAttachmentDefinitions, through `containers/k8s/nad-ports`),
//! runs the probes as the kubelet would (HTTP GET on the pod's IP), the
//! write-up's session through each pod with vnf-gen (exact counts, checked by
//! the script), and `podman kube down`. Here the same is checked again from the
//! outside: the counts in its output, the final statistics in each pod's logs,
//! and that nothing is left behind. The images are built from the binaries
//! under test (`VNF_TEST_TAG`).

mod common;

use common::docker::{containers_dir, images, output_text, tag};
use common::ovs::Ovs;
use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

/// `containers/k8s/play [args] MANIFEST` on the private OVS of `ovs`, the
/// images under test, each pod's logs kept in `logs`.
fn play(ovs: &Ovs, logs: &TempDir, args: &[&str], manifest: &str) -> Output {
    let t0 = Instant::now();
    let run = ovs.run_dir();
    let out = Command::new(containers_dir().join("k8s/play"))
        .args(["--tag", &tag(), "--logs"])
        .arg(logs.path())
        .args(args)
        .arg(containers_dir().join("k8s").join(manifest))
        .env("BIN", vnf_fwd().parent().unwrap())
        // The private directories of `ovs` (as `Ovs::command_env`): play starts
        // and stops OVS there.
        .env("OVS_DIR", &run)
        .env("OVS_STATE_DIR", run.parent().unwrap().join("state"))
        .output()
        .expect("run containers/k8s/play");
    eprintln!("play {manifest} {args:?}: {:.1?}", t0.elapsed());
    out
}

/// What play's output and each pod's logs must show, and the node afterwards.
fn assert_played(out: &Output, logs: &TempDir, pods: &[&str], sessions: u64, ovs: &Ovs) {
    let text = output_text(out);
    assert!(out.status.success(), "play failed:\n{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One vnf-gen JSON line per pod and session, each the exact session.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("{\"ports\""))
        .collect();
    assert_eq!(lines.len(), pods.len() * sessions as usize, "{text}");
    for l in lines {
        assert_session(&parse_gen_json(l));
    }
    for pod in pods {
        let log = std::fs::read_to_string(logs.join(&format!("{pod}.log")))
            .unwrap_or_else(|e| panic!("{pod}'s logs: {e}\n{text}"));
        assert_eq!(
            final_port_stats(&log),
            vec![
                (0, [100 * sessions, 200 * sessions, 0]),
                (1, [200 * sessions, 100 * sessions, 0])
            ],
            "{pod}: {log}"
        );
        let exists = Command::new("podman")
            .args(["pod", "exists", pod])
            .status()
            .expect("podman");
        assert!(!exists.success(), "pod {pod} left behind");
    }
    for prefix in ["testpmd", "pktgen"] {
        assert!(hugepage_files(prefix).is_empty(), "{prefix} hugepage files");
        assert!(
            !Path::new("/var/run/dpdk").join(prefix).exists(),
            "/var/run/dpdk/{prefix} left behind"
        );
    }
    assert!(!ovs.vswitchd_running(), "play left OVS running");
    assert!(
        !ovs.run_dir().join("vnf/gen").exists(),
        "generator's socket directory left behind"
    );
}

/// The hostPath pod: started and ready, the session exact; then readiness
/// false while ovs-vswitchd restarts (links down) and true again, liveness
/// true throughout; the session exact again; `podman kube down` leaves the
/// final statistics of both sessions in its logs.
#[test]
fn hostpath_pod_forwards_and_its_probes_follow_an_ovs_restart() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::private_dir();
    let logs = TempDir::new("k8s-play-hostpath");
    let out = play(&ovs, &logs, &["--ovs-restart"], "vnf-fwd-hostpath.yaml");
    let text = output_text(&out);
    let probe = text
        .lines()
        .find(|l| l.starts_with("probe vnf-fwd "))
        .unwrap_or_else(|| panic!("no probe line\n{text}"));
    assert!(!probe.contains("readiness false=0 "), "{probe}");
    assert!(probe.contains(" liveness false=0 "), "{probe}");
    assert_played(&out, &logs, &["vnf-fwd"], 2, &ovs);
    assert!(
        !Path::new("/usr/local/var/run/openvswitch/vnf/fwd").exists(),
        "the pod's socket directory left behind\n{text}"
    );
}

/// The Multus pod: its ports made from the two NetworkAttachmentDefinitions
/// (names and socket directory as they say), the session exact.
#[test]
fn multus_pod_gets_its_ports_from_the_attachment_definitions() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::private_dir();
    let logs = TempDir::new("k8s-play-multus");
    let out = play(&ovs, &logs, &[], "vnf-fwd-multus.yaml");
    let text = output_text(&out);
    for n in [2, 3] {
        let want =
            format!("port vhost-user{n} /var/lib/vnf-fwd/vhost/vnf-fwd-multus/vhost-user{n}\n");
        assert!(text.contains(&want), "no {want}{text}");
    }
    assert_played(&out, &logs, &["vnf-fwd-multus"], 1, &ovs);
}

/// The Deployment's two replicas: pods named per replica, each with its own
/// ports and socket directory, each forwarding its own session exactly.
#[test]
fn deployment_replicas_have_their_own_ports() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::private_dir();
    let logs = TempDir::new("k8s-play-deployment");
    let out = play(&ovs, &logs, &[], "vnf-fwd-deployment.yaml");
    let text = output_text(&out);
    let base = "/usr/local/var/run/openvswitch/vnf/vnf-fwd-deploy";
    for r in 0..2 {
        for n in [2, 3] {
            let want =
                format!("port vhost-user{n}-{r} {base}/vnf-fwd-deploy-pod-{r}/vhost-user{n}\n");
            assert!(text.contains(&want), "no {want}{text}");
        }
    }
    assert_played(
        &out,
        &logs,
        &["vnf-fwd-deploy-pod-0", "vnf-fwd-deploy-pod-1"],
        1,
        &ovs,
    );
}

/// What the userspace CNI plugin would be asked that nad-ports does not do is
/// a one-line error, before any port is made.
#[test]
fn unsupported_attachment_definitions_are_errors() {
    let dir = TempDir::new("k8s-nad");
    let multus = std::fs::read_to_string(containers_dir().join("k8s/vnf-fwd-multus.yaml")).unwrap();
    let cases = [
        (
            multus.replacen("\"iftype\": \"vhostuser\"", "\"iftype\": \"memif\"", 1),
            "iftype 'memif' not supported",
        ),
        (
            multus.replacen("\"mode\": \"client\"", "\"mode\": \"server\"", 1),
            "host.vhost: mode 'server' not supported",
        ),
        (
            multus.replacen("\"engine\": \"ovs-dpdk\"", "\"engine\": \"vpp\"", 1),
            "engine 'vpp' not supported",
        ),
        (
            multus.replacen(
                "\"socketfile\": \"vhost-user2\"",
                "\"socketfile\": \"vhost-user2\", \"group\": \"vnf\"",
                1,
            ),
            "host.vhost: group not supported",
        ),
        (
            multus.replacen(", \"socketfile\": \"vhost-user3\"", "", 1),
            "socketfile",
        ),
        (
            multus.replacen(
                "name: shared-dir\n      hostPath",
                "name: sockets\n      hostPath",
                1,
            ),
            "shared-dir",
        ),
        (
            multus.replacen("vnf-fwd-port0, vnf-fwd-port1", "vnf-fwd-port0, other", 1),
            "network other is not defined",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        assert_ne!(text, &multus, "case {i} changed nothing");
        let file = dir.join(&format!("multus{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = Command::new(containers_dir().join("k8s/nad-ports"))
            .arg("add")
            .arg(&file)
            .arg("vnf-fwd-multus")
            .env("OVS_RUNDIR", dir.join("no-ovs"))
            .output()
            .expect("run nad-ports");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "case {i}: {}",
            output_text(&out)
        );
        assert_eq!(err.lines().count(), 1, "case {i}: {err}");
        assert!(err.contains(want), "case {i}: wanted {want}: {err}");
    }
}
