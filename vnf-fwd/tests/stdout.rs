//! vnf-fwd and vnf-gen at the edges of their output and their start, on real
//! DPDK (net_null, and a server=1 virtio_user vdev nobody connects to):
//! a stdout closed early or while forwarding ends the process by SIGPIPE after
//! a clean teardown; a stdout nobody reads stops no lane and no SIGTERM; a
//! signal during EAL initialisation exits at once, leaving nothing behind.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// vnf-fwd's command line: EAL options, `--`, app options.
fn fwd_args(prefix: &str, lcores: &str, ports: usize, app: &[&str]) -> Vec<String> {
    let mut args = eal_args(prefix, lcores, &null_vdevs(ports));
    args.push("--".into());
    args.extend(strings(app));
    args
}

/// Reads lines from `reader` on a thread until `enough` says so, then closes
/// it (the reader goes away, as `head` does). Returns the lines read; one
/// timeout and one diagnostic.
fn read_then_close(
    reader: std::io::PipeReader,
    p: &Proc,
    what: &str,
    enough: impl Fn(&[String]) -> bool + Send + 'static,
) -> Vec<String> {
    let (done, lines) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            seen.push(line);
            if enough(&seen) {
                break;
            }
        }
        // `reader` is dropped here: the pipe has no reader any more.
        let _ = done.send(seen);
    });
    lines
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no {what} on stdout within 30 s\n{}", p.output()))
}

/// After its stdout's reader has gone: vnf-fwd exits by SIGPIPE within
/// `within`, without a panic, and leaves nothing behind.
fn assert_sigpipe_exit(p: &mut Proc, prefix: &str, within: Duration) {
    let t0 = Instant::now();
    let st = p.wait_timeout(Duration::from_secs(10));
    let took = t0.elapsed();
    let st = st.unwrap_or_else(|| panic!("still running 10 s after stdout closed\n{}", p.output()));
    assert_eq!(
        st.signal(),
        Some(libc::SIGPIPE),
        "{st}: not SIGPIPE\n{}",
        p.output()
    );
    assert!(took < within, "exit took {took:?}\n{}", p.output());
    assert!(!p.err().contains("panicked"), "{}", p.output());
    assert_no_leftovers(prefix);
    println!("exited by SIGPIPE {took:?} after stdout closed");
}

#[test]
fn stdout_closed_early_ends_by_sigpipe_cleanly() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("stdout-early");
    let prefix = format!("vnfout-early-{}", std::process::id());
    let (reader, writer) = std::io::pipe().expect("pipe");
    let args = fwd_args(&prefix, "0@0,1@1", 2, &["-p", "0x3", "-T", "1"]);
    let mut p = Proc::spawn_with_stdout(
        &dir,
        "fwd",
        &vnf_fwd(),
        &args,
        Some(&prefix),
        Stdio::from(writer),
    );
    // `| head -n 3`: the first lines come before the ports are set up.
    let lines = read_then_close(reader, &p, "3 lines", |l| l.len() == 3);
    assert_eq!(lines[0], "MAC updating enabled", "{lines:?}");
    // The next write fails at the latest with the first statistics (1 s).
    assert_sigpipe_exit(&mut p, &prefix, Duration::from_secs(3));
}

