//! The Kubernetes manifests (`containers/k8s/`), offline: `containers/k8s/check`
//! validates them against a pinned Kubernetes version's schemas (the
//! kubernetes-validate package in target/k8s-venv, made by scripts/setup) and
//! holds each pod to the container tests' command line, mounts and privileges
//! (`containers/run-experiment --print-forwarder`). No cluster, no DPDK.

mod common;

use common::docker::{containers_dir, output_text};
use common::TempDir;
use std::process::{Command, Output};

fn check(files: &[&std::path::Path]) -> Output {
    Command::new(containers_dir().join("k8s/check"))
        .args(files)
        .output()
        .expect("run containers/k8s/check")
}

#[test]
fn manifests_validate_and_match_the_container_tests() {
    let out = check(&[]);
    let text = output_text(&out);
    assert!(out.status.success(), "containers/k8s/check failed:\n{text}");
    for pod in ["vnf-fwd", "vnf-fwd-multus", "vnf-fwd-deploy"] {
        assert!(
            text.contains(&format!(
                "pod {pod} runs the container tests' command line and mounts"
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("NetworkAttachmentDefinition vnf-fwd-port1"),
        "{text}"
    );
}

#[test]
fn a_pod_that_drifts_from_the_container_tests_is_caught() {
    let dir = TempDir::new("k8s");
    let pod = std::fs::read_to_string(containers_dir().join("k8s/vnf-fwd-hostpath.yaml")).unwrap();
    let cases = [
        (pod.replacen("\"0x3\"", "\"0x1\"", 1), "args"),
        (
            pod.replacen("cpu: \"2\"", "cpu: 1500m", 1),
            "Guaranteed QoS",
        ),
        (
            pod.replacen("path: /healthz", "path: /metrics", 1),
            "readiness",
        ),
        (
            pod.replacen("readinessProbe:", "readinesProbe:", 1),
            "readinesProbe",
        ),
        (
            pod.replacen("mountPath: /var/run/openvswitch", "mountPath: /run/ovs", 1),
            "mounts",
        ),
        (
            pod.replacen(
                "path: /usr/local/var/run/openvswitch/vnf/fwd",
                "path: /usr/local/var/run/openvswitch",
                1,
            ),
            "OVS's run directory",
        ),
        (
            pod.replacen("runAsNonRoot: true", "runAsNonRoot: false", 1),
            "runAsNonRoot",
        ),
        (
            pod.replacen("runAsUser: 10001", "runAsUser: 0", 1),
            "runAsUser",
        ),
        (
            pod.replacen(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
                1,
            ),
            "readOnlyRootFilesystem",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        assert_ne!(text, &pod, "case {i} changed nothing");
        let file = dir.join(&format!("pod{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = check(&[&file]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "case {i}: {}",
            output_text(&out)
        );
        assert!(err.contains(want), "case {i}: wanted {want}: {err}");
    }
}

#[test]
fn deployment_replicas_need_a_socket_directory_each() {
    let dir = TempDir::new("k8s-deploy");
    let deploy =
        std::fs::read_to_string(containers_dir().join("k8s/vnf-fwd-deployment.yaml")).unwrap();
    let shared = deploy.replacen("subPathExpr: $(POD_NAME)", "subPathExpr: shared", 1);
    assert_ne!(shared, deploy);
    let file = dir.join("deploy.yaml");
    std::fs::write(&file, shared).unwrap();
    let out = check(&[&file]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a directory per replica"),
        "{}",
        output_text(&out)
    );
}
