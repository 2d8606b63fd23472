//! Shared test support: one DPDK test at a time, child processes that are
//! always reaped, pcap files, DPDK's own l2fwd as the reference.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod docker;
pub mod frames;
pub mod ovs;
pub mod pcap;
pub mod stats_lines;
pub mod vhost;

use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Serialises every test that starts DPDK, within this test binary (mutex) and
/// across binaries and concurrent `cargo test` runs (flock).
pub struct DpdkLock {
    _file: File,
    _guard: MutexGuard<'static, ()>,
}

pub fn dpdk_lock() -> DpdkLock {
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let file = File::create("/tmp/vnf-fwd-dpdk-tests.lock").expect("create lock file");
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock failed");
    ensure_hugepages();
    DpdkLock {
        _file: file,
        _guard: guard,
    }
}

/// 2 MB hugepages the DPDK tests need: OVS takes 512, each app a few dozen.
const HUGEPAGES: u64 = 1024;

fn ensure_hugepages() {
    let path = "/proc/sys/vm/nr_hugepages";
    let have: u64 = fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if have < HUGEPAGES {
        let _ = fs::write(path, HUGEPAGES.to_string());
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vnf-fwd-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process with its output in files; killed and reaped on drop, and
/// its DPDK runtime directory removed (only the one named by its own prefix).
pub struct Proc {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    prefix: Option<String>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `program args...`, output to `<dir>/<name>.out|.err`.
    /// `prefix` is the process's `--file-prefix` (cleaned up on drop).
    pub fn spawn(
        dir: &TempDir,
        name: &str,
        program: &Path,
        args: &[String],
        prefix: Option<&str>,
    ) -> Proc {
        Proc::spawn_with_stdin(dir, name, program, args, prefix, Stdio::null())
    }

    /// As [`Proc::spawn`], with `stdin` (`Stdio::piped()` to drive an
    /// interactive program through `child.stdin`).
    pub fn spawn_with_stdin(
        dir: &TempDir,
        name: &str,
        program: &Path,
        args: &[String],
        prefix: Option<&str>,
        stdin: Stdio,
    ) -> Proc {
        let stdout = dir.join(&format!("{name}.out"));
        let file = File::create(&stdout).unwrap();
        Proc::spawn_io(dir, name, program, args, prefix, stdin, file.into())
    }

    /// As [`Proc::spawn`], with stdout going to `stdout` (a pipe, say)
    /// rather than to the `.out` file, which stays empty.
    pub fn spawn_with_stdout(
        dir: &TempDir,
        name: &str,
        program: &Path,
        args: &[String],
        prefix: Option<&str>,
        stdout: Stdio,
    ) -> Proc {
        Proc::spawn_io(dir, name, program, args, prefix, Stdio::null(), stdout)
    }

    fn spawn_io(
        dir: &TempDir,
        name: &str,
        program: &Path,
        args: &[String],
        prefix: Option<&str>,
        stdin: Stdio,
        stdout_to: Stdio,
    ) -> Proc {
        let stdout = dir.join(&format!("{name}.out"));
        let stderr = dir.join(&format!("{name}.err"));
        if !stdout.exists() {
            File::create(&stdout).unwrap();
        }
        let child = Command::new(program)
            .args(args)
            .stdin(stdin)
            .stdout(stdout_to)
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        Proc {
            child,
            stdout,
            stderr,
            prefix: prefix.map(str::to_owned),
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits up to `timeout` for exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.status = Some(st);
                return self.status;
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits up to `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.signal(libc::SIGTERM);
        }
        self.wait_timeout(timeout)
    }

    pub fn out(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn err(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Both outputs, for assertion messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.out(),
            self.err()
        )
    }

    /// Waits until vnf-fwd has re-attached `ports` client ports after their
    /// switch restarted (its lines are Rust's, in the file as printed).
    pub fn wait_reattached(&self, ports: usize) {
        wait_until(
            &format!("{ports} ports re-attached"),
            Duration::from_secs(30),
            || match self.out().matches("re-attached; lcores resumed").count() {
                n if n == ports => Ok(()),
                n => Err(format!("{n} re-attached")),
            },
            || self.output(),
        );
    }

    /// Waits until stdout contains `needle` (or the process exits / time runs out).
    ///
    /// Only for output that reaches the file as it is printed: Rust programs'
    /// complete lines (vnf-fwd, vnf-gen), and C programs run under
    /// `stdbuf -oL` ([`testpmd_command`]). A C program's stdout to a file is
    /// block-buffered: its lines arrive when 4 KiB fill up or it flushes.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.out().contains(needle) {
                return true;
            }
            if self.wait_timeout(Duration::ZERO).is_some() {
                return self.out().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.terminate(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(prefix) = &self.prefix {
            let _ = fs::remove_dir(runtime_dir(prefix));
        }
    }
}

pub fn runtime_dir(prefix: &str) -> PathBuf {
    PathBuf::from("/var/run/dpdk").join(prefix)
}

/// Hugepage files a process with this prefix left in any hugetlbfs mount.
pub fn hugepage_files(prefix: &str) -> Vec<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut left = Vec::new();
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(_), Some(dir), Some(fstype)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if fstype != "hugetlbfs" {
            continue;
        }
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) {
                    left.push(e.path());
                }
            }
        }
    }
    left
}

/// Asserts that nothing of the DPDK process with `prefix` is left.
pub fn assert_no_leftovers(prefix: &str) {
    assert!(
        !runtime_dir(prefix).exists(),
        "{} left behind",
        runtime_dir(prefix).display()
    );
    let files = hugepage_files(prefix);
    assert!(files.is_empty(), "hugepage files left behind: {files:?}");
}

/// Polls `check` every 100 ms until it returns `Ok`; after `timeout`, panics
/// with "`what`", the last reason `check` gave and `diag()` (the output of the
/// processes involved). For state (a link, a socket, counters), not for output.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<(), String>,
    diag: impl FnOnce() -> String,
) {
    let end = Instant::now() + timeout;
    loop {
        let why = match check() {
            Ok(()) => return,
            Err(why) => why,
        };
        if Instant::now() >= end {
            panic!("{what}: not within {timeout:?}: {why}\n{}", diag());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The dpdk-testpmd the tests run: `$VNF_TESTPMD`, default the packaged one.
/// A wrapper can stand in for it (`vnf-fwd/tests/testpmd-past-uptime`).
pub fn testpmd() -> PathBuf {
    std::env::var_os("VNF_TESTPMD")
        .map_or_else(|| PathBuf::from("/usr/bin/dpdk-testpmd"), PathBuf::from)
}

/// The command line that runs [`testpmd`] with `args` and a line-buffered
/// stdout (`stdbuf -oL`, coreutils), so that its lines ("packet forwarding -
/// ports ...") reach a file as they are printed rather than when 4 KiB fill
/// up or a statistics block flushes: the first block comes only once the TSC
/// (time since boot) exceeds `--stats-period`, never on a machine booted
/// less than that ago. `stdbuf` execs the program: the PID stays testpmd's.
pub fn testpmd_command(args: &[String]) -> (PathBuf, Vec<String>) {
    let mut all = vec!["-oL".to_string(), testpmd().display().to_string()];
    all.extend_from_slice(args);
    (PathBuf::from("stdbuf"), all)
}

/// The vnf-fwd binary under test.
pub fn vnf_fwd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vnf-fwd"))
}

/// EAL options every test process uses: its own prefix, no PCI, in-memory
/// (no hugepage files), lcores mapped onto the 2 CPUs.
pub fn eal_args(prefix: &str, lcores: &str, vdevs: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--in-memory",
        "--no-pci",
        "--file-prefix",
        prefix,
        "--lcores",
        lcores,
        "--log-level",
        "lib.eal:notice",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for v in vdevs {
        a.push("--vdev".into());
        a.push(v.clone());
    }
    a
}

/// DPDK's own l2fwd, built once from the packaged example source.
pub fn l2fwd_reference() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/l2fwd-ref");
            let bin = target.join("build/l2fwd-shared");
            if !bin.exists() {
                let _ = fs::remove_dir_all(&target);
                let st = Command::new("cp")
                    .args(["-r", "/usr/share/dpdk/examples/l2fwd"])
                    .arg(&target)
                    .status()
                    .expect("cp l2fwd source");
                assert!(
                    st.success(),
                    "copy /usr/share/dpdk/examples/l2fwd (apt-get install dpdk-doc)"
                );
                let out = Command::new("make")
                    .arg("-C")
                    .arg(&target)
                    .output()
                    .expect("run make");
                assert!(
                    out.status.success(),
                    "build l2fwd: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            bin
        })
        .clone()
}

/// Waits until the ports of the DPDK process with `prefix` have received
/// `frames[port]` frames each (its telemetry's ethdev counters).
pub fn wait_received(p: &Proc, prefix: &str, frames: &[usize]) {
    let check = || {
        for (port, &want) in frames.iter().enumerate() {
            let (got, _) = ethdev_packets(prefix, port as u16)?;
            if got != want as u64 {
                return Err(format!("port {port} received {got} of {want}"));
            }
        }
        Ok(())
    };
    wait_until("all input received", Duration::from_secs(30), check, || {
        p.output()
    });
}

/// Runs a forwarder to completion on pcap input: waits until its ports
/// received `frames[port]` frames each, then SIGTERM; returns the process
/// (exited) for its output.
pub fn run_until_consumed(mut p: Proc, prefix: &str, frames: &[usize]) -> Proc {
    wait_received(&p, prefix, frames);
    let st = p.terminate(Duration::from_secs(10));
    assert!(st.is_some(), "did not exit on SIGTERM\n{}", p.output());
    p
}

/// Per-port (sent, received, dropped) from vnf-fwd's final statistics block.
pub fn final_port_stats(stdout: &str) -> Vec<(u16, [u64; 3])> {
    let Some(start) = stdout.find("Final statistics:") else {
        panic!("no final statistics in:\n{stdout}");
    };
    let mut ports = Vec::new();
    let mut lines = stdout[start..].lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("Statistics for port ") {
            let port: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
            let mut vals = [0u64; 3];
            for v in vals.iter_mut() {
                let l = lines.next().unwrap();
                *v = l.rsplit(' ').next().unwrap().parse().unwrap();
            }
            ports.push((port, vals));
        }
        if line.starts_with("Aggregate statistics") {
            break;
        }
    }
    ports
}

/// `n` net_null ports that generate frames (`no-rx=0`).
pub fn null_vdevs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("net_null{i},no-rx=0")).collect()
}

/// Starts vnf-fwd with `eal` and `app` and waits until it forwards.
pub fn start_fwd(dir: &TempDir, tag: &str, prefix: &str, eal: &[String], app: &[&str]) -> Proc {
    let mut args = eal.to_vec();
    args.push("--".into());
    args.extend(strings(app));
    let mut p = Proc::spawn(dir, tag, &vnf_fwd(), &args, Some(prefix));
    assert!(
        p.wait_for_output("entering main loop", Duration::from_secs(30)),
        "vnf-fwd did not start\n{}",
        p.output()
    );
    p
}

/// Starts vnf-fwd, lets it forward for `secs`, stops it with SIGTERM and
/// returns its stdout after checking the clean exit.
pub fn forward_for(tag: &str, lcores: &str, ports: usize, app: &[&str], secs: u64) -> String {
    let dir = TempDir::new(tag);
    let prefix = format!("vnfnull-{tag}-{}", std::process::id());
    let mut args = eal_args(&prefix, lcores, &null_vdevs(ports));
    args.push("--".into());
    args.extend(strings(app));
    let mut p = Proc::spawn(&dir, tag, &vnf_fwd(), &args, Some(&prefix));
    assert!(
        p.wait_for_output("entering main loop", Duration::from_secs(20)),
        "did not start forwarding\n{}",
        p.output()
    );
    std::thread::sleep(Duration::from_secs(secs));
    let t0 = Instant::now();
    let status = p.terminate(Duration::from_secs(5));
    let took = t0.elapsed();
    let status = status.unwrap_or_else(|| panic!("no exit within 5 s of SIGTERM\n{}", p.output()));
    assert!(status.success(), "exit status {status}\n{}", p.output());
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    let out = p.out();
    assert!(out.contains("Bye..."), "{}", p.output());
    assert!(!p.err().contains("panicked"), "{}", p.output());
    // Checked before `p` is dropped: dropping it would clean up for us.
    assert_no_leftovers(&prefix);
    drop(p);
    out
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// One port's line of `vnf-gen --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenPort {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
}

/// Runs vnf-gen to completion on `vdevs` with `app` options plus `--json`;
/// returns each port's counters in port order.
pub fn run_gen(dir: &TempDir, tag: &str, vdevs: &[String], app: &[&str]) -> Vec<GenPort> {
    let prefix = format!("vnfgen-{tag}-{}", std::process::id());
    let mut args = eal_args(&prefix, "0@0", vdevs);
    args.push("--".into());
    args.extend(strings(app));
    args.push("--json".into());
    let gen = PathBuf::from(env!("CARGO_BIN_EXE_vnf-gen"));
    let mut p = Proc::spawn(dir, tag, &gen, &args, Some(&prefix));
    let st = p.wait_timeout(Duration::from_secs(60));
    assert!(
        st.is_some_and(|s| s.success()),
        "vnf-gen failed\n{}",
        p.output()
    );
    parse_gen_json(&p.out())
}

/// The ports of `vnf-gen --json`'s line in `out`, in port order.
pub fn parse_gen_json(out: &str) -> Vec<GenPort> {
    let json = out
        .lines()
        .find(|l| l.starts_with("{\"ports\""))
        .unwrap_or_else(|| panic!("no JSON\n{out}"));
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    let ports = v["ports"]
        .as_array()
        .unwrap_or_else(|| panic!("no ports array: {json}"));
    ports
        .iter()
        .map(|p| {
            let num = |key: &str| p[key].as_u64().unwrap_or_else(|| panic!("{key} in {p}"));
            GenPort {
                sent: num("sent"),
                received: num("received"),
                lost: num("lost"),
            }
        })
        .collect()
}

/// The write-up's pktgen session came back whole: exactly 100 and 200 sent,
/// each received on the other port, none lost.
pub fn assert_session(gen: &[GenPort]) {
    let want = [
        GenPort {
            sent: 100,
            received: 200,
            lost: 0,
        },
        GenPort {
            sent: 200,
            received: 100,
            lost: 0,
        },
    ];
    assert_eq!(gen, want, "generator counters");
}

/// Sends `command` to the DPDK telemetry socket of the process with `prefix`
/// (`/var/run/dpdk/<prefix>/dpdk_telemetry.v2`, SOCK_SEQPACKET, as
/// dpdk-telemetry.py does) and returns the reply's JSON text.
pub fn telemetry(prefix: &str, command: &str) -> Result<String, String> {
    let path = runtime_dir(prefix).join("dpdk_telemetry.v2");
    let c_path = std::ffi::CString::new(path.display().to_string()).unwrap();
    // SAFETY: plain socket calls on a descriptor this function owns and closes;
    // every buffer passed is valid for the length given.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(c_path.as_bytes()) {
            *d = *s as libc::c_char;
        }
        let mut buf = vec![0u8; 65536];
        let result = (|| {
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::connect(fd, std::ptr::addr_of!(addr).cast(), len) != 0 {
                return Err(format!(
                    "connect {}: {}",
                    path.display(),
                    std::io::Error::last_os_error()
                ));
            }
            // The server greets with its version and limits first.
            if libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) <= 0 {
                return Err("no greeting".into());
            }
            if libc::send(fd, command.as_ptr().cast(), command.len(), 0) < 0 {
                return Err(format!("send: {}", std::io::Error::last_os_error()));
            }
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n <= 0 {
                return Err("no reply".into());
            }
            Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
        })();
        libc::close(fd);
        result
    }
}

/// A port's (ipackets, opackets) as its driver counts them, from the
/// telemetry socket of the DPDK process with `prefix` (`/ethdev/stats,N`):
/// any DPDK app's counters, read while it runs.
pub fn ethdev_packets(prefix: &str, port: u16) -> Result<(u64, u64), String> {
    let reply = telemetry(prefix, &format!("/ethdev/stats,{port}"))?;
    let v: serde_json::Value = serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}"))?;
    let s = &v["/ethdev/stats"];
    let get = |k: &str| s[k].as_u64().ok_or_else(|| format!("no {k} in {reply}"));
    Ok((get("ipackets")?, get("opackets")?))
}

/// A loopback TCP port that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `GET path` over HTTP/1.0 on 127.0.0.1:`port`: (status code, body).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(format!("no head end: {text:?}"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("bad status line: {head:?}"))?;
    Ok((code, body.to_owned()))
}

/// The value of the Prometheus sample `series` (name and labels as printed).
pub fn prometheus_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}