/// `| head` reached while forwarding on four lcores: text or JSON lines.
fn closed_while_forwarding(tag: &str, json: bool) {
    let _lock = dpdk_lock();
    let dir = TempDir::new(tag);
    let prefix = format!("vnfout-{tag}-{}", std::process::id());
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut app = vec!["-p", "0xf", "-T", "1"];
    if json {
        app.extend(["--stats-format", "json"]);
    }
    let args = fwd_args(&prefix, "0@0,1@1,2@0,3@1", 4, &app);
    let mut p = Proc::spawn_with_stdout(
        &dir,
        "fwd",
        &vnf_fwd(),
        &args,
        Some(&prefix),
        Stdio::from(writer),
    );
    // Until a statistics block (or line) shows frames forwarded.
    let forwarded = move |lines: &[String]| {
        let line = lines.last().expect("a line");
        if json {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let ports = v["ports"].as_array().expect("ports");
            ports.iter().all(|p| p["tx"].as_u64() > Some(0))
        } else {
            line.strip_prefix("Total packets sent:")
                .is_some_and(|n| n.trim().parse::<u64>().unwrap() > 0)
        }
    };
    let lines = read_then_close(reader, &p, "frames forwarded", forwarded);
    println!("read {} lines, then closed stdout", lines.len());
    assert_sigpipe_exit(&mut p, &prefix, Duration::from_secs(3));
    if json {
        // Everything but the JSON lines went to stderr, the teardown included.
        assert!(
            p.err().contains("Stdout closed, preparing to exit..."),
            "{}",
            p.output()
        );
        assert!(p.err().contains("Bye..."), "{}", p.output());
    }
}

#[test]
fn stdout_closed_while_forwarding_ends_by_sigpipe_cleanly() {
    closed_while_forwarding("stdout-fwd", false);
}

#[test]
fn json_stdout_closed_while_forwarding_ends_by_sigpipe_cleanly() {
    closed_while_forwarding("stdout-json", true);
}

/// Fills the pipe behind `writer` to capacity: any further write blocks.
fn fill(writer: &mut std::io::PipeWriter) -> usize {
    let fd = writer.as_raw_fd();
    let set_nonblock = |on: bool| {
        // SAFETY: fcntl on a descriptor this test owns.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            let flags = if on {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags), 0);
        }
    };
    set_nonblock(true);
    let mut filled = 0;
    let junk = [b'#'; 4096];
    loop {
        match writer.write(&junk) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("fill pipe: {e}"),
        }
    }
    // The child gets a blocking stdout, as from a shell.
    set_nonblock(false);
    filled
}

/// Each lcore's received-frames counter, in lcore order, through telemetry.
fn lcore_rx(prefix: &str) -> Result<Vec<u64>, String> {
    let reply = telemetry(prefix, "/vnf_fwd/stats")?;
    let v: serde_json::Value = serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}"))?;
    let rx = v["/vnf_fwd/stats"]["lcore_rx"]
        .as_array()
        .ok_or(format!("no lcore_rx in {reply}"))?;
    Ok(rx.iter().filter_map(serde_json::Value::as_u64).collect())
}

