//! The write-up's deployment in Docker containers (`containers/`): the
//! generator and the forwarder each in a container on the host's OVS-DPDK,
//! in the write-up's `--privileged` form (or its working equivalent) and in
//! the least-privilege form. Docker is installed and started if needed, the
//! images built (or found up to date) from the binaries under test.

mod common;

use common::docker::{containers_dir, docker, images, output_text};
use common::ovs::Ovs;
use common::*;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The write-up's pktgen session: port 0 sends 100, port 1 sends 200, 10 % rate.
const SESSION: [&str; 6] = ["--rate", "10", "--count", "0:100", "--count", "1:200"];

/// `docker stop`'s grace period before SIGKILL.
const STOP_TIMEOUT: u64 = 10;

/// How the containers are run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// The write-up's `--privileged` (or `containers/docker-flags`' equivalent)
    /// with the host's hugetlbfs at `/mnt/huge`.
    Privileged,
    /// `containers/docker-flags least`: the socket directory is the only mount.
    Least,
    /// The same as uid 1000, with OVS's sockets (server kind) chowned to it.
    LeastNonRoot,
}

/// `containers/docker-flags FORM`, asked once per form.
fn security_flags(form: Form) -> Vec<String> {
    static PRIVILEGED: OnceLock<Vec<String>> = OnceLock::new();
    static LEAST: OnceLock<Vec<String>> = OnceLock::new();
    let (cell, arg) = match form {
        Form::Privileged => (&PRIVILEGED, "privileged"),
        Form::Least | Form::LeastNonRoot => (&LEAST, "least"),
    };
    cell.get_or_init(|| {
        let out = Command::new(containers_dir().join("docker-flags"))
            .arg(arg)
            .output()
            .expect("run docker-flags");
        assert!(out.status.success(), "{}", output_text(&out));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    })
    .clone()
}

/// The `docker run` options of `form`: security flags and mounts.
fn run_flags(ovs: &Ovs, form: Form) -> Vec<String> {
    let mut flags = security_flags(form);
    flags.push("-v".into());
    flags.push(format!("{}:/var/run/openvswitch", ovs.run_dir().display()));
    match form {
        Form::Privileged => {
            let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
            if let Some(dir) = mounts.lines().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(2) == Some(&"hugetlbfs")).then(|| f[1].to_owned())
            }) {
                flags.push("-v".into());
                flags.push(format!("{dir}:/mnt/huge"));
            }
        }
        Form::Least => {}
        Form::LeastNonRoot => {
            for n in 0..4 {
                std::os::unix::fs::chown(ovs.socket(n), Some(1000), Some(1000))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", ovs.socket(n)));
            }
            flags.extend(strings(&["--user", "1000:1000"]));
        }
    }
    flags
}

/// A detached container, removed on drop.
struct Container {
    name: String,
}

