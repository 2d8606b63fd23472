//! dpdk-testpmd as a vhost-user switch: net_vhost ports (the sockets the apps'
//! virtio_user vdevs connect to), forwarding in `io` mode between paired
//! ports (0<->1, 2<->3), on CPU 1 so the apps keep CPU 0.

use super::{eal_args, strings, testpmd_command, Proc, TempDir};
use std::path::Path;
use std::time::Duration;

/// The socket of the switch's port `vhost<n>` in `dir`.
pub fn socket(dir: &TempDir, n: usize) -> String {
    dir.join(&format!("vhost{n}.sock")).display().to_string()
}

/// A net_vhost vdev serving `socket(dir, n)`.
pub fn vhost_vdev(dir: &TempDir, n: usize) -> String {
    format!("net_vhost{n},iface={}", socket(dir, n))
}

fn switch_args(tag: &str, vdevs: &[String], app: &[&str]) -> (Vec<String>, String) {
    let prefix = format!("vnfsw-{tag}-{}", std::process::id());
    let mut args = eal_args(&prefix, "0@1,1@1", vdevs);
    args.push("--single-file-segments".into());
    args.push("--".into());
    args.extend(strings(&["--forward-mode=io", "--stats-period", "3600"]));
    args.extend(strings(app));
    (args, prefix)
}

/// The development loop's switch: four net_vhost ports, forwarding as soon as
/// it is up (0<->1 and 2<->3).
pub fn start_loop(dir: &TempDir, tag: &str) -> Proc {
    let vdevs: Vec<String> = (0..4).map(|n| vhost_vdev(dir, n)).collect();
    start(dir, tag, &vdevs)
}

/// A switch on `vdevs`, forwarding as soon as it is up.
pub fn start(dir: &TempDir, tag: &str, vdevs: &[String]) -> Proc {
    start_with(dir, tag, vdevs, &[])
}

/// A switch on `vdevs` with testpmd options `app` added, forwarding as soon
/// as it is up. Ready once testpmd says it forwards: by then its ports are
/// started, so their sockets listen (stdout line-buffered: [`testpmd_command`]).
pub fn start_with(dir: &TempDir, tag: &str, vdevs: &[String], app: &[&str]) -> Proc {
    let (args, prefix) = switch_args(tag, vdevs, app);
    let (program, args) = testpmd_command(&args);
    let mut sw = Proc::spawn(dir, tag, &program, &args, Some(&prefix));
    assert!(
        sw.wait_for_output("packet forwarding - ports", Duration::from_secs(30)),
        "the testpmd switch did not start forwarding\n{}",
        sw.output()
    );
    sw
}

/// An interactive switch on `vdevs` (`app` adds testpmd options) reading
/// its commands from the FIFO `<dir>/<tag>.cmd`, so a test decides when it
/// starts forwarding: `Interactive::send("start")`.
pub struct Interactive {
    pub proc: Proc,
    /// Its `--file-prefix`: its telemetry socket ([`super::ethdev_packets`]).
    pub prefix: String,
    commands: std::fs::File,
}

impl Interactive {
    pub fn start(dir: &TempDir, tag: &str, vdevs: &[String], app: &[&str]) -> Interactive {
        let fifo = dir.join(&format!("{tag}.cmd"));
        let c_fifo = std::ffi::CString::new(fifo.display().to_string()).unwrap();
        // SAFETY: a valid C path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0, "mkfifo");
        let (mut args, prefix) = switch_args(tag, vdevs, app);
        args.push("-i".into());
        let (program, args) = testpmd_command(&args);
        // `exec` keeps the shell's PID, so signals and reaping reach testpmd.
        let script = "fifo=$1; shift; exec \"$@\" < \"$fifo\"".to_string();
        let mut sh_args = vec!["-c".to_string(), script, "sh".into()];
        sh_args.push(fifo.display().to_string());
        sh_args.push(program.display().to_string());
        sh_args.extend(args);
        let proc = Proc::spawn(dir, tag, Path::new("/bin/sh"), &sh_args, Some(&prefix));
        // Blocks until testpmd's shell opens the FIFO for reading.
        let commands = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open the switch's command FIFO");
        let mut sw = Interactive {
            proc,
            prefix,
            commands,
        };
        // The prompt comes after the ports started.
        assert!(
            sw.proc.wait_for_output("testpmd>", Duration::from_secs(30)),
            "the interactive testpmd switch gave no prompt\n{}",
            sw.proc.output()
        );
        sw
    }

    /// Sends one testpmd command line.
    pub fn send(&mut self, command: &str) {
        use std::io::Write;
        writeln!(self.commands, "{command}").expect("write to the switch");
    }
}