/// stdout is a full pipe nobody reads (a stopped `cat`): every lane, the
/// main lcore's included, goes on forwarding, and SIGTERM ends the process
/// within a second.
fn stalled_reader(tag: &str, json: bool) {
    let _lock = dpdk_lock();
    let dir = TempDir::new(tag);
    let prefix = format!("vnfout-{tag}-{}", std::process::id());
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    let filled = fill(&mut writer);
    let mut app = vec!["-p", "0xf", "-q", "2", "-T", "1"];
    if json {
        app.extend(["--stats-format", "json"]);
    }
    let args = fwd_args(&prefix, "0@0,1@1", 4, &app);
    let mut p = Proc::spawn_with_stdout(
        &dir,
        "fwd",
        &vnf_fwd(),
        &args,
        Some(&prefix),
        Stdio::from(writer),
    );
    // Forwarding on both lcores (0, the main one, and 1).
    let end = Instant::now() + Duration::from_secs(30);
    let first = loop {
        match lcore_rx(&prefix) {
            Ok(rx) if rx.len() == 2 && rx.iter().all(|&n| n > 0) => break rx,
            other => {
                assert!(
                    Instant::now() < end && p.wait_timeout(Duration::ZERO).is_none(),
                    "not forwarding on both lcores within 30 s (pipe of {filled} bytes full): {other:?}\n{}",
                    p.output()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    // Two statistics periods, each a write nobody takes.
    std::thread::sleep(Duration::from_millis(2500));
    let second = lcore_rx(&prefix).expect("telemetry");
    for (lcore, (a, b)) in first.iter().zip(&second).enumerate() {
        assert!(
            b > a,
            "lcore {lcore} stopped forwarding: {a} then {b}\n{}",
            p.output()
        );
    }
    println!("lcore rx over 2.5 s with stdout stalled: {first:?} -> {second:?}");
    let t0 = Instant::now();
    let st = p.terminate(Duration::from_secs(5));
    let took = t0.elapsed();
    let st = st.unwrap_or_else(|| panic!("no exit within 5 s of SIGTERM\n{}", p.output()));
    assert!(st.success(), "{st}\n{}", p.output());
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    assert!(!p.err().contains("panicked"), "{}", p.output());
    assert_no_leftovers(&prefix);
    println!("SIGTERM with stdout stalled: exit took {took:?}");
    drop(reader);
}

#[test]
fn stalled_stdout_stops_no_lane_and_no_sigterm() {
    stalled_reader("stdout-stall", false);
}

#[test]
fn stalled_json_stdout_stops_no_lane_and_no_sigterm() {
    stalled_reader("stdout-stall-json", true);
}

/// Waits up to 30 s for a socket at `path`.
fn wait_for_socket(path: &Path, p: &mut Proc) {
    use std::os::unix::fs::FileTypeExt;
    let end = Instant::now() + Duration::from_secs(30);
    while !std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        assert!(
            Instant::now() < end && p.wait_timeout(Duration::ZERO).is_none(),
            "no socket at {} within 30 s\n{}",
            path.display(),
            p.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signal_while_waiting_for_the_switch_exits_at_once_and_cleanly() {
    let _lock = dpdk_lock();
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let dir = TempDir::new(&format!("stdout-server-{name}"));
        let prefix = format!("vnfout-server-{name}-{}", std::process::id());
        let socket: PathBuf = dir.join("vhost0.sock");
        let vdev = format!("net_virtio_user0,path={},server=1", socket.display());
        let mut args = eal_args(&prefix, "0@0,1@1", &[vdev]);
        args.extend(strings(&["--", "-p", "0x1", "-T", "1"]));
        let mut p = Proc::spawn(&dir, "fwd", &vnf_fwd(), &args, Some(&prefix));
        // rte_eal_init now waits in the vdev's probe for a switch.
        wait_for_socket(&socket, &mut p);
        let t0 = Instant::now();
        p.signal(sig);
        let st = p.wait_timeout(Duration::from_secs(5));
        let took = t0.elapsed();
        let st = st.unwrap_or_else(|| panic!("{name}: no exit within 5 s\n{}", p.output()));
        assert!(st.success(), "{name}: {st}\n{}", p.output());
        assert!(took < Duration::from_secs(1), "{name}: exit took {took:?}");
        let last = p.err().lines().last().unwrap_or_default().to_string();
        assert_eq!(
            last,
            format!(
                "vnf-fwd: {name} during EAL initialisation (it waits there for the switch to connect to {}: server=1); exiting",
                socket.display()
            ),
            "{}",
            p.output()
        );
        assert!(!socket.exists(), "{name}: socket left behind");
        assert_no_leftovers(&prefix);
        println!("{name} while waiting for the switch: exit took {took:?}");
    }
}

#[test]
fn vnf_gen_with_stdout_closed_ends_by_sigpipe_cleanly() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("stdout-gen");
    let prefix = format!("vnfout-gen-{}", std::process::id());
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut args = eal_args(&prefix, "0@0", &null_vdevs(2));
    args.extend(strings(&["--", "--duration", "2"]));
    let gen = PathBuf::from(env!("CARGO_BIN_EXE_vnf-gen"));
    let mut p =
        Proc::spawn_with_stdout(&dir, "gen", &gen, &args, Some(&prefix), Stdio::from(writer));
    // `| head -n 1`.
    read_then_close(reader, &p, "a line", |l| l.len() == 1);
    // The run lasts 2 s; its report then meets the closed pipe.
    assert_sigpipe_exit(&mut p, &prefix, Duration::from_secs(10));
}