impl Container {
    fn run(tag: &str, flags: &[String], command: &[String]) -> Container {
        let name = format!("vnf-fwd-test-{tag}-{}", std::process::id());
        let _ = docker(&["rm", "-f", &name]);
        let out = Command::new("docker")
            .args(["run", "-d", "--name", &name])
            .args(flags)
            .args(command)
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker run {flags:?} {command:?}\n{}",
            output_text(&out)
        );
        Container { name }
    }

    /// The container's stdout (`docker logs`).
    fn out(&self) -> String {
        String::from_utf8_lossy(&docker(&["logs", &self.name]).stdout).into_owned()
    }

    /// stdout and stderr, for assertion messages.
    fn output(&self) -> String {
        format!(
            "--- docker logs {} ---\n{}",
            self.name,
            output_text(&docker(&["logs", &self.name]))
        )
    }

    /// The exit code once the container has stopped.
    fn exit_code(&self) -> Option<i64> {
        let out = docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.ExitCode}}",
            &self.name,
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        match text.split_whitespace().collect::<Vec<_>>()[..] {
            ["false", code] => Some(code.parse().unwrap()),
            _ => None,
        }
    }

    fn wait(&self, timeout: Duration) -> Option<i64> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(code) = self.exit_code() {
                return Some(code);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until stdout or stderr contains `needle`.
    fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.output().contains(needle) {
                return true;
            }
            if self.exit_code().is_some() {
                return self.output().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `docker stop`: SIGTERM to PID 1; returns its exit code and how long it took.
    fn stop(&self) -> (i64, Duration) {
        let t0 = Instant::now();
        let out = docker(&["stop", "-t", &STOP_TIMEOUT.to_string(), &self.name]);
        assert!(out.status.success(), "{}", output_text(&out));
        (self.exit_code().expect("stopped"), t0.elapsed())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

/// The forwarders: ours, and the reference image's testpmd and l2fwd.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Forwarder {
    VnfFwd,
    Testpmd,
    L2fwd,
}

/// Where `$VNF_TESTPMD`, if given, is mounted in the reference image.
const TESTPMD_IN_IMAGE: &str = "/usr/local/bin/vnf-testpmd";

impl Forwarder {
    /// `docker run` options the forwarder needs besides the form's: a
    /// stand-in for testpmd (`$VNF_TESTPMD`, see [`testpmd`]), mounted.
    fn mounts(self) -> Vec<String> {
        match (self, std::env::var_os("VNF_TESTPMD")) {
            (Forwarder::Testpmd, Some(path)) => vec![
                "-v".into(),
                format!("{}:{TESTPMD_IN_IMAGE}:ro", Path::new(&path).display()),
            ],
            _ => Vec::new(),
        }
    }

    /// Image and program, lcores, and the options besides the EAL's common
    /// ones. DPDK's C apps run under `stdbuf -oL` (coreutils is in the image):
    /// their stdout is a pipe to Docker, block-buffered otherwise, and the
    /// lines waited for would sit in stdio's buffer.
    fn command(self) -> (Vec<String>, &'static str, Vec<&'static str>) {
        // The DPDK apps need what vnf-fwd adds by itself for virtio_user.
        let mem = vec!["--in-memory", "--single-file-segments"];
        let c_app = |program: &str| strings(&["dpdk-ref:test", "stdbuf", "-oL", program]);
        match self {
            Forwarder::VnfFwd => (strings(&["vnf-fwd:test"]), "0@0,1@0", vec![]),
            Forwarder::Testpmd => {
                let program = if std::env::var_os("VNF_TESTPMD").is_some() {
                    TESTPMD_IN_IMAGE
                } else {
                    "dpdk-testpmd"
                };
                (c_app(program), "0@0,1@0,2@0", mem)
            }
            Forwarder::L2fwd => (c_app("l2fwd"), "0@0,1@0", mem),
        }
    }

    fn app(self) -> Vec<&'static str> {
        match self {
            Forwarder::VnfFwd | Forwarder::L2fwd => vec!["-p", "0x3", "-T", "0"],
            Forwarder::Testpmd => vec![
                "--burst=64",
                "--txd=2048",
                "--rxd=2048",
                "--stats-period",
                "3600",
            ],
        }
    }

    /// The line that says it forwards: vnf-fwd's and l2fwd's (an EAL log
    /// line, flushed), testpmd's banner.
    fn ready(self) -> &'static str {
        match self {
            Forwarder::Testpmd => "packet forwarding - ports",
            _ => "entering main loop",
        }
    }
}

/// A virtio_user vdev on OVS port `vhost-user<n>`, as seen in the container.
fn vdev(n: usize, server: bool) -> String {
    let srv = if server { ",server=1" } else { "" };
    format!(
        "net_virtio_user{n},mac=00:00:00:00:00:0{n},path=/var/run/openvswitch/vhost-user{n}{srv}"
    )
}

/// The `--file-prefix` of a container's app: no hugepage file may carry it.
fn prefix(tag: &str) -> String {
    format!("vnfc-{tag}-{}", std::process::id())
}

/// The write-up's EAL line with `-c` mapped onto CPU 0 (OVS's PMD holds CPU 1)
/// and without `--socket-mem 1024,1024` (hugepages are scarce here).
fn eal(lcores: &str, tag: &str, ports: [usize; 2], server: bool) -> Vec<String> {
    let prefix = prefix(tag);
    let mut a = strings(&[
        "--lcores",
        lcores,
        "-n",
        "1",
        "--file-prefix",
        &prefix,
        "--no-pci",
    ]);
    for n in ports {
        a.push("--vdev".into());
        a.push(vdev(n, server));
    }
    a
}

/// The forwarder's container on vhost-user2/3, started: forwarding, and
/// attached to OVS.
fn start_forwarder(ovs: &Ovs, fwd: Forwarder, form: Form, server: bool, tag: &str) -> Container {
    let (mut cmd, lcores, extra) = fwd.command();
    cmd.extend(eal(lcores, tag, [2, 3], server));
    cmd.extend(strings(&extra));
    cmd.push("--".into());
    cmd.extend(strings(&fwd.app()));
    let mut flags = run_flags(ovs, form);
    flags.extend(fwd.mounts());
    let c = Container::run(tag, &flags, &cmd);
    assert!(
        c.wait_for_output(fwd.ready(), Duration::from_secs(30)),
        "forwarder did not start\n{}",
        c.output()
    );
    ovs.wait_links_up(&[2, 3], || c.output());
    c
}

/// The generator's command on vhost-user0/1.
fn gen_command(tag: &str, server: bool, app: &[&str]) -> Vec<String> {
    let mut cmd = strings(&["vnf-gen:test"]);
    cmd.extend(eal("0@0", tag, [0, 1], server));
    cmd.push("--".into());
    cmd.extend(strings(app));
    cmd
}

