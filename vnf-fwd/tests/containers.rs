//! The write-up's deployment in Docker containers (`containers/`): the
//! generator and the forwarder each in a container on the host's OVS-DPDK,
//! in the write-up's `--privileged` form (or its working equivalent) and in
//! the least-privilege form, each container with its own vhost-user sockets
//! only. Docker is installed and started if needed, the images built (or found
//! up to date) from the binaries under test.

mod common;

use common::docker::{containers_dir, docker, image, images, output_text};
use common::ovs::{vnf_of_port, Ovs};
use common::*;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The write-up's pktgen session: port 0 sends 100, port 1 sends 200, 10 % rate.
const SESSION: [&str; 6] = ["--rate", "10", "--count", "0:100", "--count", "1:200"];

/// `docker stop`'s grace period before SIGKILL.
const STOP_TIMEOUT: u64 = 10;

/// The images' own user (`VNF_USER` in scripts/lib/common.sh, the Dockerfiles' `USER`).
const VNF_USER: &str = "10001:10001";

/// How the containers are run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// The write-up's `--privileged` (or `containers/docker-flags`' equivalent)
    /// as root, with the host's hugetlbfs at `/mnt/huge`.
    Privileged,
    /// `containers/docker-flags least` as the images' own user, read-only root.
    Least,
    /// The same as root.
    LeastRoot,
}

impl Form {
    fn user(self) -> &'static str {
        match self {
            Form::Least => VNF_USER,
            Form::Privileged | Form::LeastRoot => "0:0",
        }
    }
}