/// The write-up's session from the generator's container, run to completion;
/// returns each port's counters in port order.
fn generate(ovs: &Ovs, form: Form, tag: &str) -> Vec<GenPort> {
    let mut cmd = gen_command(tag, false, &SESSION);
    cmd.push("--json".into());
    let c = Container::run(tag, &run_flags(ovs, form), &cmd);
    let code = c.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "vnf-gen\n{}", c.output());
    parse_gen_json(&c.out())
}

/// One experiment: the forwarder's container, the session from the
/// generator's, then `docker stop` on the forwarder, which must exit 0 within
/// the grace period. Returns the generator's counters and the forwarder's logs.
fn experiment(ovs: &Ovs, fwd: Forwarder, form: Form, tag: &str) -> (Vec<GenPort>, String) {
    let c = start_forwarder(ovs, fwd, form, false, &format!("{tag}-fwd"));
    let gen = generate(ovs, form, &format!("{tag}-gen"));
    let (code, took) = c.stop();
    assert_eq!(code, 0, "{fwd:?} exit on docker stop\n{}", c.output());
    assert!(
        took < Duration::from_secs(STOP_TIMEOUT),
        "docker stop took {took:?}"
    );
    (gen, c.out())
}

#[test]
fn experiment2_vnf_fwd_in_containers() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::start("server");
    let (gen, out) = experiment(&ovs, Forwarder::VnfFwd, Form::Privileged, "exp2");
    assert_session(&gen);
    ovs.assert_flows(1);
    assert_eq!(
        final_port_stats(&out),
        vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
        "{out}"
    );
}

#[test]
fn reference_image_testpmd_and_l2fwd_forward_the_session() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::start("server");
    let (gen, _) = experiment(&ovs, Forwarder::Testpmd, Form::Privileged, "exp1");
    assert_session(&gen);
    ovs.assert_flows(1);
    let (gen, _) = experiment(&ovs, Forwarder::L2fwd, Form::Privileged, "l2fwd");
    assert_session(&gen);
    ovs.assert_flows(2);
}

#[test]
fn least_privilege_forwards_the_same_packets() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::start("server");
    let (gen, out) = experiment(&ovs, Forwarder::VnfFwd, Form::Privileged, "priv");
    let stats = final_port_stats(&out);
    assert_session(&gen);
    for (i, form) in [Form::Least, Form::LeastNonRoot].into_iter().enumerate() {
        let (gen_l, out_l) = experiment(&ovs, Forwarder::VnfFwd, form, &format!("least{i}"));
        assert_eq!(gen_l, gen, "{form:?} generator");
        assert_eq!(
            final_port_stats(&out_l),
            stats,
            "{form:?} forwarder\n{out_l}"
        );
    }
    ovs.assert_flows(3);
}

/// `docker stop` while traffic flows, with `server=1` ports over stale
/// sockets: exit 0 within the grace period, final statistics in the logs, no
/// hugepage files on the host, the sockets removed.
#[test]
fn docker_stop_while_forwarding_is_clean() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::start("client");
    for n in [2, 3] {
        drop(UnixListener::bind(ovs.socket(n)).expect("stale socket"));
    }
    let fwd = start_forwarder(&ovs, Forwarder::VnfFwd, Form::Privileged, true, "stop-fwd");
    let cmd = gen_command("stop-gen", true, &["--rate", "2000pps", "--duration", "60"]);
    let gen = Container::run("stop-gen", &run_flags(&ovs, Form::Privileged), &cmd);
    // Forwarding: frames came back out of the forwarder's port 0 into OVS.
    wait_until(
        "100 frames forwarded (OVS flow in_port=3)",
        Duration::from_secs(30),
        || match ovs.counters().flows.get(&3).copied().unwrap_or(0) {
            n if n >= 100 => Ok(()),
            n => Err(format!("{n} so far")),
        },
        || format!("{}\n{}", fwd.output(), gen.output()),
    );
    let (code, took) = fwd.stop();
    assert_eq!(code, 0, "exit on docker stop\n{}", fwd.output());
    assert!(
        took < Duration::from_secs(STOP_TIMEOUT),
        "docker stop took {took:?}"
    );
    let out = fwd.out();
    let stats = final_port_stats(&out);
    assert!(stats[0].1[1] > 0 && stats[1].1[1] > 0, "{out}");
    let logs = fwd.output();
    assert_eq!(logs.matches("removed stale socket").count(), 2, "{logs}");
    for n in [2, 3] {
        assert!(
            !Path::new(&ovs.socket(n)).exists(),
            "socket {n} left behind"
        );
    }
    let (code, _) = gen.stop();
    assert_eq!(code, 0, "{}", gen.output());
    for tag in ["stop-fwd", "stop-gen"] {
        let files = hugepage_files(&prefix(tag));
        assert!(files.is_empty(), "hugepage files left behind: {files:?}");
    }
}