/// `containers/docker-flags FORM`, asked once per form.
fn security_flags(form: Form) -> Vec<String> {
    static PRIVILEGED: OnceLock<Vec<String>> = OnceLock::new();
    static LEAST: OnceLock<Vec<String>> = OnceLock::new();
    let (cell, arg) = match form {
        Form::Privileged => (&PRIVILEGED, "privileged"),
        Form::Least | Form::LeastRoot => (&LEAST, "least"),
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

/// Where a container sees its vhost-user sockets (the write-up's mount point).
const SOCKET_DIR: &str = "/var/run/openvswitch";

/// The `docker run` options of `form` for the VNF on OVS ports `ports`:
/// security flags, user, and the mounts of its own sockets only (as
/// `containers/run-experiment`): the socket files OVS made (server kind), or
/// the VNF's socket directory (client kind), given to the form's user first.
fn run_flags(ovs: &Ovs, form: Form, ports: [usize; 2]) -> Vec<String> {
    let mut flags = security_flags(form);
    flags.extend(strings(&["--user", form.user()]));
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
        Form::Least => flags.extend(strings(&["--read-only", "--tmpfs", "/tmp"])),
        Form::LeastRoot => flags.extend(strings(&[
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/run/dpdk",
        ])),
    }
    let (uid, gid) = form.user().split_once(':').unwrap();
    let owner = |path: &Path| {
        std::os::unix::fs::chown(path, uid.parse().ok(), gid.parse().ok())
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()))
    };
    if ovs.per_vnf() {
        let dir = ovs.vnf_dir(vnf_of_port(ports[0]));
        owner(&dir);
        flags.push("-v".into());
        flags.push(format!("{}:{SOCKET_DIR}", dir.display()));
    } else {
        for n in ports {
            owner(Path::new(&ovs.socket(n)));
            flags.push("--mount".into());
            flags.push(format!(
                "type=bind,source={},target={SOCKET_DIR}/vhost-user{n}",
                ovs.socket(n)
            ));
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

    /// Every Unix socket in the container's mount namespace (/proc and /sys
    /// aside), as its `user` sees them: every path `find` lists, stat'ed
    /// (`find -type s` trusts readdir's file type, and a bind-mounted socket's
    /// mount point is a regular file in the container's layer). /var/run is
    /// /run in the image.
    fn sockets(&self, user: &str) -> Vec<String> {
        let script = "find / \\( -path /proc -o -path /sys \\) -prune -o -print0 2>/dev/null \
                      | xargs -0 stat -c '%F|%n' 2>/dev/null | sed -n 's/^socket|//p'";
        let out = docker(&["exec", "-u", user, &self.name, "sh", "-c", script]);
        let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(
            out.status.success(),
            "docker exec as {user}: {}",
            output_text(&out)
        );
        found.sort();
        found
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
        let c_app = |program: &str| {
            vec![
                image("dpdk-ref"),
                "stdbuf".into(),
                "-oL".into(),
                program.into(),
            ]
        };
        match self {
            Forwarder::VnfFwd => (vec![image("vnf-fwd")], "0@0,1@0", vec![]),
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
    format!("net_virtio_user{n},mac=00:00:00:00:00:0{n},path={SOCKET_DIR}/vhost-user{n}{srv}")
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
    start_forwarder_with(ovs, fwd, form, server, tag, &[])
}

/// As `start_forwarder`, with `app` added to the forwarder's own options.
fn start_forwarder_with(
    ovs: &Ovs,
    fwd: Forwarder,
    form: Form,
    server: bool,
    tag: &str,
    app: &[&str],
) -> Container {
    let (mut cmd, lcores, extra) = fwd.command();
    cmd.extend(eal(lcores, tag, [2, 3], server));
    cmd.extend(strings(&extra));
    cmd.push("--".into());
    cmd.extend(strings(&fwd.app()));
    cmd.extend(strings(app));
    let mut flags = run_flags(ovs, form, [2, 3]);
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
    let mut cmd = vec![image("vnf-gen")];
    cmd.extend(eal("0@0", tag, [0, 1], server));
    cmd.push("--".into());
    cmd.extend(strings(app));
    cmd
}

/// The write-up's session from the generator's container, run to completion;
/// returns each port's counters in port order.
fn generate(ovs: &Ovs, form: Form, server: bool, tag: &str) -> Vec<GenPort> {
    let mut cmd = gen_command(tag, server, &SESSION);
    cmd.push("--json".into());
    let c = Container::run(tag, &run_flags(ovs, form, [0, 1]), &cmd);
    let code = c.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "vnf-gen\n{}", c.output());
    parse_gen_json(&c.out())
}

/// One experiment: the forwarder's container, the session from the
/// generator's, then `docker stop` on the forwarder, which must exit 0 within
/// the grace period. Returns the generator's counters and the forwarder's logs.
fn experiment(ovs: &Ovs, fwd: Forwarder, form: Form, tag: &str) -> (Vec<GenPort>, String) {
    let c = start_forwarder(ovs, fwd, form, false, &format!("{tag}-fwd"));
    let gen = generate(ovs, form, false, &format!("{tag}-gen"));
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
    let ovs = Ovs::start_per_vnf("server", "0:0");
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
    let ovs = Ovs::start_per_vnf("server", "0:0");
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
    let ovs = Ovs::start_per_vnf("server", "0:0");
    let (gen, out) = experiment(&ovs, Forwarder::VnfFwd, Form::Privileged, "priv");
    let stats = final_port_stats(&out);
    assert_session(&gen);
    for (i, form) in [Form::Least, Form::LeastRoot].into_iter().enumerate() {
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
    let ovs = Ovs::start_per_vnf("client", "0:0");
    for n in [2, 3] {
        drop(UnixListener::bind(ovs.socket(n)).expect("stale socket"));
    }
    let fwd = start_forwarder(&ovs, Forwarder::VnfFwd, Form::Privileged, true, "stop-fwd");
    let cmd = gen_command("stop-gen", true, &["--rate", "2000pps", "--duration", "60"]);
    let gen = Container::run("stop-gen", &run_flags(&ovs, Form::Privileged, [0, 1]), &cmd);
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

/// Inside a VNF's container (least privilege, the images' own user) the only
/// vhost-user sockets are its own: no `db.sock`, no `ovs-vswitchd.*.ctl`, not
/// the generator's sockets, found neither as its user nor as root in it;
/// and through its own sockets it forwards the write-up's session exactly.
fn vnf_sees_only_its_own_sockets(kind: &str) {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::start_per_vnf(kind, VNF_USER);
    let server = kind == "client";
    let run = ovs.run_dir();
    for f in ["db.sock", "ovs-vswitchd.pid"] {
        assert!(run.join(f).exists(), "no {f} on the host to hide");
    }
    let fwd = start_forwarder(&ovs, Forwarder::VnfFwd, Form::Least, server, "iso-fwd");
    // vnf-fwd is the container's PID 1: its real, effective, saved and fs uid.
    let status = docker(&["exec", &fwd.name, "grep", "^Uid:", "/proc/1/status"]);
    assert_eq!(
        String::from_utf8_lossy(&status.stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["Uid:", "10001", "10001", "10001", "10001"],
        "{}",
        output_text(&status)
    );
    let own = [2, 3].map(|n| format!("/run/openvswitch/vhost-user{n}"));
    // As its user: exactly its own. As root in it (no capabilities, so the
    // VNF's 0700 directories are closed to it): nothing more.
    for user in [VNF_USER, "0:0"] {
        // The EAL's runtime directory (/tmp/dpdk/<prefix>: telemetry) is the
        // container's own tmpfs; every other socket is OVS's vhost-user.
        let found = fwd.sockets(user);
        let vhost: Vec<&String> = found.iter().filter(|f| !f.starts_with("/tmp/")).collect();
        if user == VNF_USER {
            assert_eq!(
                vhost,
                own.iter().collect::<Vec<_>>(),
                "as {user}: {found:?}"
            );
        } else {
            assert!(
                vhost.iter().all(|f| own.contains(f)),
                "as {user}: {found:?}"
            );
        }
        for f in &found {
            assert!(
                !f.ends_with("db.sock") && !f.ends_with(".ctl") && !f.contains("vhost-user0"),
                "as {user}: {f} reachable"
            );
        }
    }
    let gen = generate(&ovs, Form::Least, server, "iso-gen");
    assert_session(&gen);
    ovs.assert_flows(1);
    let (code, _) = fwd.stop();
    assert_eq!(code, 0, "{}", fwd.output());
    let out = fwd.out();
    assert_eq!(
        final_port_stats(&out),
        vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
        "{out}"
    );
}

#[test]
fn vnf_sees_only_its_own_sockets_ovs_as_server() {
    vnf_sees_only_its_own_sockets("server");
}

#[test]
fn vnf_sees_only_its_own_sockets_app_as_server() {
    vnf_sees_only_its_own_sockets("client");
}

/// The server kind's trade-off, measured: the socket files are bind-mounted,
/// and a restarted ovs-vswitchd makes them anew (new inodes, root 0755), so
/// the container's mounts name the dead ones, which never accept again: a
/// re-attach in place cannot happen, and vnf-fwd exits 1 once its
/// `--reconnect-timeout` (3 s here) has passed; `docker start`, a restart
/// policy's job, mounts the new sockets, which `ovs-start` gave back to the
/// VNF's user, and the session is forwarded exactly again.
#[test]
fn bind_mounted_sockets_after_a_switch_restart() {
    images();
    let _lock = dpdk_lock();
    let ovs = Ovs::start_per_vnf("server", VNF_USER);
    let fwd = start_forwarder_with(
        &ovs,
        Forwarder::VnfFwd,
        Form::Least,
        false,
        "rst-fwd",
        &["--reconnect-timeout", "3"],
    );
    let inode = |n: usize| std::fs::metadata(ovs.socket(n)).unwrap();
    let before = inode(2).ino();
    ovs.restart_vswitchd();
    assert_ne!(inode(2).ino(), before, "OVS kept its socket");
    for n in 0..4 {
        assert_eq!(inode(n).uid(), 10001, "socket {n} not given back");
    }
    assert_eq!(
        fwd.wait(Duration::from_secs(30)),
        Some(1),
        "{}",
        fwd.output()
    );
    assert!(
        fwd.output()
            .contains("did not come back within 3 s (--reconnect-timeout)"),
        "{}",
        fwd.output()
    );
    let out = docker(&["start", &fwd.name]);
    assert!(out.status.success(), "{}", output_text(&out));
    let end = Instant::now() + Duration::from_secs(30);
    while fwd.output().matches("entering main loop").count() < 2 {
        assert!(
            Instant::now() < end && fwd.exit_code().is_none(),
            "restarted forwarder did not start\n{}",
            fwd.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let gen = generate(&ovs, Form::Least, false, "rst-gen");
    assert_session(&gen);
    ovs.assert_flows(1);
    let (code, _) = fwd.stop();
    assert_eq!(code, 0, "{}", fwd.output());
    let out = fwd.out();
    let last = out.rfind("Final statistics:").expect("final statistics");
    assert_eq!(
        final_port_stats(&out[last..]),
        vec![(0, [100, 200, 0]), (1, [200, 100, 0])],
        "{out}"
    );
}
